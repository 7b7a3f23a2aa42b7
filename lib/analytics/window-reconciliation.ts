/**
 * Hot versus cold: the window results the aggregator wrote to InfluxDB next to the same windows
 * recomputed from the lake (lib/analytics/lake-replay.ts), compared value by value. Every stored number of
 * a window is a "cell" — (window start, partition, measurement, dimension, field) → value — so
 * the window totals and the category and country breakdowns are all compared the same way, and
 * a window present on one side only shows up as cells missing on the other.
 *
 * Windows are selected by start: `fromMs <= windowStartMs < toMs`. The measurement names and
 * fields are the contract in docs/influx-schema.md (lib/hot/influx-points.ts writes them).
 *
 * Every field compared is an integer (`final` as 0 or 1), and every value is a bigint, so two
 * revenues beyond 2^53 that differ by a cent differ here too.
 */
import { MEASUREMENTS } from "../hot/influx-points.ts";
import { type InfluxqlSeries, type QueryOptions, queryInfluxql, seriesRows } from "../hot/influxql-client.ts";
import type { InfluxTarget } from "../hot/influx-sink.ts";
import type { WindowResult } from "../window/window-aggregate.ts";

export interface WindowCell {
  windowStartMs: number;
  partition: number;
  measurement: string;
  /** `""` for `order_window`, else `category=books` or `country=DE`. */
  dimension: string;
  field: string;
  value: bigint;
}

export interface TimeRange {
  /** Inclusive, ms since the epoch. */
  fromMs: number;
  /** Exclusive. */
  toMs: number;
}

/** One window (summed over partitions) of the comparison. */
export interface WindowReconciliation {
  windowStartMs: number;
  hotOrders: number;
  coldOrders: number;
  hotRevenueCents: bigint;
  coldRevenueCents: bigint;
  /** Cells whose values differ, or that exist on one side only. 0 is the expected answer. */
  differences: number;
  /** The first few differing cells, e.g. `p2 order_window_by_category[category=books].orders: hot 3, cold 4`. */
  examples: string[];
}

const WINDOW_FIELDS = ["orders", "revenue_cents", "items", "customers", "final"] as const;
const DIMENSION_FIELDS = ["orders", "revenue_cents", "items"] as const;
const MAX_EXAMPLES = 5;

/** The cells of final window results (`final` is 1), as the aggregator would have stored them. */
export function cellsFromResults(results: readonly WindowResult[]): WindowCell[] {
  const cells: WindowCell[] = [];
  for (const r of results) {
    const base = { windowStartMs: r.windowStartMs, partition: r.partition };
    const totals = { orders: BigInt(r.orders), revenue_cents: r.revenueUsdCents, items: BigInt(r.items), customers: BigInt(r.customers), final: r.final ? 1n : 0n };
    for (const field of WINDOW_FIELDS) cells.push({ ...base, measurement: MEASUREMENTS.window, dimension: "", field, value: totals[field] });
    for (const [measurement, tag, byKey] of [
      [MEASUREMENTS.byCategory, "category", r.byCategory],
      [MEASUREMENTS.byCountry, "country", r.byCountry],
    ] as const) {
      for (const [key, t] of Object.entries(byKey)) {
        const values = { orders: BigInt(t.orders), revenue_cents: t.revenueUsdCents, items: BigInt(t.items) };
        for (const field of DIMENSION_FIELDS) cells.push({ ...base, measurement, dimension: `${tag}=${key}`, field, value: values[field] });
      }
    }
  }
  return cells;
}

/** The InfluxQL statements that read a range's windows of one size (`window` tag, e.g. `1m`). */
export function hotWindowQueries(range: TimeRange, window: string): { measurement: string; tag: string; query: string }[] {
  const where = `WHERE "window" = '${window.replaceAll("'", "\\'")}' AND time >= ${range.fromMs}ms AND time < ${range.toMs}ms`;
  const fields = (list: readonly string[]) => list.map((f) => `"${f}"`).join(", ");
  return [
    { measurement: MEASUREMENTS.window, tag: "", query: `SELECT ${fields(WINDOW_FIELDS)} FROM "${MEASUREMENTS.window}" ${where} GROUP BY "partition"` },
    ...([
      [MEASUREMENTS.byCategory, "category"],
      [MEASUREMENTS.byCountry, "country"],
    ] as const).map(([measurement, tag]) => ({
      measurement,
      tag,
      query: `SELECT ${fields(DIMENSION_FIELDS)} FROM "${measurement}" ${where} GROUP BY "partition", "${tag}"`,
    })),
  ];
}

