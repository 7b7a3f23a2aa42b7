import { expect, test } from "bun:test";
import { basketSizes, countryMix, customerTotals, distinctOrders, itemTotals, lateShareByPeriod, revenueByPeriod } from "./lake-analytics.ts";
import type { LakeItem, LakeRow } from "../lake/schema.ts";

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 28, 10);

function row(id: string, over: Partial<LakeRow> & { at?: number; cents?: number; lines?: [string, string, number, number][] } = {}): LakeRow {
  const items: LakeItem[] = (over.lines ?? [["sku-1", "books", 1, 100]]).map(([sku, category, qty, price]) => ({ sku, category, qty, unit_price_minor: BigInt(price) }));
  return {
    event_id: id,
    order_id: `o-${id}`,
    user_id: "u1",
    created_at: new Date(over.at ?? T0),
    currency: "USD",
    total_minor: BigInt(over.cents ?? 100),
    discount_minor: 0n,
    total_usd_cents: BigInt(over.cents ?? 100),
    country: "DE",
    payment_method: "card",
    channel: "web",
    status: "paid",
    item_count: items.length,
    items,
    schema_version: 1,
    kafka_partition: 0,
    kafka_offset: 0n,
    ...over,
  };
}

test("distinctOrders() keeps the first copy of an event by partition and offset", () => {
  const first = row("a", { kafka_offset: 1n });
  const copy = row("a", { kafka_offset: 5n, cents: 999 });
  expect(distinctOrders([copy, row("b", { kafka_offset: 2n }), first]).map((r) => [r.event_id, r.kafka_offset])).toEqual([
    ["a", 1n],
    ["b", 2n],
  ]);
});

test("revenueByPeriod() sums per UTC hour, ascending, skipping empty hours", () => {
  const rows = [row("a", { at: T0 + 2 * HOUR, cents: 5 }), row("b", { at: T0 + 59_999, cents: 7 }), row("c", { at: T0, cents: 3 })];
  expect(revenueByPeriod(rows, HOUR)).toEqual([
    { periodStartMs: T0, orders: 2, revenueCents: 10 },
    { periodStartMs: T0 + 2 * HOUR, orders: 1, revenueCents: 5 },
  ]);
});

test("customerTotals() is groupBy(user_id).sum(amount), highest first", () => {
  const rows = [row("a", { user_id: "u1", cents: 5 }), row("b", { user_id: "u2", cents: 7 }), row("c", { user_id: "u1", cents: 3 })];
  expect(customerTotals(rows)).toEqual([
    { key: "u1", orders: 2, revenueCents: 8 },
    { key: "u2", orders: 1, revenueCents: 7 },
  ]);
});

test("itemTotals() splits an order's total over its categories by line amount, summing to the total", () => {
  const order = row("a", { cents: 101, lines: [["s1", "toys", 1, 100], ["s2", "books", 2, 50], ["s3", "toys", 1, 0]] });
  expect(itemTotals([order], "category")).toEqual([
    { key: "books", orders: 1, units: 2, revenueCents: 51 },
    { key: "toys", orders: 1, units: 2, revenueCents: 50 },
  ]);
  expect(itemTotals([order], "sku").reduce((s, t) => s + t.revenueCents, 0)).toBe(101);
});

test("countryMix() gives each country's share of revenue", () => {
  const rows = [row("a", { country: "DE", cents: 30 }), row("b", { country: "FR", cents: 10 })];
  expect(countryMix(rows)).toEqual([
    { key: "DE", orders: 1, revenueCents: 30, revenueShare: 0.75 },
    { key: "FR", orders: 1, revenueCents: 10, revenueShare: 0.25 },
  ]);
});

test("basketSizes() counts orders by total units", () => {
  const rows = [row("a", { lines: [["s", "c", 2, 1], ["t", "c", 1, 1]] }), row("b"), row("c")];
  expect(basketSizes(rows)).toEqual([
    { units: 1, orders: 2 },
    { units: 3, orders: 1 },
  ]);
});

test("lateShareByPeriod() is late / (counted + late) per hour, duplicates apart", () => {
  const judged = [
    { row: row("a"), outcome: "counted" as const },
    { row: row("b"), outcome: "counted" as const },
    { row: row("c"), outcome: "counted" as const },
    { row: row("d"), outcome: "late" as const },
    { row: row("a"), outcome: "duplicate" as const },
  ];
  expect(lateShareByPeriod(judged, HOUR)).toEqual([{ periodStartMs: T0, counted: 3, late: 1, duplicates: 1, lateShare: 0.25 }]);
});
