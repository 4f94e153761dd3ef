// A strict reader of the Prometheus text exposition format 0.0.4, for tests: it throws on any line
// the format does not allow, on a TYPE or HELP given twice or after its samples, on a family whose
// samples are not together, on a sample name that does not fit its family's type, on a repeated
// series, and on a histogram whose buckets are not cumulative or do not end at +Inf = _count.
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string | null;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(text: string, line: number): number {
  if (text === "NaN") return Number.NaN;
  if (text === "+Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    throw new Error(`line ${line}: '${text}' is not a sample value`);
  }
  return Number(text);
}

/** Parses `{a="x",b="y"}` starting at text[0] === "{"; returns the labels and the rest of the line. */
function parseLabels(text: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1;
  for (;;) {
    if (text[i] === "}") return { labels, rest: text.slice(i + 1) };
    const nameMatch = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(text.slice(i));
    if (!nameMatch) throw new Error(`line ${line}: bad label at '${text.slice(i)}'`);
    const name = nameMatch[1]!;
    if (!LABEL_NAME.test(name)) throw new Error(`line ${line}: bad label name '${name}'`);
    if (name in labels) throw new Error(`line ${line}: label '${name}' given twice`);
    i += nameMatch[0].length;
    let value = "";
    for (;;) {
      const ch = text[i];
      if (ch === undefined) throw new Error(`line ${line}: unterminated label value`);
      if (ch === "\\") {
        const next = text[i + 1];
        if (next === "\\") value += "\\";
        else if (next === '"') value += '"';
        else if (next === "n") value += "\n";
        else throw new Error(`line ${line}: bad escape '\\${next}' in a label value`);
        i += 2;
        continue;
      }
      if (ch === '"') {
        i++;
        break;
      }
      value += ch;
      i++;
    }
    labels[name] = value;
    if (text[i] === ",") i++;
    else if (text[i] !== "}") throw new Error(`line ${line}: expected ',' or '}' after label '${name}'`);
  }
}

/** The family a sample name belongs to, given the families typed so far. */
function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  const exact = families.get(sample);
  if (exact && exact.type !== "histogram" && exact.type !== "summary") return exact;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!sample.endsWith(suffix)) continue;
    const family = families.get(sample.slice(0, -suffix.length));
    if (family?.type === "histogram") return family;
    if (family?.type === "summary" && suffix !== "_bucket") return family;
  }
  if (exact?.type === "summary") return exact;
  return undefined;
}

const seriesKey = (name: string, labels: Record<string, string>) =>
  `${name}{${Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(",")}}`;

function checkHistogram(family: Family): void {
  const groups = new Map<string, Sample[]>();
  for (const sample of family.samples) {
    const { le: _le, ...rest } = sample.labels;
    const key = seriesKey("", rest);
    groups.set(key, [...(groups.get(key) ?? []), sample]);
  }
  for (const [key, samples] of groups) {
    const buckets = samples.filter((s) => s.name === `${family.name}_bucket`);
    const count = samples.find((s) => s.name === `${family.name}_count`);
    const sum = samples.find((s) => s.name === `${family.name}_sum`);
    if (!count || !sum || buckets.length === 0) {
      throw new Error(`histogram ${family.name}${key}: needs _bucket, _sum and _count`);
    }
    let lastLe = Number.NEGATIVE_INFINITY;
    let lastCount = 0;
    for (const bucket of buckets) {
      const le = bucket.labels.le;
      if (le === undefined) throw new Error(`histogram ${family.name}${key}: a bucket without le`);
      const bound = parseValue(le, 0);
      if (!(bound > lastLe)) throw new Error(`histogram ${family.name}${key}: le not increasing at ${le}`);
      if (bucket.value < lastCount)
        throw new Error(`histogram ${family.name}${key}: buckets not cumulative at ${le}`);
      lastLe = bound;
      lastCount = bucket.value;
    }
    if (lastLe !== Number.POSITIVE_INFINITY)
      throw new Error(`histogram ${family.name}${key}: no +Inf bucket`);
    if (lastCount !== count.value) throw new Error(`histogram ${family.name}${key}: +Inf bucket != _count`);
  }
}

export function parsePrometheusText(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("the exposition must end with a newline");
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const closed = new Set<string>();
  let current: Family | null = null;
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === "") return;
    if (raw.startsWith("#")) {
      const meta = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(raw);
      if (!meta) return; // a plain comment
      const [, kind, name, rest = ""] = meta;
      if (!METRIC_NAME.test(name!)) throw new Error(`line ${line}: bad metric name '${name}'`);
      let family = families.get(name!);
      if (family && (closed.has(name!) || family.samples.length > 0)) {
        throw new Error(`line ${line}: ${kind} for '${name}' after its samples`);
      }
      if (!family) {
        family = { name: name!, type: "untyped", help: null, samples: [] };
        families.set(name!, family);
      }
      if (current && current !== family) closed.add(current.name);
      current = family;
      if (kind === "TYPE") {
        if (!TYPES.has(rest)) throw new Error(`line ${line}: unknown type '${rest}'`);
        if ((family as Family & { typed?: boolean }).typed)
          throw new Error(`line ${line}: TYPE given twice for '${name}'`);
        (family as Family & { typed?: boolean }).typed = true;
        family.type = rest as Family["type"];
      } else {
        if (family.help !== null) throw new Error(`line ${line}: HELP given twice for '${name}'`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ""))) throw new Error(`line ${line}: bad escape in HELP`);
        family.help = rest.replace(/\\n/g, "\n").replace(/\\\\/g, "\\");
      }
      return;
    }
    const nameMatch = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(raw);
    if (!nameMatch) throw new Error(`line ${line}: not a sample: '${raw}'`);
    const name = nameMatch[1]!;
    let rest = raw.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) ({ labels, rest } = parseLabels(rest, line));
    const parts = rest.split(" ");
    if (parts[0] !== "" || parts.length < 2 || parts.length > 3) {
      throw new Error(`line ${line}: expected '<name>[{labels}] <value> [timestamp]': '${raw}'`);
    }
    const value = parseValue(parts[1]!, line);
    if (parts[2] !== undefined && !/^-?\d+$/.test(parts[2])) throw new Error(`line ${line}: bad timestamp`);
    let family = familyOf(name, families);
    if (!family) {
      family = { name, type: "untyped", help: null, samples: [] };
      families.set(name, family);
    }
    if (closed.has(family.name))
      throw new Error(`line ${line}: samples of '${family.name}' are not together`);
    if (current && current !== family) closed.add(current.name);
    current = family;
    const key = seriesKey(name, labels);
    if (seen.has(key)) throw new Error(`line ${line}: series ${key} given twice`);
    seen.add(key);
    if (family.type === "counter" && !(value >= 0)) throw new Error(`line ${line}: negative counter ${key}`);
    family.samples.push({ name, labels, value });
  });
  for (const family of families.values()) if (family.type === "histogram") checkHistogram(family);
  return families;
}

/** The value of the sample `name` with exactly these labels; undefined when there is none. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const key = seriesKey(name, labels);
  for (const family of families.values()) {
    for (const sample of family.samples)
      if (seriesKey(sample.name, sample.labels) === key) return sample.value;
  }
  return undefined;
}

/** The sum of every sample `name` whose labels include `labels` (0 when there is none). */
export function sumSamples(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name === name && Object.entries(labels).every(([k, v]) => sample.labels[k] === v))
        sum += sample.value;
    }
  }
  return sum;
}
