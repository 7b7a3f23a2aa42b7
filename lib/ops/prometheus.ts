/**
 * Metrics in the Prometheus text exposition format (version 0.0.4), what Prometheus, VictoriaMetrics
 * and Grafana Agent scrape: counters, gauges and histograms with labels, rendered on demand.
 *
 * Values are collected when a scrape asks (`collect` callbacks read the worker's own counters),
 * so the hot path pays nothing for metrics nobody reads; only histograms are observed as they
 * happen. Pure: no server here (lib/ops/ops-server.ts serves `render()`).
 */

export type Labels = Readonly<Record<string, string | number>>;

/** One labelled value of a counter or gauge. */
export interface Sample {
  labels?: Labels;
  value: number | bigint;
}

type MetricType = "counter" | "gauge" | "histogram";

interface Family {
  name: string;
  help: string;
  type: MetricType;
  render(lines: string[]): void;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The exposition format's content type, for the `/metrics` response. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export class MetricsRegistry {
  readonly #families = new Map<string, Family>();

  /**
   * A counter (a total that only grows, reset only by a restart) whose samples `collect` returns at
   * each scrape. `name` should end in `_total` (the format's convention for counters).
   */
  counter(name: string, help: string, collect: () => Sample[] | number | bigint): void {
    this.#add(name, help, "counter", collect);
  }

  /** A gauge (a value that goes up and down) whose samples `collect` returns at each scrape. */
  gauge(name: string, help: string, collect: () => Sample[] | number | bigint | null): void {
    this.#add(name, help, "gauge", collect);
  }

  /** A histogram with cumulative `buckets` (upper bounds, ascending), observed as values come. */
  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    checkName(name);
    if (this.#families.has(name)) throw new RangeError(`metric ${name} is registered twice`);
    const histogram = new Histogram(name, buckets);
    this.#families.set(name, { name, help, type: "histogram", render: (lines) => histogram.render(lines) });
    return histogram;
  }

  /** Every metric, in registration order, in the text format (ends with a newline). */
  render(): string {
    const lines: string[] = [];
    for (const family of this.#families.values()) {
      lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
      family.render(lines);
    }
    return lines.join("\n") + "\n";
  }

  #add(name: string, help: string, type: "counter" | "gauge", collect: () => Sample[] | number | bigint | null): void {
    checkName(name);
    if (this.#families.has(name)) throw new RangeError(`metric ${name} is registered twice`);
    this.#families.set(name, {
      name,
      help,
      type,
      render: (lines) => {
        const got = collect();
        // null: the value is unknown now (a gauge before its first measurement); no sample.
        if (got === null) return;
        const samples = typeof got === "object" ? got : [{ value: got }];
        for (const s of samples) lines.push(`${name}${labelText(s.labels)} ${formatValue(s.value)}`);
      },
    });
  }
}

export class Histogram {
  readonly #name: string;
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, { labels: Labels | undefined; counts: number[]; sum: number; count: number }>();

  constructor(name: string, buckets: readonly number[]) {
    if (buckets.length === 0 || buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!))) {
      throw new RangeError(`histogram ${name}: buckets must be finite and ascending: got ${buckets.join(", ")}`);
    }
    this.#name = name;
    this.#bounds = buckets;
  }

  /** Counts `value` in every bucket whose upper bound is at least `value`, for the series of `labels`. */
  observe(value: number, labels?: Labels): void {
    const key = labelText(labels);
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels, counts: new Array<number>(this.#bounds.length).fill(0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    // Stored per bucket, made cumulative when rendered.
    let i = 0;
    while (i < this.#bounds.length && value > this.#bounds[i]!) i++;
    if (i < this.#bounds.length) series.counts[i]! += 1;
    series.sum += value;
    series.count += 1;
  }

  render(lines: string[]): void {
    for (const { labels, counts, sum, count } of this.#series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        cumulative += counts[i]!;
        lines.push(`${this.#name}_bucket${labelText(labels, ["le", formatValue(this.#bounds[i]!)])} ${cumulative}`);
      }
      lines.push(`${this.#name}_bucket${labelText(labels, ["le", "+Inf"])} ${count}`);
      lines.push(`${this.#name}_sum${labelText(labels)} ${formatValue(sum)}`);
      lines.push(`${this.#name}_count${labelText(labels)} ${count}`);
    }
  }
}

function checkName(name: string): void {
  if (!NAME.test(name)) throw new RangeError(`not a Prometheus metric name: ${JSON.stringify(name)}`);
}

/** `{a="1",b="x"}`, or "" without labels; `extra` (the histogram's `le`) goes last. */
function labelText(labels: Labels | undefined, extra?: [string, string]): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(labels ?? {})) {
    if (!LABEL.test(key) || key.startsWith("__")) throw new RangeError(`not a Prometheus label name: ${JSON.stringify(key)}`);
    parts.push(`${key}="${escapeLabelValue(String(value))}"`);
  }
  if (extra) parts.push(`${extra[0]}="${extra[1]}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** Label values escape backslash, double quote and line feed. */
function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** HELP text escapes backslash and line feed. */
function escapeHelp(help: string): string {
  return help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

/** Integers (bigints too) exactly, infinities and NaN as the format spells them. */
export function formatValue(value: number | bigint): string {
  if (typeof value === "bigint") return value.toString();
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
