// The dashboard's entry: the stylesheets (bundled into the CSS output) and the app.
import "uplot/dist/uPlot.min.css";
import "./styles.css";
import { html } from "htm/preact";
import { render } from "preact";
import { App } from "./app.ts";
import { prefetchJobs } from "./pages/jobs.ts";

const root = document.getElementById("app");
const start = () => {
  if (root) render(html`<${App} />`, root);
};
// Signed in, on the jobs list: its first page (preloaded by the page) is awaited, briefly, so the
// first paint shows the jobs rather than an empty frame.
if (document.body.dataset.session === "1") prefetchJobs(250).then(start);
else start();
