/**
 * The console view of the aggregator, in the spirit of the original demo's printed batches:
 * one row per window with the totals over all partitions.
 *
 * Summing partitions is exact for every measure, customers included: a customer's orders are all
 * on one partition (message key = user_id), so per-partition distinct counts never overlap.
 */
import type { WindowResult } from "../window/window-aggregate.ts";

export interface WindowRow {
  windowStartMs: number;
  windowEndMs: number;
  orders: number;
  /** Exact at any size. */
  revenueUsdCents: bigint;
  items: number;
  customers: number;
  /** Partitions that reported this window. */
  partitions: number;
  /** Partitions whose result for this window is final. */
  finalPartitions: number;
}

/** Latest result per (partition, window) → one row per window, newest window first, at most `limit`. */
export function windowRows(latest: Iterable<WindowResult>, limit: number): WindowRow[] {
  const rows = new Map<number, WindowRow>();
  for (const r of latest) {
    let row = rows.get(r.windowStartMs);
    if (!row) {
      row = { windowStartMs: r.windowStartMs, windowEndMs: r.windowEndMs, orders: 0, revenueUsdCents: 0n, items: 0, customers: 0, partitions: 0, finalPartitions: 0 };
      rows.set(r.windowStartMs, row);
    }
    row.orders += r.orders;
    row.revenueUsdCents += r.revenueUsdCents;
    row.items += r.items;
    row.customers += r.customers;
    row.partitions += 1;
    if (r.final) row.finalPartitions += 1;
  }
  return [...rows.values()].sort((a, b) => b.windowStartMs - a.windowStartMs).slice(0, limit);
}

/** Cents as a dollar amount with thousands separators: 123456789n → "1,234,567.89". Exact (no float). */
export function formatUsd(cents: bigint): string {
  const negative = cents < 0n;
  const digits = String(negative ? -cents : cents).padStart(3, "0");
  const whole = digits.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "-" : ""}${whole}.${digits.slice(-2)}`;
}

function time(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
}

export function renderWindowTable(rows: readonly WindowRow[], title: string): string {
  const header = ["window start (UTC)", "window end", "orders", "revenue USD", "items", "customers", "state"];
  const body = rows.map((r) => [
    time(r.windowStartMs),
    time(r.windowEndMs).slice(11),
    String(r.orders),
    formatUsd(r.revenueUsdCents),
    String(r.items),
    String(r.customers),
    r.finalPartitions === r.partitions ? "final" : `open ${r.partitions - r.finalPartitions}/${r.partitions}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const numeric = new Set([2, 3, 4, 5]);
  const line = (cells: string[]) =>
    cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [title, line(header), rule, ...body.map(line)].join("\n");
}
