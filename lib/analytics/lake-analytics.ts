/**
 * Batch questions over the lake's rows, for the analytics notebook: the original's
 * `groupBy("user_id").sum("amount")` and its neighbours. Pure functions over {@link LakeRow}s,
 * all money in exact integer USD cents (`total_usd_cents`).
 *
 * Business view, not the hot path's: every distinct order counts once ({@link distinctOrders}
 * drops re-sent copies, keeping the first by partition and offset), late ones included — the
 * lake has them even though the aggregator's windows do not. {@link lateShareByPeriod} measures
 * that gap with the aggregator's own verdicts (lib/analytics/lake-replay.ts).
 *
 * A multi-category order's revenue is split over its categories exactly as the aggregator
 * splits it (line amounts, largest remainder, names ascending), and over its products the
 * same way, so category totals here sum to the orders' totals.
 */
import { allocateLargestRemainder } from "../window/allocate-largest-remainder.ts";
import type { AddOutcome } from "../window/partition-aggregator.ts";
import type { LakeRow } from "../lake/schema.ts";

export interface Totals {
  orders: number;
  revenueCents: number;
}

const byOffset = (a: LakeRow, b: LakeRow) =>
  a.kafka_partition - b.kafka_partition || (a.kafka_offset < b.kafka_offset ? -1 : a.kafka_offset > b.kafka_offset ? 1 : 0);
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** One row per event_id: the first copy by (kafka_partition, kafka_offset). */
export function distinctOrders(rows: readonly LakeRow[]): LakeRow[] {
  const seen = new Set<string>();
  const out: LakeRow[] = [];
  for (const row of [...rows].sort(byOffset)) {
    if (seen.has(row.event_id)) continue;
    seen.add(row.event_id);
    out.push(row);
  }
  return out;
}

/** Orders and revenue per period of `periodMs` (UTC-aligned: an hour, a day), ascending, empty periods left out. */
export function revenueByPeriod(rows: readonly LakeRow[], periodMs: number): ({ periodStartMs: number } & Totals)[] {
  if (!Number.isSafeInteger(periodMs) || periodMs <= 0) throw new RangeError(`period must be a positive integer of ms: got ${periodMs}`);
  const totals = new Map<number, Totals>();
  for (const row of rows) {
    const t = row.created_at.getTime();
    const start = t - (((t % periodMs) + periodMs) % periodMs);
    const entry = totals.get(start) ?? { orders: 0, revenueCents: 0 };
    entry.orders += 1;
    entry.revenueCents += Number(row.total_usd_cents);
    totals.set(start, entry);
  }
  return [...totals].sort(([a], [b]) => a - b).map(([periodStartMs, t]) => ({ periodStartMs, ...t }));
}

function totalsBy(rows: readonly LakeRow[], keyOf: (row: LakeRow) => string): Map<string, Totals> {
  const totals = new Map<string, Totals>();
  for (const row of rows) {
    const key = keyOf(row);
    const entry = totals.get(key) ?? { orders: 0, revenueCents: 0 };
    entry.orders += 1;
    entry.revenueCents += Number(row.total_usd_cents);
    totals.set(key, entry);
  }
  return totals;
}

const descendingRevenue = <T extends { key: string } & Totals>(a: T, b: T) => b.revenueCents - a.revenueCents || byName(a.key, b.key);

/** Per customer: orders and revenue, highest revenue first (ties by user_id). */
export function customerTotals(rows: readonly LakeRow[]): ({ key: string } & Totals)[] {
  return [...totalsBy(rows, (r) => r.user_id)].map(([key, t]) => ({ key, ...t })).sort(descendingRevenue);
}

/** Per country: orders, revenue and share of all revenue (0..1), highest revenue first. */
export function countryMix(rows: readonly LakeRow[]): ({ key: string; revenueShare: number } & Totals)[] {
  const all = rows.reduce((sum, r) => sum + Number(r.total_usd_cents), 0);
  return [...totalsBy(rows, (r) => r.country)]
    .map(([key, t]) => ({ key, ...t, revenueShare: all === 0 ? 0 : t.revenueCents / all }))
    .sort(descendingRevenue);
}

/**
 * Per category (`by: "category"`) or product (`by: "sku"`): orders containing it, units sold
 * and revenue (each order's total split over its keys by line amount), highest revenue first.
 */
export function itemTotals(rows: readonly LakeRow[], by: "category" | "sku"): ({ key: string; units: number } & Totals)[] {
  const totals = new Map<string, { orders: number; revenueCents: number; units: number }>();
  for (const row of rows) {
    const lines = new Map<string, { units: number; amount: number }>();
    for (const item of row.items) {
      const entry = lines.get(item[by]) ?? { units: 0, amount: 0 };
      entry.units += item.qty;
      entry.amount += item.qty * Number(item.unit_price_minor);
      lines.set(item[by], entry);
    }
    const keys = [...lines.keys()].sort(byName);
    const parts = allocateLargestRemainder(Number(row.total_usd_cents), keys.map((k) => lines.get(k)!.amount));
    keys.forEach((key, i) => {
      const entry = totals.get(key) ?? { orders: 0, revenueCents: 0, units: 0 };
      entry.orders += 1;
      entry.units += lines.get(key)!.units;
      entry.revenueCents += parts[i]!;
      totals.set(key, entry);
    });
  }
  return [...totals].map(([key, t]) => ({ key, ...t })).sort(descendingRevenue);
}

/** How many orders had each basket size (total units), ascending by size. */
export function basketSizes(rows: readonly LakeRow[]): { units: number; orders: number }[] {
  const counts = new Map<number, number>();
  for (const row of rows) {
    const units = row.items.reduce((sum, i) => sum + i.qty, 0);
    counts.set(units, (counts.get(units) ?? 0) + 1);
  }
  return [...counts].sort(([a], [b]) => a - b).map(([units, orders]) => ({ units, orders }));
}

export interface LateShare {
  periodStartMs: number;
  counted: number;
  late: number;
  duplicates: number;
  /** late / (counted + late): the share of distinct orders the hot path's windows left out. */
  lateShare: number;
}

/** Per period of event time, the aggregator's verdicts on the lake's rows (from `replayLake().judged`). */
export function lateShareByPeriod(judged: readonly { row: LakeRow; outcome: AddOutcome }[], periodMs: number): LateShare[] {
  const periods = new Map<number, LateShare>();
  for (const { row, outcome } of judged) {
    const t = row.created_at.getTime();
    const start = t - (((t % periodMs) + periodMs) % periodMs);
    let p = periods.get(start);
    if (!p) periods.set(start, (p = { periodStartMs: start, counted: 0, late: 0, duplicates: 0, lateShare: 0 }));
    if (outcome === "counted") p.counted += 1;
    else if (outcome === "late") p.late += 1;
    else if (outcome === "duplicate") p.duplicates += 1;
  }
  for (const p of periods.values()) p.lateShare = p.counted + p.late === 0 ? 0 : p.late / (p.counted + p.late);
  return [...periods.values()].sort((a, b) => a.periodStartMs - b.periodStartMs);
}
