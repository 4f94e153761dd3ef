// `peers`: the daemon's peer table (GET /peers): name, URL, state, last advert, queues, GPUs, lost
// adverts and jobs delegated each way.
import { EXIT } from "./exit-codes.ts";
import { table } from "./format.ts";
import { type CommandSpec, runCommand } from "./options.ts";
import { PROGRAM } from "./program.ts";

interface PeerView {
  name: string | null;
  url: string;
  state: string;
  last_seen: string | null;
  queues: Record<string, { slots: number; busy: number; waiting: number }>;
  gpus: { model: string; vram_mb: number }[];
  lost_adverts: number;
  delegated_to: number;
  delegated_from: number;
}

const PEERS: CommandSpec = {
  name: "peers",
  usage: `Usage: ${PROGRAM} peers

Lists the peer daemons this one knows (federation: PEER_SECRET and PEERS): name, URL, state
(alive, suspect after 3 missed adverts, gone after 6), last advert, queues as busy/slots (+waiting),
GPUs, lost adverts, and jobs delegated to and from each.`,
  options: {},
};

export function runPeers(argv: string[]): Promise<number> {
  return runCommand(PEERS, argv, async ({ client, out }) => {
    const answer = await client.json<{ self: { name: string; url: string }; peers: PeerView[] }>("/peers");
    out.document(answer);
    out.note(`This daemon: ${answer.self.name} at ${answer.self.url}`);
    if (answer.peers.length === 0) {
      out.note("No peers.");
      return EXIT.OK;
    }
    const queues = (p: PeerView) =>
      Object.entries(p.queues)
        .map(([q, s]) => `${q} ${s.busy}/${s.slots}${s.waiting ? ` +${s.waiting}` : ""}`)
        .join(", ") || "-";
    out.data(
      table(
        ["NAME", "URL", "STATE", "LAST SEEN", "QUEUES", "GPUS", "LOST", "TO", "FROM"],
        answer.peers.map((p) => [
          p.name ?? "?",
          p.url,
          p.state,
          p.last_seen ?? "never",
          queues(p),
          p.gpus.map((g) => `${g.model} ${g.vram_mb} MB`).join(", ") || "-",
          String(p.lost_adverts),
          String(p.delegated_to),
          String(p.delegated_from),
        ]),
      ),
    );
    return EXIT.OK;
  });
}
