/**
 * The InfluxDB measurement schema: a public contract (dashboards, notebooks and users query it;
 * docs/influx-schema.md describes it). Pure: results and metrics in, line protocol out, the same
 * lines for the 2.x and 1.x APIs, millisecond timestamps.
 *
 * A window's points are keyed by measurement + tags + timestamp (= window start), so each
 * re-emission of a window overwrites the previous value in InfluxDB: replays and crashes converge
 * to the same stored numbers.
 */
import { Point } from "@influxdata/influxdb-client";
import type { WorkerMetrics } from "../window/result-sink.ts";
import type { WindowResult } from "../window/window-aggregate.ts";

export const MEASUREMENTS = {
  window: "order_window",
  byCategory: "order_window_by_category",
  byCountry: "order_window_by_country",
  pipeline: "pipeline",
} as const;

/** `60000` → `"1m"`, `90000` → `"90s"`, `1500` → `"1500ms"`: the value of the `window` tag. */
export function windowTag(windowSizeMs: number): string {
  if (windowSizeMs % 3_600_000 === 0) return `${windowSizeMs / 3_600_000}h`;
  if (windowSizeMs % 60_000 === 0) return `${windowSizeMs / 60_000}m`;
  if (windowSizeMs % 1_000 === 0) return `${windowSizeMs / 1_000}s`;
  return `${windowSizeMs}ms`;
}

/** USD cents as the float `revenue` field; `revenue_cents` carries the exact integer. */
function usd(cents: bigint): number {
  return Number(cents) / 100;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Sets the exact integer field `revenue_cents`. Not `Point.intField`: it goes through a double,
 * which rounds past 2^53. Throws a RangeError past InfluxDB's 64-bit integers, as intField does.
 */
function centsField(point: Point, cents: bigint): Point {
  if (cents < INT64_MIN || cents > INT64_MAX) throw new RangeError(`revenue_cents ${cents} does not fit InfluxDB's 64-bit integer field`);
  point.fields.revenue_cents = `${cents}i`;
  return point;
}

const msTime = { convertTime: (value: string | number | Date | undefined) => String(value) };

/** The line-protocol lines of one window result: the window itself, then one per category and country. */
export function windowResultLines(result: WindowResult, window: string): string[] {
  const partition = String(result.partition);
  const lines: string[] = [];
  lines.push(
    centsField(
      new Point(MEASUREMENTS.window)
        .tag("window", window)
        .tag("partition", partition)
        .intField("orders", result.orders)
        .floatField("revenue", usd(result.revenueUsdCents))
        .intField("items", result.items)
        .intField("customers", result.customers)
        .booleanField("final", result.final)
        .timestamp(result.windowStartMs),
      result.revenueUsdCents,
    ).toLineProtocol(msTime)!,
  );
  for (const [measurement, tag, totals] of [
    [MEASUREMENTS.byCategory, "category", result.byCategory],
    [MEASUREMENTS.byCountry, "country", result.byCountry],
  ] as const) {
    for (const [value, t] of Object.entries(totals)) {
      lines.push(
        centsField(
          new Point(measurement)
            .tag("window", window)
            .tag("partition", partition)
            .tag(tag, value)
            .intField("orders", t.orders)
            .floatField("revenue", usd(t.revenueUsdCents))
            .intField("items", t.items)
            .timestamp(result.windowStartMs),
          t.revenueUsdCents,
        ).toLineProtocol(msTime)!,
      );
    }
  }
  return lines;
}

/** One `pipeline` point per partition the worker owns. */
export function metricsLines(metrics: WorkerMetrics): string[] {
  return metrics.partitions.map((p) => {
    const point = new Point(MEASUREMENTS.pipeline)
      .tag("worker", metrics.worker)
      .tag("partition", String(p.partition))
      .intField("events", p.events)
      .intField("counted", p.counted)
      .intField("late", p.late)
      .intField("duplicates", p.duplicates)
      .intField("invalid", p.invalid)
      .timestamp(metrics.atMs);
    if (p.watermarkDelayMs !== null) point.floatField("watermark_delay_ms", p.watermarkDelayMs);
    if (p.lag !== null) point.intField("consumer_lag", Number(p.lag));
    if (p.checkpointAgeMs !== null) point.floatField("checkpoint_age_ms", p.checkpointAgeMs);
    return point.toLineProtocol(msTime)!;
  });
}
