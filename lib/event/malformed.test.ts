import { expect, test } from "bun:test";
import { corrupt, MALFORMED_KINDS } from "./malformed.ts";
import type { OrderEvent } from "./order-event.ts";
import { Prng } from "./prng.ts";
import { validateOrder } from "./validate-order.ts";

const NOW_MS = Date.parse("2026-11-28T10:15:00.000Z");
const EVENT: OrderEvent = {
  schema_version: 1,
  event_id: "e-1",
  order_id: "o-1",
  user_id: "u-1",
  created_at: "2026-11-28T10:15:00.000Z",
  items: [{ sku: "SKU-000001", category: "books", qty: 1, unit_price_minor: 1_000 }],
  discount_minor: 0,
  total: { amount_minor: 1_000, currency: "USD" },
  total_usd_cents: 1_000,
  country: "US",
  payment_method: "card",
  channel: "web",
  status: "paid",
};

test("corrupt() produces bytes that validateOrder() rejects for exactly that kind, every variant", () => {
  const prng = new Prng(1);
  const got: string[] = [];
  for (const kind of MALFORMED_KINDS) {
    for (let i = 0; i < 50; i++) {
      const result = validateOrder(corrupt(EVENT, kind, NOW_MS, prng), { nowMs: NOW_MS });
      if (result.ok || result.reason !== kind) got.push(`${kind} → ${result.ok ? "ok" : result.reason}`);
    }
  }
  expect(got).toEqual([]);
});

test("corrupt() leaves the event it was given unchanged", () => {
  const copy = structuredClone(EVENT);
  for (const kind of MALFORMED_KINDS) corrupt(EVENT, kind, NOW_MS, new Prng(2));
  expect(EVENT).toEqual(copy);
});
