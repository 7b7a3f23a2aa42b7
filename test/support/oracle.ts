/**
 * An independent, deliberately plain implementation of the aggregator's semantics (see the
 * comment at the top of lib/window/partition-aggregator.ts), to hold the real state machine — and,
 * through it, the worker — to them. It shares only types with lib/: it keeps every counted
 * event in an array (and its times by id), decides duplicates and lateness by scanning, and computes every window's
 * measures from scratch at the end, with its own window arithmetic and its own (bigint)
 * largest-remainder split, and revenue summed in bigint throughout. Slow and simple, which is fine
 * for test-sized inputs.
 *
 * Input: per partition, its records in offset order — a validated event, a record whose event
 * failed validation, or (optionally) an idle advance the worker made at processing time nowMs.
 * Output: per partition, every window that counted something with its final measures (final =
 * closed by the end of the sequence), the counters, the watermark and the next offset.
 */
import type { OrderEvent } from "../../lib/event/order-event.ts";
import type { AggregatorSettings } from "../../lib/window/partition-aggregator.ts";
import type { DimensionTotals, WindowResult } from "../../lib/window/window-aggregate.ts";

export type OracleRecord =
  /** timestampMs: the record's Kafka timestamp; -1 or absent: none. */
  | { kind: "event"; offset: bigint; event: OrderEvent; eventTimeMs: number; timestampMs?: number }
  | { kind: "invalid"; offset: bigint }
  | { kind: "idle"; nowMs: number };

/** A window's measures as its last emission must show them (emittedAtMs aside). */
export type OracleWindow = Omit<WindowResult, "emittedAtMs">;

export interface OraclePartition {
  partition: number;
  windows: OracleWindow[];
  counted: number;
  duplicates: number;
  late: number;
  invalid: number;
  /** -Infinity when nothing moved it. */
  watermarkMs: number;
  /** One past the highest offset in the sequence; undefined when it had no records. */
  nextOffset: bigint | undefined;
}

export function runOracle(
  partitions: ReadonlyMap<number, readonly OracleRecord[]>,
  settings: AggregatorSettings,
): OraclePartition[] {
  return [...partitions].sort(([a], [b]) => a - b).map(([partition, records]) => runPartition(partition, records, settings));
}

function runPartition(partition: number, records: readonly OracleRecord[], settings: AggregatorSettings): OraclePartition {
  const size = settings.windowSizeMs;
  const endOf = (t: number) => t - (((t % size) + size) % size) + size;
  const counted: { id: string; t: number; event: OrderEvent }[] = [];
  const timesById = new Map<string, number[]>();
  let watermark = -Infinity;
  let duplicates = 0;
  let late = 0;
  let invalid = 0;
  let nextOffset: bigint | undefined;
  const seeOffset = (offset: bigint) => {
    if (nextOffset === undefined || offset + 1n > nextOffset) nextOffset = offset + 1n;
  };

  for (const record of records) {
    if (record.kind === "idle") {
      watermark = Math.max(watermark, record.nowMs - settings.watermarkDelayMs);
      continue;
    }
    seeOffset(record.offset);
    if (record.kind === "invalid") {
      invalid++;
      continue;
    }
    const { event, eventTimeMs: t } = record;
    // Dedup state = ids counted in windows that are still open.
    if ((timesById.get(event.event_id) ?? []).some((countedT) => endOf(countedT) > watermark)) {
      duplicates++;
    } else if (endOf(t) <= watermark) {
      late++;
    } else {
      counted.push({ id: event.event_id, t, event });
      timesById.set(event.event_id, [...(timesById.get(event.event_id) ?? []), t]);
      // An event moves the watermark by its time, but never past its record's timestamp plus maxAheadMs.
      const ts = record.timestampMs ?? -1;
      const watermarkTime = ts < 0 ? t : Math.min(t, ts + settings.maxAheadMs);
      watermark = Math.max(watermark, watermarkTime - settings.watermarkDelayMs);
    }
  }

  const byWindow = new Map<number, OrderEvent[]>();
  for (const c of counted) {
    const start = endOf(c.t) - size;
    const list = byWindow.get(start) ?? [];
    list.push(c.event);
    byWindow.set(start, list);
  }
  const windows = [...byWindow]
    .sort(([a], [b]) => a - b)
    .map(([start, events]) => measure(partition, start, start + size, events, settings.maxDimensionValues, start + size <= watermark));
  return { partition, windows, counted: counted.length, duplicates, late, invalid, watermarkMs: watermark, nextOffset };
}

