import { expect, test } from "bun:test";
import { formatUsd, renderWindowTable, windowRows } from "./window-table.ts";
import type { WindowResult } from "../window/window-aggregate.ts";

function result(partition: number, windowStartMs: number, orders: number, cents: number, final: boolean): WindowResult {
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
  const rows = windowRows([result(0, t, 2, 1000, true), result(1, t, 3, 2500, false), result(0, t + 60_000, 1, 99, false)], 10);
  expect(rows).toEqual([
    { windowStartMs: t + 60_000, windowEndMs: t + 120_000, orders: 1, revenueUsdCents: 99, items: 2, customers: 1, partitions: 1, finalPartitions: 0 },
    { windowStartMs: t, windowEndMs: t + 60_000, orders: 5, revenueUsdCents: 3500, items: 10, customers: 5, partitions: 2, finalPartitions: 1 },
  ]);
});

test("windowRows() keeps at most `limit` windows", () => {
  const rows = windowRows([0, 1, 2].map((i) => result(0, i * 60_000, 1, 1, true)), 2);
  expect(rows.map((r) => r.windowStartMs)).toEqual([120_000, 60_000]);
});

test("formatUsd() formats cents exactly, with separators and sign", () => {
  expect([formatUsd(0), formatUsd(5), formatUsd(123456789), formatUsd(-100), formatUsd(9007199254740991)]).toEqual([
    "0.00", "0.05", "1,234,567.89", "-1.00", "90,071,992,547,409.91",
  ]);
});

test("renderWindowTable() aligns numbers right and marks open windows", () => {
  const t = Date.UTC(2026, 10, 28, 10, 0);
  const text = renderWindowTable(windowRows([result(0, t, 12, 123456, true), result(1, t + 60_000, 3, 500, false)], 10), "orders");
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
