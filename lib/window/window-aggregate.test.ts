import { expect, test } from "bun:test";
import { centOrder, LARGEST_ORDER_USD_CENTS, largestOrder } from "../../test/support/largest-order.ts";
import { plainWindow } from "../../test/support/plain-snapshot.ts";
import type { OrderEvent, OrderItem } from "../event/order-event.ts";
import { WindowAggregate } from "./window-aggregate.ts";

function order(id: string, items: OrderItem[], fields: Partial<OrderEvent> = {}): OrderEvent {
  const amount = items.reduce((sum, l) => sum + l.qty * l.unit_price_minor, 0);
  return {
    schema_version: 1,
    event_id: id,
    order_id: `o-${id}`,
    user_id: "u1",
    created_at: "2026-11-28T10:15:00.123Z",
    items,
    discount_minor: 0,
    total: { amount_minor: amount, currency: "USD" },
    total_usd_cents: amount,
    country: "US",
    payment_method: "card",
    channel: "web",
    status: "paid",
    ...fields,
  };
}
const line = (category: string, qty: number, unit_price_minor: number): OrderItem => ({ sku: `sku-${category}`, category, qty, unit_price_minor });

test("WindowAggregate sums orders, revenue, items and distinct customers", () => {
  const w = new WindowAggregate(0, 60_000, 50);
  w.add(order("e1", [line("books", 2, 500)], { user_id: "alice" }));
  w.add(order("e2", [line("books", 1, 300)], { user_id: "alice", country: "DE" }));
  w.add(order("e3", [line("toys", 3, 100)], { user_id: "bob" }));
  expect(w.toResult(4, false, 1234)).toEqual({
    partition: 4,
    windowStartMs: 0,
    windowEndMs: 60_000,
    orders: 3,
    revenueUsdCents: 1600n,
    items: 6,
    customers: 2,
    byCategory: {
      books: { orders: 2, revenueUsdCents: 1300n, items: 3 },
      toys: { orders: 1, revenueUsdCents: 300n, items: 3 },
    },
    byCountry: {
      DE: { orders: 1, revenueUsdCents: 300n, items: 1 },
      US: { orders: 2, revenueUsdCents: 1300n, items: 5 },
    },
    final: false,
    emittedAtMs: 1234,
  });
});

test("WindowAggregate counts an order once per category and splits its USD total by line amount", () => {
  const w = new WindowAggregate(0, 60_000, 50);
  // Line amounts: toys 200, books 200 (two lines), games 100; the USD total (after a discount) is 1001.
  w.add(order("e1", [line("toys", 2, 100), line("books", 1, 100), line("games", 1, 100), line("books", 1, 100)], { total_usd_cents: 1001 }));
  expect(w.toResult(0, false, 0).byCategory).toEqual({
    // Quotas books 400.4, games 200.2, toys 400.4 → one leftover cent; the .4 tie goes to "books" (first name).
    books: { orders: 1, revenueUsdCents: 401n, items: 2 },
    games: { orders: 1, revenueUsdCents: 200n, items: 1 },
    toys: { orders: 1, revenueUsdCents: 400n, items: 2 },
  });
});

test("WindowAggregate gives a zero-amount order's revenue to its first category by name", () => {
  const w = new WindowAggregate(0, 60_000, 50);
  w.add(order("e1", [line("toys", 1, 0), line("books", 1, 0)], { total_usd_cents: 0 }));
  w.add(order("e2", [line("toys", 1, 0), line("books", 1, 0)], { total_usd_cents: 7 }));
  expect(w.toResult(0, false, 0).byCategory).toEqual({
    books: { orders: 2, revenueUsdCents: 7n, items: 2 },
    toys: { orders: 2, revenueUsdCents: 0n, items: 2 },
  });
});

test("WindowAggregate sends values past maxDimensionValues to 'other'", () => {
  const w = new WindowAggregate(0, 60_000, 2);
  w.add(order("e1", [line("a", 1, 100)], { country: "US" }));
  w.add(order("e2", [line("b", 1, 100)], { country: "DE" }));
  w.add(order("e3", [line("c", 1, 100)], { country: "FR" }));
  w.add(order("e4", [line("a", 1, 100)], { country: "US" }));
  const result = w.toResult(0, false, 0);
  expect([result.byCategory, result.byCountry]).toEqual([
    {
      a: { orders: 2, revenueUsdCents: 200n, items: 2 },
      b: { orders: 1, revenueUsdCents: 100n, items: 1 },
      other: { orders: 1, revenueUsdCents: 100n, items: 1 },
    },
    {
      DE: { orders: 1, revenueUsdCents: 100n, items: 1 },
      US: { orders: 2, revenueUsdCents: 200n, items: 2 },
      other: { orders: 1, revenueUsdCents: 100n, items: 1 },
    },
  ]);
});