function measure(partition: number, start: number, end: number, events: OrderEvent[], maxNamed: number, final: boolean): OracleWindow {
  const categories = new Guarded(maxNamed);
  const countries = new Guarded(maxNamed);
  let revenue = 0n;
  let items = 0;
  const users = new Set<string>();
  for (const e of events) {
    const qty = e.items.map((l) => l.qty).reduce((a, b) => a + b, 0);
    revenue += BigInt(e.total_usd_cents);
    items += qty;
    users.add(e.user_id);
    countries.addOrder([[e.country, BigInt(e.total_usd_cents), qty]]);

    const names = [...new Set(e.items.map((l) => l.category))].sort();
    const amounts = names.map((n) => e.items.filter((l) => l.category === n).reduce((s, l) => s + l.qty * l.unit_price_minor, 0));
    const shares = hamilton(e.total_usd_cents, amounts);
    categories.addOrder(
      names.map((n, i) => [n, shares[i]!, e.items.filter((l) => l.category === n).reduce((s, l) => s + l.qty, 0)] as [string, bigint, number]),
    );
  }
  return {
    partition,
    windowStartMs: start,
    windowEndMs: end,
    orders: events.length,
    revenueUsdCents: revenue,
    items,
    customers: users.size,
    byCategory: categories.totals(),
    byCountry: countries.totals(),
    final,
  };
}

/** One dimension of one window with the "at most maxNamed named values, then 'other'" guard. */
class Guarded {
  private readonly named = new Set<string>();
  private readonly sums = new Map<string, DimensionTotals>();
  constructor(private readonly maxNamed: number) {}

  /** One order's [value, revenue, items] entries, values admitted in the given order. */
  addOrder(entries: [string, bigint, number][]): void {
    const perKey = new Map<string, { revenue: bigint; items: number }>();
    for (const [value, revenue, items] of entries) {
      let key = "other";
      if (value !== "other" && (this.named.has(value) || this.named.size < this.maxNamed)) {
        this.named.add(value);
        key = value;
      }
      const k = perKey.get(key) ?? { revenue: 0n, items: 0 };
      k.revenue += revenue;
      k.items += items;
      perKey.set(key, k);
    }
    for (const [key, add] of perKey) {
      const t = this.sums.get(key) ?? { orders: 0, revenueUsdCents: 0n, items: 0 };
      t.orders += 1;
      t.revenueUsdCents += add.revenue;
      t.items += add.items;
      this.sums.set(key, t);
    }
  }

  totals(): Record<string, DimensionTotals> {
    const out: Record<string, DimensionTotals> = {};
    for (const key of [...this.sums.keys()].sort()) Object.defineProperty(out, key, { value: this.sums.get(key), enumerable: true, writable: true, configurable: true });
    return out;
  }
}

/** Largest remainder in bigint: floors, then +1 to the largest remainders, ties to the earlier (smaller) name. */
function hamilton(total: number, weights: number[]): bigint[] {
  const w = weights.map((x) => BigInt(Math.max(0, x)));
  const sum = w.reduce((a, b) => a + b, 0n);
  if (sum === 0n) return weights.map((_, i) => (i === 0 ? BigInt(total) : 0n));
  const negative = total < 0;
  const t = BigInt(Math.abs(total));
  const floors = w.map((x) => (t * x) / sum);
  const order = w.map((x, i) => ({ i, rem: (t * x) % sum })).sort((a, b) => (a.rem === b.rem ? a.i - b.i : a.rem > b.rem ? -1 : 1));
  let left = t - floors.reduce((a, b) => a + b, 0n);
  for (const { i } of order) {
    if (left === 0n) break;
    floors[i]! += 1n;
    left -= 1n;
  }
  return floors.map((x) => (negative ? -x : x));
}
