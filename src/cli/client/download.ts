// `download -j UUID -f FILE [-o OUT]` and `download-all -j UUID [-o OUT.zip]`: the bytes streamed
// to disk (shown as they come), written to OUT.part and renamed when complete and of the announced
// length. download-all waits through 425 (job still running, or its zip being built), as the
// original's users did by hand, honouring Retry-After, up to --wait seconds.
import { mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { CliError, ConnectionError } from "./errors.ts";
import { EXIT } from "./exit-codes.ts";
import { encodePath } from "./http.ts";
import { type CommandSpec, numberOption, required, runCommand, string } from "./options.ts";
import type { Output } from "./output.ts";
import { PROGRAM } from "./program.ts";

/** Where to write: OUT (a file, or a folder to put `name` in), else `name` in the current folder. */
function target(out: string | undefined, name: string): string {
  if (out === undefined) return resolve(name);
  const isDir =
    out.endsWith("/") ||
    (() => {
      try {
        return statSync(out).isDirectory();
      } catch {
        return false;
      }
    })();
  return resolve(isDir ? join(out, name) : out);
}

/** Streams the body to `path` (through path.part); returns the bytes written. */
async function save(res: Response, path: string, label: string, out: Output): Promise<number> {
  const declared = res.headers.get("content-length");
  const total = declared === null ? null : Number(declared);
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.part`;
  const transfer = out.transfer(label, total);
  const file = await open(partial, "w");
  try {
    try {
      for await (const chunk of res.body!) {
        await file.write(chunk);
        transfer.add(chunk.length);
      }
    } catch (error) {
      throw new ConnectionError(new URL(res.url).origin, error);
    }
    await file.sync();
  } catch (error) {
    transfer.stop();
    await file.close();
    rmSync(partial, { force: true });
    throw error;
  }
  await file.close();
  if (total !== null && transfer.transferred !== total) {
    transfer.stop();
    rmSync(partial, { force: true });
    throw new CliError(
      `the download was cut: ${transfer.transferred} of ${total} bytes arrived; nothing was written`,
      EXIT.API_ERROR,
    );
  }
  renameSync(partial, path);
  transfer.done();
  return transfer.transferred;
}

const DOWNLOAD: CommandSpec = {
  name: "download",
  usage: `Usage: ${PROGRAM} download -j UUID -f FILE [-o OUT]

Downloads one output file of the job ('${PROGRAM} outputs -j UUID' lists them).

Options:
  -j, --job UUID     the job
  -f, --file PATH    the output's path, as listed (may contain '/')
  -o, --output OUT   where to write it: a file, or a folder (default: its name, here)`,
  options: {
    job: { type: "string", short: "j" },
    file: { type: "string", short: "f" },
    output: { type: "string", short: "o" },
  },
};

export function runDownload(argv: string[]): Promise<number> {
  return runCommand(DOWNLOAD, argv, async ({ values, client, out }) => {
    const uuid = required(values, "job", "-j/--job");
    const file = required(values, "file", "-f/--file").replace(/^\/+/, "");
    const path = target(string(values, "output"), basename(file));
    const res = await client.request(`/jobs/${uuid}/outputs/${encodePath(file)}`);
    const bytes = await save(res, path, `Downloading ${file}`, out);
    out.data(path);
    out.document({ job: uuid, file, path, bytes });
    return EXIT.OK;
  });
}

const DOWNLOAD_ALL: CommandSpec = {
  name: "download-all",
  usage: `Usage: ${PROGRAM} download-all -j UUID [-o OUT.zip] [--wait S]

Downloads a zip of every output of the job. While the job runs or the zip is being built the
daemon answers 425: this waits (as told by Retry-After) and asks again.

Options:
  -j, --job UUID     the job
  -o, --output OUT   the zip to write, or a folder (default: <uuid>.zip, here)
      --wait S       give up after S seconds of 425 answers (default 600)`,
  options: {
    job: { type: "string", short: "j" },
    output: { type: "string", short: "o" },
    wait: { type: "string" },
  },
};

export function runDownloadAll(argv: string[]): Promise<number> {
  return runCommand(DOWNLOAD_ALL, argv, async ({ values, client, out }) => {
    const uuid = required(values, "job", "-j/--job");
    const waitS = numberOption(values, "wait", "--wait", 600);
    const path = target(string(values, "output"), `${uuid}.zip`);
    const deadline = Date.now() + waitS * 1000;
    let waits = 0;
    for (;;) {
      const res = await client.request(`/jobs/${uuid}/outputs/archive`, { accept: [425] });
      if (res.status !== 425) {
        const bytes = await save(res, path, `Downloading ${uuid}.zip`, out);
        out.data(path);
        out.document({ job: uuid, path, bytes, waits });
        return EXIT.OK;
      }
      const body = (await res.json().catch(() => null)) as { detail?: { details?: string } } | null;
      const reason = body?.detail?.details ?? "not ready";
      const retryAfter = Number(res.headers.get("retry-after") ?? "1");
      const delayS = Math.min(10, Math.max(0.2, Number.isFinite(retryAfter) ? retryAfter : 1));
      if (Date.now() + delayS * 1000 > deadline) {
        throw new CliError(`425 ${reason}; still not ready after ${waitS} s (--wait)`, EXIT.API_ERROR);
      }
      waits++;
      out.note(`425 ${reason}; asking again in ${delayS} s`);
      await Bun.sleep(delayS * 1000);
    }
  });
}
