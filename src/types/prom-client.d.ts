// Types for the four prom-client modules the daemon imports directly (the package ships types for
// its index only). Its index also loads the push gateway (node:http, node:https), the default
// metrics (node:perf_hooks, node:v8) and the cluster aggregator, which the daemon never uses:
// importing these four instead kept 2.4 MiB out of the daemon's RSS (bench/footprint.ts).
declare module "prom-client/lib/registry.js" {
  import { Registry } from "prom-client";
  export default Registry;
}
declare module "prom-client/lib/counter.js" {
  import { Counter } from "prom-client";
  export default Counter;
}
declare module "prom-client/lib/gauge.js" {
  import { Gauge } from "prom-client";
  export default Gauge;
}
declare module "prom-client/lib/histogram.js" {
  import { Histogram } from "prom-client";
  export default Histogram;
}
