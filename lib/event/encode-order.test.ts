import { expect, test } from "bun:test";
import { encodeOrderEvent, fmix32, sequenceUuid } from "./encode-order.ts";
import type { OrderEvent } from "./order-event.ts";

const EVENT: OrderEvent = {
  schema_version: 1,
  event_id: "81a0fa39-c883-89ba-a7d7-43649941cd2d",
  order_id: "o-dat4zz0",
  user_id: "u-188674",
  created_at: "2026-11-27T18:00:00.002Z",
  items: [
    { sku: "SKU-000309", category: "home", qty: 1, unit_price_minor: 1040 },
    { sku: "SKU-003835", category: "toys", qty: 3, unit_price_minor: 17310 },
  ],
  discount_minor: 100,
  total: { amount_minor: 52870, currency: "JPY" },
  total_usd_cents: 35423,
  country: "JP",
  payment_method: "card",
  channel: "web",
  status: "placed",
};

test("encodeOrderEvent() writes exactly what JSON.stringify writes", () => {
  expect(encodeOrderEvent(EVENT)).toBe(JSON.stringify(EVENT));
});

test("sequenceUuid() is UUID-shaped with version 8 and the RFC variant", () => {
  expect(sequenceUuid(7, 123)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test("sequenceUuid() is the same for the same seed and sequence, and differs across seeds", () => {
  expect(sequenceUuid(7, 123)).toBe(sequenceUuid(7, 123));
  expect(sequenceUuid(7, 123)).not.toBe(sequenceUuid(8, 123));
});

test("sequenceUuid() never repeats within a seed (first 200,000 sequences)", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 200_000; i++) ids.add(sequenceUuid(3, i));
  expect(ids.size).toBe(200_000);
});

test("fmix32() is a bijection on a sample (no two inputs collide)", () => {
  const out = new Set<number>();
  for (let i = 0; i < 100_000; i++) out.add(fmix32(i * 40_503));
  expect(out.size).toBe(100_000);
});