/**
 * Cells from the series one of {@link hotWindowQueries} returned (`final` true → 1). Throws a
 * RangeError on a value that is not an integer: not the schema these queries read.
 */
export function cellsFromSeries(measurement: string, tag: string, series: readonly InfluxqlSeries[]): WindowCell[] {
  const fields = tag === "" ? WINDOW_FIELDS : DIMENSION_FIELDS;
  const cells: WindowCell[] = [];
  for (const row of seriesRows(series)) {
    const base = {
      windowStartMs: Number(row.time),
      partition: Number(row.partition),
      measurement,
      dimension: tag === "" ? "" : `${tag}=${String(row[tag])}`,
    };
    for (const field of fields) {
      const raw = row[field];
      if (raw === null || raw === undefined) continue;
      cells.push({ ...base, field, value: integerOf(raw, `${measurement}.${field}`) });
    }
  }
  return cells;
}

function integerOf(raw: unknown, what: string): bigint {
  if (typeof raw === "bigint") return raw;
  if (typeof raw === "boolean") return raw ? 1n : 0n;
  if (typeof raw === "number" && Number.isSafeInteger(raw)) return BigInt(raw);
  throw new RangeError(`${what} is ${JSON.stringify(raw)}, not an integer: not the schema of docs/influx-schema.md`);
}

/** Every window cell the aggregator stored for `range` (windows of size `window`). */
export async function readHotCells(target: InfluxTarget, range: TimeRange, window: string, options: QueryOptions = {}): Promise<WindowCell[]> {
  const cells: WindowCell[] = [];
  for (const q of hotWindowQueries(range, window)) cells.push(...cellsFromSeries(q.measurement, q.tag, await queryInfluxql(target, q.query, options)));
  return cells;
}

const cellKey = (c: WindowCell) => `p${c.partition} ${c.measurement}${c.dimension ? `[${c.dimension}]` : ""}.${c.field}`;

/**
 * Per window start (ascending), the two sides' totals and how many cells differ. Only cells in
 * `range` are compared; pass the same range that selected them.
 */
export function reconcileWindows(hot: readonly WindowCell[], cold: readonly WindowCell[], range: TimeRange): WindowReconciliation[] {
  const inRange = (c: WindowCell) => c.windowStartMs >= range.fromMs && c.windowStartMs < range.toMs;
  const byWindow = new Map<number, { hot: Map<string, bigint>; cold: Map<string, bigint> }>();
  for (const [side, cells] of [
    ["hot", hot],
    ["cold", cold],
  ] as const) {
    for (const c of cells) {
      if (!inRange(c)) continue;
      let entry = byWindow.get(c.windowStartMs);
      if (!entry) byWindow.set(c.windowStartMs, (entry = { hot: new Map(), cold: new Map() }));
      entry[side].set(cellKey(c), c.value);
    }
  }
  const total = (cells: Map<string, bigint>, field: string) => {
    let sum = 0n;
    for (const [key, value] of cells) if (key.endsWith(` ${MEASUREMENTS.window}.${field}`)) sum += value;
    return sum;
  };
  return [...byWindow]
    .sort(([a], [b]) => a - b)
    .map(([windowStartMs, sides]) => {
      const examples: string[] = [];
      let differences = 0;
      for (const key of new Set([...sides.hot.keys(), ...sides.cold.keys()])) {
        const h = sides.hot.get(key);
        const c = sides.cold.get(key);
        if (h === c) continue;
        differences += 1;
        if (examples.length < MAX_EXAMPLES) examples.push(`${key}: hot ${h ?? "missing"}, cold ${c ?? "missing"}`);
      }
      return {
        windowStartMs,
        hotOrders: Number(total(sides.hot, "orders")),
        coldOrders: Number(total(sides.cold, "orders")),
        hotRevenueCents: total(sides.hot, "revenue_cents"),
        coldRevenueCents: total(sides.cold, "revenue_cents"),
        differences,
        examples,
      };
    });
}
