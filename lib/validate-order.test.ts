import { expect, test } from "bun:test";
import { encodeOrderEvent } from "./encode-order.ts";
import type { OrderEvent } from "./order-event.ts";
import { Prng } from "./prng.ts";
import { parseIsoUtcMs, REJECT_REASONS, validateOrder } from "./validate-order.ts";

const NOW_MS = Date.parse("2026-11-28T10:15:00.000Z");
const EVENT: OrderEvent = {
  schema_version: 1,
  event_id: "81a0fa39-c883-89ba-a7d7-43649941cd2d",
  order_id: "o-1",
  user_id: "u-1",
  created_at: "2026-11-28T10:14:59.123Z",
  items: [
    { sku: "SKU-1", category: "books", qty: 2, unit_price_minor: 1_999 },
    { sku: "SKU-2", category: "home", qty: 1, unit_price_minor: 5_000 },
  ],
  discount_minor: 898,
  total: { amount_minor: 8_100, currency: "EUR" },
  total_usd_cents: 8_788, // 81.00 EUR × 1.085 = 8,788.5 US cents, rounded half to even
  country: "DE",
  payment_method: "card",
  channel: "web",
  status: "paid",
};

const encode = (value: unknown) => new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));
const validate = (value: unknown) => validateOrder(encode(value), { nowMs: NOW_MS });
const reasonOf = (value: unknown) => {
  const result = validate(value);
  return result.ok ? "ok" : result.reason;
};
const withChange = (change: (e: Record<string, any>) => void) => {
  const copy = structuredClone(EVENT) as unknown as Record<string, any>;
  change(copy);
  return copy;
};

test("validateOrder() accepts a well-formed event and returns it with its event time", () => {
  expect(validate(EVENT)).toEqual({ ok: true, event: EVENT, eventTimeMs: Date.parse(EVENT.created_at) });
});

test("validateOrder() accepts the hand-encoded form the producer writes", () => {
  expect(validateOrder(encode(encodeOrderEvent(EVENT)), { nowMs: NOW_MS }).ok).toBe(true);
});

test("validateOrder() gives each kind of damage its own reason", () => {
  expect({
    too_large: reasonOf(withChange((e) => (e.items[0].sku = "x".repeat(20_000)))),
    long_string: reasonOf(withChange((e) => (e.order_id = "x".repeat(65)))),
    not_json: reasonOf('{"schema_version":1,'),
    not_object: reasonOf("[1,2]"),
    missing_field: reasonOf(withChange((e) => delete e.country)),
    missing_item_field: reasonOf(withChange((e) => delete e.items[1].qty)),
    unknown_field: reasonOf(withChange((e) => (e.coupon = "X"))),
    wrong_type: reasonOf(withChange((e) => (e.items[0].qty = "2"))),
    fractional_amount: reasonOf(withChange((e) => (e.discount_minor = 1.5))),
    bad_schema_version: reasonOf(withChange((e) => (e.schema_version = 2))),
    bad_enum: reasonOf(withChange((e) => (e.channel = "fax"))),
    zero_qty: reasonOf(withChange((e) => (e.items[0].qty = 0))),
    negative_amount: reasonOf(withChange((e) => (e.items[0].unit_price_minor = -1))),
    unknown_currency: reasonOf(withChange((e) => (e.total.currency = "XYZ"))),
    total_mismatch: reasonOf(withChange((e) => (e.total.amount_minor += 1))),
    usd_mismatch: reasonOf(withChange((e) => (e.total_usd_cents += 1))),
    bad_timestamp: reasonOf(withChange((e) => (e.created_at = "2026-11-28T10:14:59Z"))),
    future_timestamp: reasonOf(withChange((e) => (e.created_at = "2026-11-28T10:20:00.001Z"))),
    past_timestamp: reasonOf(withChange((e) => (e.created_at = "2026-11-27T10:14:59.999Z"))),
  }).toEqual({
    too_large: "too_large",
    long_string: "too_large",
    not_json: "not_json",
    not_object: "not_object",
    missing_field: "missing_field",
    missing_item_field: "missing_field",
    unknown_field: "unknown_field",
    wrong_type: "wrong_type",
    fractional_amount: "wrong_type",
    bad_schema_version: "bad_schema_version",
    bad_enum: "bad_value",
    zero_qty: "bad_value",
    negative_amount: "negative_amount",
    unknown_currency: "unknown_currency",
    total_mismatch: "total_mismatch",
    usd_mismatch: "usd_mismatch",
    bad_timestamp: "bad_timestamp",
    future_timestamp: "future_timestamp",
    past_timestamp: "past_timestamp",
  });
});

test("validateOrder() rejects bytes that are not UTF-8", () => {
  const bytes = encode(EVENT);
  bytes[40] = 0xff;
  expect(validateOrder(bytes, { nowMs: NOW_MS })).toMatchObject({ ok: false, reason: "not_utf8" });
});

test("validateOrder() accepts an event exactly at the future and past bounds", () => {
  const atFuture = withChange((e) => (e.created_at = "2026-11-28T10:20:00.000Z"));
  const atPast = withChange((e) => (e.created_at = "2026-11-27T10:15:00.000Z"));
  expect([reasonOf(atFuture), reasonOf(atPast)]).toEqual(["ok", "ok"]);
});

test("validateOrder() takes its time bounds from the options", () => {
  const late = withChange((e) => (e.created_at = "2026-11-28T10:00:00.000Z"));
  expect(validateOrder(encode(late), { nowMs: NOW_MS, maxPastMs: 60_000 })).toMatchObject({ reason: "past_timestamp" });
});

test("validateOrder() never throws and always returns a known reason, for random bytes and mutated events", () => {
  const prng = new Prng(2026);
  const known = new Set<string>(REJECT_REASONS);
  const base = encode(EVENT);
  for (let i = 0; i < 20_000; i++) {
    let bytes: Uint8Array;
    if (i % 2 === 0) {
      bytes = new Uint8Array(prng.int(0, 300));
      for (let j = 0; j < bytes.length; j++) bytes[j] = prng.int(0, 255);
    } else {
      bytes = base.slice();
      for (let k = prng.int(1, 4); k > 0; k--) bytes[prng.int(0, bytes.length - 1)] = prng.int(0, 255);
    }
    const result = validateOrder(bytes, { nowMs: NOW_MS });
    if (!result.ok) expect(known.has(result.reason)).toBe(true);
  }
});

test("validateOrder() rejects JSON values that are not objects, including null", () => {
  expect(["null", "1", '"x"', "true"].map(reasonOf)).toEqual(["not_object", "not_object", "not_object", "not_object"]);
});

test("parseIsoUtcMs() rejects dates that do not exist and other shapes", () => {
  expect([
    parseIsoUtcMs("2026-02-29T00:00:00.000Z"),
    parseIsoUtcMs("2028-02-29T00:00:00.000Z"),
    parseIsoUtcMs("2026-11-28T24:00:00.000Z"),
    parseIsoUtcMs("2026-11-28T10:15:00.000+00:00"),
    parseIsoUtcMs("0099-11-28T10:15:00.000Z"),
  ]).toEqual([undefined, Date.parse("2028-02-29T00:00:00.000Z"), undefined, undefined, undefined]);
});
