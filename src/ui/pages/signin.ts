// Sign in with the API token. The token goes to POST /ui/session once and is forgotten: the
// browser keeps only the HttpOnly session cookie the daemon answers with.
import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiFailure, sendJson } from "../api.ts";
import { Logo } from "../components.ts";

export function SignInPage(props: { ended: boolean; onSignedIn: () => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    document.title = "Sign in · pixyz-scheduler";
    input.current?.focus();
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!token.trim()) {
      setError("Enter the API token.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await sendJson("/ui/session", "POST", { token: token.trim() });
      setToken("");
      props.onSignedIn();
    } catch (err) {
      setError(
        err instanceof ApiFailure && err.status === 401
          ? "This token is not the daemon's API token."
          : `Sign-in failed: ${(err as Error).message}`,
      );
      input.current?.select();
    } finally {
      setBusy(false);
    }
  };

  return html`<main class="signin" id="main">
    <form class="signin-card" onSubmit=${submit} aria-labelledby="signin-title" novalidate>
      <div class="signin-brand"><${Logo} /><span>pixyz<span class="brand-light">-scheduler</span></span></div>
      <h1 id="signin-title">Sign in</h1>
      ${
        props.ended
          ? html`<p class="note note-info" role="status">Your session has ended. Sign in again to continue.</p>`
          : null
      }
      <label for="token">API token</label>
      <input
        id="token"
        ref=${input}
        type="password"
        autocomplete="current-password"
        spellcheck="false"
        value=${token}
        onInput=${(e: Event) => setToken((e.target as HTMLInputElement).value)}
        aria-invalid=${error ? "true" : undefined}
        aria-describedby="token-help${error ? " token-error" : ""}"
      />
      <p id="token-help" class="help">
        The token the daemon checks as <code>x-api-key</code>: on its machine it is in${" "}<code>data/api-token</code>,
        unless <code>GOD_PASSWORD_SHA256</code> is set.
      </p>
      ${error ? html`<p id="token-error" class="field-error" role="alert">${error}</p>` : null}
      <button class="btn btn-primary btn-block" type="submit" disabled=${busy}>${busy ? "Signing in…" : "Sign in"}</button>
      <p class="help small">The browser keeps a session cookie for 12 hours; the token itself is not stored.</p>
    </form>
  </main>`;
}