test("WindowAggregate counts an order once in 'other' when several of its categories overflow", () => {
  const w = new WindowAggregate(0, 60_000, 1);
  w.add(order("e1", [line("c", 1, 100), line("b", 1, 100), line("a", 1, 100)], { total_usd_cents: 300 }));
  expect(w.toResult(0, false, 0).byCategory).toEqual({
    a: { orders: 1, revenueUsdCents: 100n, items: 1 },
    other: { orders: 1, revenueUsdCents: 200n, items: 2 },
  });
});

test("WindowAggregate treats a category literally named 'other' as the overflow bucket", () => {
  const w = new WindowAggregate(0, 60_000, 1);
  w.add(order("e1", [line("a", 1, 100)]));
  w.add(order("e2", [line("other", 1, 100), line("z", 1, 100)], { total_usd_cents: 200 }));
  expect(w.toResult(0, false, 0).byCategory).toEqual({
    a: { orders: 1, revenueUsdCents: 100n, items: 1 },
    other: { orders: 1, revenueUsdCents: 200n, items: 2 },
  });
});

test("WindowAggregate keeps a category named __proto__ as a plain key", () => {
  const w = new WindowAggregate(0, 60_000, 50);
  w.add(order("e1", [line("__proto__", 1, 100)]));
  expect(Object.keys(w.toResult(0, false, 0).byCategory)).toEqual(["__proto__"]);
});

test("WindowAggregate.restore(snapshot()) gives an aggregate that continues identically", () => {
  const a = new WindowAggregate(0, 60_000, 2);
  a.add(order("e1", [line("a", 1, 100)], { user_id: "u1" }));
  a.add(order("e2", [line("b", 2, 100)], { user_id: "u2", country: "DE" }));
  const b = WindowAggregate.restore(a.snapshot(), 60_000, 2);
  for (const w of [a, b]) {
    w.add(order("e3", [line("c", 1, 100)], { user_id: "u1", country: "FR" }));
    w.add(order("e4", [line("a", 1, 100)], { user_id: "u3", country: "JP" }));
  }
  expect(b.toResult(0, false, 5)).toEqual(a.toResult(0, false, 5));
  expect(plainWindow(b.snapshot())).toEqual(plainWindow(a.snapshot()));
});

test("17.6 a window of 100 of the largest valid orders sums revenue exactly, past 2^53, by category and country too", () => {
  const w = new WindowAggregate(0, 60_000, 50);
  for (let i = 0; i < 100; i++) w.add(largestOrder(`e${i}`, { country: i % 2 === 0 ? "GB" : "DE" }));
  // Then one cent, in books and GB: a sum a double cannot hold.
  w.add(centOrder("cent", 1, { country: "GB", category: "books" }));
  // Each large order's lines: 34 books, 33 garden, 33 toys, of equal amounts; its total splits 34 : 33 : 33, exactly.
  const total = BigInt(LARGEST_ORDER_USD_CENTS);
  expect(100n * total > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
  const result = w.toResult(0, true, 0);
  expect([result.revenueUsdCents, result.byCategory, result.byCountry]).toEqual([
    100n * total + 1n,
    {
      books: { orders: 101, revenueUsdCents: 100n * ((total * 34n) / 100n) + 1n, items: 100 * 34_000 + 1 },
      garden: { orders: 100, revenueUsdCents: 100n * ((total * 33n) / 100n), items: 100 * 33_000 },
      toys: { orders: 100, revenueUsdCents: 100n * ((total * 33n) / 100n), items: 100 * 33_000 },
    },
    {
      DE: { orders: 50, revenueUsdCents: 50n * total, items: 50 * 100_000 },
      GB: { orders: 51, revenueUsdCents: 50n * total + 1n, items: 50 * 100_000 + 1 },
    },
  ]);
  // And restored from its snapshot past 2^53, it goes on counting exactly.
  const restored = WindowAggregate.restore(w.snapshot(), 60_000, 50);
  restored.add(largestOrder("e100", { country: "GB" }));
  restored.add(centOrder("cent-2", 2, { country: "GB" }));
  expect([restored.revenueUsdCents, restored.toResult(0, true, 0).byCountry.GB!.revenueUsdCents]).toEqual([101n * total + 3n, 51n * total + 3n]);
});
