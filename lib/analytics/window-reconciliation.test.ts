import { expect, test } from "bun:test";
import type { WindowResult } from "../window/window-aggregate.ts";
import { cellsFromResults, cellsFromSeries, hotWindowQueries, reconcileWindows } from "./window-reconciliation.ts";

const result = (partition: number, windowStartMs: number, orders: number): WindowResult => ({
  partition,
  windowStartMs,
  windowEndMs: windowStartMs + 60_000,
  orders,
  revenueUsdCents: BigInt(orders * 1000),
  items: orders * 2,
  customers: orders,
  byCategory: { books: { orders, revenueUsdCents: BigInt(orders * 1000), items: orders * 2 } },
  byCountry: { DE: { orders, revenueUsdCents: BigInt(orders * 1000), items: orders * 2 } },
  final: true,
  emittedAtMs: 0,
});

const range = { fromMs: 0, toMs: 180_000 };

test("reconcileWindows() finds no difference between equal sides and sums partitions per window", () => {
  const cells = cellsFromResults([result(0, 0, 2), result(1, 0, 3), result(0, 60_000, 1)]);
  expect(reconcileWindows(cells, cells, range)).toEqual([
    { windowStartMs: 0, hotOrders: 5, coldOrders: 5, hotRevenueCents: 5000n, coldRevenueCents: 5000n, differences: 0, examples: [] },
    { windowStartMs: 60_000, hotOrders: 1, coldOrders: 1, hotRevenueCents: 1000n, coldRevenueCents: 1000n, differences: 0, examples: [] },
  ]);
});

test("reconcileWindows() counts a differing value and names the cell", () => {
  const hot = cellsFromResults([result(0, 0, 2)]);
  const cold = cellsFromResults([{ ...result(0, 0, 2), byCategory: { books: { orders: 2, revenueUsdCents: 1999n, items: 4 } } }]);
  const [row] = reconcileWindows(hot, cold, range);
  expect({ differences: row!.differences, examples: row!.examples }).toEqual({
    differences: 1,
    examples: ["p0 order_window_by_category[category=books].revenue_cents: hot 2000, cold 1999"],
  });
});

test("reconcileWindows() counts every cell of a window missing on one side", () => {
  const cold = cellsFromResults([result(2, 120_000, 1)]);
  const [row] = reconcileWindows([], cold, range);
  expect({ windowStartMs: row!.windowStartMs, hotOrders: row!.hotOrders, coldOrders: row!.coldOrders, differences: row!.differences }).toEqual({
    windowStartMs: 120_000,
    hotOrders: 0,
    coldOrders: 1,
    differences: cold.length,
  });
});

test("reconcileWindows() treats a window the hot side never finalised as a difference", () => {
  const hot = cellsFromResults([{ ...result(0, 0, 2), final: false }]);
  const cold = cellsFromResults([result(0, 0, 2)]);
  expect(reconcileWindows(hot, cold, range)[0]!.examples).toEqual(["p0 order_window.final: hot 0, cold 1"]);
});

test("reconcileWindows() ignores windows starting outside the range", () => {
  const cells = cellsFromResults([result(0, 180_000, 1), result(0, -60_000, 1)]);
  expect(reconcileWindows(cells, [], range)).toEqual([]);
});

test("cellsFromSeries() reads the query's grouped series back into the cells cellsFromResults() makes", () => {
  const expected = cellsFromResults([result(3, 60_000, 2)]);
  const [windowQuery, categoryQuery, countryQuery] = hotWindowQueries(range, "1m");
  const cells = [
    ...cellsFromSeries(windowQuery!.measurement, windowQuery!.tag, [
      { name: "order_window", tags: { partition: "3" }, columns: ["time", "orders", "revenue_cents", "items", "customers", "final"], values: [[60_000, 2, 2000, 4, 2, true]] },
    ]),
    ...cellsFromSeries(categoryQuery!.measurement, categoryQuery!.tag, [
      { name: "order_window_by_category", tags: { partition: "3", category: "books" }, columns: ["time", "orders", "revenue_cents", "items"], values: [[60_000, 2, 2000, 4]] },
    ]),
    ...cellsFromSeries(countryQuery!.measurement, countryQuery!.tag, [
      { name: "order_window_by_country", tags: { partition: "3", country: "DE" }, columns: ["time", "orders", "revenue_cents", "items"], values: [[60_000, 2, 2000, 4]] },
    ]),
  ];
  expect(cells).toEqual(expected);
});

test("hotWindowQueries() selects one window size and the range by window start", () => {
  expect(hotWindowQueries({ fromMs: 1000, toMs: 2000 }, "1m")[0]!.query).toBe(
    `SELECT "orders", "revenue_cents", "items", "customers", "final" FROM "order_window" WHERE "window" = '1m' AND time >= 1000ms AND time < 2000ms GROUP BY "partition"`,
  );
});

test("17.6 reconcileWindows() tells apart revenues beyond 2^53 that differ by one cent", () => {
  const big = 2n ** 53n + 1n;
  const cold = cellsFromResults([{ ...result(0, 0, 2), revenueUsdCents: big }]);
  const [windowQuery] = hotWindowQueries(range, "1m");
  // As lib/hot/influxql-client.ts returns InfluxDB's answer: the integer past 2^53 as a bigint.
  const hot = cellsFromSeries(windowQuery!.measurement, windowQuery!.tag, [
    { name: "order_window", tags: { partition: "0" }, columns: ["time", "orders", "revenue_cents", "items", "customers", "final"], values: [[0, 2, big + 1n, 4, 2, true]] },
  ]);
  const [row] = reconcileWindows(hot, cold.filter((c) => c.measurement === "order_window"), range);
  expect(row).toEqual({
    windowStartMs: 0,
    hotOrders: 2,
    coldOrders: 2,
    hotRevenueCents: big + 1n,
    coldRevenueCents: big,
    differences: 1,
    examples: [`p0 order_window.revenue_cents: hot ${big + 1n}, cold ${big}`],
  });
});
