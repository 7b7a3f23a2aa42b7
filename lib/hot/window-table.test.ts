import { expect, test } from "bun:test";
import { formatUsd, renderWindowTable, windowRows } from "./window-table.ts";
import type { WindowResult } from "../window/window-aggregate.ts";

function result(partition: number, windowStartMs: number, orders: number, cents: bigint, final: boolean): WindowResult {
  return {
    partition,
    windowStartMs,
    windowEndMs: windowStartMs + 60_000,
    orders,
    revenueUsdCents: cents,
    items: orders * 2,
    customers: orders,
    byCategory: {},
    byCountry: {},
    final,
    emittedAtMs: windowStartMs + 1,
  };
}

test("windowRows() sums partitions per window, newest first, and counts final partitions", () => {
  const t = Date.UTC(2026, 10, 28, 10, 0);
  const rows = windowRows([result(0, t, 2, 1000n, true), result(1, t, 3, 2500n, false), result(0, t + 60_000, 1, 99n, false)], 10);
  expect(rows).toEqual([
    { windowStartMs: t + 60_000, windowEndMs: t + 120_000, orders: 1, revenueUsdCents: 99n, items: 2, customers: 1, partitions: 1, finalPartitions: 0 },
    { windowStartMs: t, windowEndMs: t + 60_000, orders: 5, revenueUsdCents: 3500n, items: 10, customers: 5, partitions: 2, finalPartitions: 1 },
  ]);
});

test("windowRows() keeps at most `limit` windows", () => {
  const rows = windowRows([0, 1, 2].map((i) => result(0, i * 60_000, 1, 1n, true)), 2);
  expect(rows.map((r) => r.windowStartMs)).toEqual([120_000, 60_000]);
});

test("formatUsd() formats cents exactly, with separators and sign", () => {
  expect([formatUsd(0n), formatUsd(5n), formatUsd(123456789n), formatUsd(-100n), formatUsd(9007199254740991n)]).toEqual([
    "0.00", "0.05", "1,234,567.89", "-1.00", "90,071,992,547,409.91",
  ]);
});

test("17.6 windowRows() sums partitions' revenues past 2^53 exactly, and the table prints every cent", () => {
  const half = 2n ** 53n;
  const rows = windowRows([result(0, 0, 1, half + 1n, true), result(1, 0, 1, half + 2n, true)], 10);
  expect(rows.map((r) => r.revenueUsdCents)).toEqual([2n * half + 3n]);
  expect(renderWindowTable(rows, "t")).toContain("180,143,985,094,819.87");
});

test("renderWindowTable() aligns numbers right and marks open windows", () => {
  const t = Date.UTC(2026, 10, 28, 10, 0);
  const text = renderWindowTable(windowRows([result(0, t, 12, 123456n, true), result(1, t + 60_000, 3, 500n, false)], 10), "orders");
  expect(text).toBe(
    [
      "orders",
      "window start (UTC)   window end  orders  revenue USD  items  customers  state",
      "-------------------  ----------  ------  -----------  -----  ---------  --------",
      "2026-11-28 10:01:00  10:02:00         3         5.00      6          3  open 1/1",
      "2026-11-28 10:00:00  10:01:00        12     1,234.56     24         12  final",
    ].join("\n"),
  );
});
