// The app shell: sign-in gate, navigation, live connection, and the page for the current path.
import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { getJson, request, sendJson, whenSignedOut } from "./api.ts";
import { Logo } from "./components.ts";
import { startLive, stopLive, useLiveState } from "./live.ts";
import { JobPage } from "./pages/job.ts";
import { JobsPage } from "./pages/jobs.ts";
import { NumbersPage } from "./pages/numbers.ts";
import { PeersPage } from "./pages/peers.ts";
import { ProcessesPage } from "./pages/processes.ts";
import { QueuesPage } from "./pages/queues.ts";
import { SignInPage } from "./pages/signin.ts";
import { Link, navigate, useRoute } from "./router.ts";

type Auth = "unknown" | "in" | "out";

async function sessionAlive(): Promise<boolean> {
  const session = await getJson<{ signed_in: boolean }>("/ui/session");
  return session.signed_in;
}

const NAV = [
  { href: "/ui/jobs", label: "Jobs", match: /^\/ui(\/jobs.*)?\/?$/ },
  { href: "/ui/queues", label: "Queues and slots", match: /^\/ui\/queues/ },
  { href: "/ui/peers", label: "Peers", match: /^\/ui\/peers/, peersOnly: true },
  { href: "/ui/processes", label: "Processes", match: /^\/ui\/processes/ },
  { href: "/ui/numbers", label: "Numbers", match: /^\/ui\/numbers/ },
];

const NAV_ICONS: Record<string, string> = {
  Jobs: "M4 6h16M4 12h16M4 18h10",
  "Queues and slots": "M4 5h6v6H4zM14 5h6v6h-6zM4 15h6v4H4zM14 15h6v4h-6z",
  Peers:
    "M6 8a2 2 0 1 0 0-.01M18 8a2 2 0 1 0 0-.01M12 18a2 2 0 1 0 0-.01M7.5 9.5 11 16.5M16.5 9.5 13 16.5M8 8h8",
  Processes: "M8 4h8l4 4v12H4V4h4M9 12h6M9 16h6",
  Numbers: "M4 20V10M10 20V4M16 20v-8M22 20H2",
};

function LiveIndicator() {
  const state = useLiveState();
  const text = state === "live" ? "Live" : state === "off" ? "Offline" : "Reconnecting";
  return html`<div class=${`live live-${state}`} role="status" title="Live updates from GET /events">
    <span class="live-dot" aria-hidden="true"></span>${text}
  </div>`;
}

function Page({ path, peers }: { path: string; peers: boolean | null }) {
  const job = /^\/ui\/jobs\/([0-9a-f-]{36})\/?$/.exec(path);
  if (job) return html`<${JobPage} uuid=${job[1]} />`;
  if (/^\/ui(\/jobs)?\/?$/.test(path)) return html`<${JobsPage} />`;
  if (/^\/ui\/queues\/?$/.test(path)) return html`<${QueuesPage} />`;
  if (/^\/ui\/peers\/?$/.test(path)) return html`<${PeersPage} enabled=${peers} />`;
  const proc = /^\/ui\/processes(?:\/([^/]+))?\/?$/.exec(path);
  if (proc) return html`<${ProcessesPage} name=${proc[1] ? decodeURIComponent(proc[1]) : null} />`;
  if (/^\/ui\/numbers\/?$/.test(path)) return html`<${NumbersPage} />`;
  return html`<div class="page">
    <h1 id="page-title" tabindex="-1">Page not found</h1>
    <p>Nothing lives at <code>${path}</code>. <${Link} href="/ui/jobs">Back to the jobs</${Link}>.</p>
  </div>`;
}

export function App() {
  const route = useRoute();
  // The page says whether it was served to a live session (data-session), so the first paint needs
  // no round trip; an expired session still ends in a 401 and the sign-in page.
  const [auth, setAuth] = useState<Auth>(() => {
    const told = document.body.dataset.session;
    return told === "1" ? "in" : told === "0" ? "out" : "unknown";
  });
  const [ended, setEnded] = useState(false);
  const [peers, setPeers] = useState<boolean | null>(null);
  const [version, setVersion] = useState("");
  const firstPath = useRef(true);

  useEffect(() => {
    whenSignedOut(() => {
      stopLive();
      setEnded(true);
      setAuth("out");
    });
    if (auth === "unknown") {
      sessionAlive()
        .then((alive) => setAuth(alive ? "in" : "out"))
        .catch(() => setAuth("out"));
    }
  }, []);

  useEffect(() => {
    if (auth !== "in") return;
    startLive(sessionAlive);
    // Once the page has what it came for: the Peers page exists only where GET /peers answers
    // (federation on), and the version for the footer.
    const later = window.requestIdleCallback ?? ((f: () => void) => setTimeout(f, 200));
    later(
      () => {
        request("/peers", {}, [404])
          .then((res) => setPeers(res.status === 200))
          .catch(() => setPeers(false));
        getJson<{ version: string }>("/health")
          .then((h) => setVersion(h.version))
          .catch(() => {});
      },
      { timeout: 1000 },
    );
  }, [auth]);

  // After a navigation, the new page's title takes the focus (screen readers announce it).
  useEffect(() => {
    if (firstPath.current) {
      firstPath.current = false;
      return;
    }
    requestAnimationFrame(() => document.getElementById("page-title")?.focus({ preventScroll: true }));
  }, [route.path]);

  if (auth === "unknown") return html`<div class="boot" aria-busy="true"></div>`;
  if (auth === "out") {
    const next =
      route.path.startsWith("/ui") && route.path !== "/ui/signin" ? route.path + location.search : "/ui/jobs";
    return html`<${SignInPage}
      ended=${ended}
      onSignedIn=${() => {
        setEnded(false);
        setAuth("in");
        navigate(next, { replace: true });
      }}
    />`;
  }
  if (route.path === "/ui/signin") {
    navigate(route.query.get("next") ?? "/ui/jobs", { replace: true });
    return null;
  }

  const signOut = async () => {
    await sendJson("/ui/session", "DELETE").catch(() => {});
    stopLive();
    setEnded(false);
    setAuth("out");
  };

  return html`<a class="skip" href="#main">Skip to content</a>
    <div class="layout">
      <aside class="sidebar">
        <div class="sidebar-inner">
        <div class="brand"><${Logo} /><span>pixyz<span class="brand-light">-scheduler</span></span></div>
        <nav aria-label="Main">
          <ul>
            ${NAV.filter((n) => !n.peersOnly || peers).map(
              (n) => html`<li>
                <${Link} href=${n.href} class="nav-link" aria-current=${n.match.test(route.path) ? "page" : undefined}>
                  <svg class="nav-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d=${NAV_ICONS[n.label]} /></svg>
                  ${n.label}
                </${Link}>
              </li>`,
            )}
          </ul>
        </nav>
        <div class="sidebar-foot">
          <${LiveIndicator} />
          <div class="foot-row">
            <span class="version">${version ? `v${version}` : ""}</span>
            <button type="button" class="btn btn-ghost btn-sm" onClick=${signOut}>Sign out</button>
          </div>
          <div class="foot-links"><a href="/docs">API docs</a> · <a href="/metrics">Metrics</a></div>
        </div>
        </div>
      </aside>
      <main id="main" tabindex="-1"><${Page} path=${route.path} peers=${peers} /></main>
    </div>`;
}
