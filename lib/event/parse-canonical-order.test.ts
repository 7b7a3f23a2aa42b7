import { expect, test } from "bun:test";
import { encodeOrderEvent } from "./encode-order.ts";
import type { OrderEvent } from "./order-event.ts";
import { parseCanonicalOrder } from "./parse-canonical-order.ts";
import { Simulator } from "./simulator.ts";

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
  total_usd_cents: 8_788,
  country: "DE",
  payment_method: "card",
  channel: "web",
  status: "paid",
};
const CANONICAL = encodeOrderEvent(EVENT);
const bytes = (text: string) => new TextEncoder().encode(text);
const parse = (text: string) => parseCanonicalOrder(bytes(text));

test("parseCanonicalOrder() reads the producer's encoding into what JSON.parse gives, key order included", () => {
  const parsed = parse(CANONICAL);
  expect(parsed).toEqual(JSON.parse(CANONICAL));
  expect(JSON.stringify(parsed)).toBe(CANONICAL);
});

test("parseCanonicalOrder() gives the same strings when it serves them from its intern table", () => {
  parse(CANONICAL);
  const again = parse(CANONICAL.replace('"u-1"', '"u-2"'));
  expect(again?.user_id).toBe("u-2");
  expect(parse(CANONICAL)).toEqual(JSON.parse(CANONICAL));
});

test("parseCanonicalOrder() reads an event from a range of a larger buffer", () => {
  const event = bytes(CANONICAL);
  const buffer = new Uint8Array(event.length + 20).fill(0x20);
  buffer.set(event, 7);
  expect(parseCanonicalOrder(buffer, 7, 7 + event.length)).toEqual(JSON.parse(CANONICAL));
});

test("parseCanonicalOrder() does not read past the end of its range, even when the bytes there would complete the event", () => {
  const event = bytes(CANONICAL);
  // The event twice in a row: past any cut lie exactly the bytes that would complete it.
  const twice = new Uint8Array(2 * event.length);
  twice.set(event, 0);
  twice.set(event, event.length);
  const accepted: number[] = [];
  for (let end = 0; end < event.length; end++) if (parseCanonicalOrder(twice, 0, end) !== undefined) accepted.push(end);
  expect(accepted).toEqual([]);
  expect(parseCanonicalOrder(twice, 0, event.length)).toEqual(JSON.parse(CANONICAL));
  expect(parseCanonicalOrder(twice, event.length, twice.length)).toEqual(JSON.parse(CANONICAL));
});

test("parseCanonicalOrder() declines a range outside its buffer", () => {
  const event = bytes(CANONICAL);
  expect(parseCanonicalOrder(event, 0, event.length + 1)).toBeUndefined();
  expect(parseCanonicalOrder(event, -1, event.length)).toBeUndefined();
});

test("parseCanonicalOrder() reads 0 and 15-digit integers", () => {
  const text = CANONICAL.replace('"discount_minor":898', '"discount_minor":0').replace('"total_usd_cents":8788', '"total_usd_cents":999999999999999');
  expect(parse(text)).toEqual(JSON.parse(text));
});

test("parseCanonicalOrder() declines every deviation from the canonical form", () => {
  const variants: Record<string, string> = {
    whitespace_after_colon: CANONICAL.replace('"order_id":', '"order_id": '),
    trailing_newline: `${CANONICAL}\n`,
    bom: `\uFEFF${CANONICAL}`,
    key_order: CANONICAL.replace('"qty":2,"unit_price_minor":1999', '"unit_price_minor":1999,"qty":2'),
    duplicate_key: CANONICAL.replace('"status":"paid"', '"status":"paid","status":"placed"'),
    unknown_key: CANONICAL.replace('"status":"paid"', '"status":"paid","coupon":"X"'),
    proto_key: CANONICAL.replace('"status":"paid"', '"status":"paid","__proto__":{}'),
    escape: CANONICAL.replace('"SKU-1"', '"SKU\\u002d1"'),
    escaped_slash: CANONICAL.replace('"SKU-1"', '"SKU\\/1"'),
    non_ascii: CANONICAL.replace('"books"', '"bööks"'),
    control_char: CANONICAL.replace('"books"', '"bo\tks"'),
    exponent: CANONICAL.replace('"qty":2', '"qty":2e0'),
    fraction: CANONICAL.replace('"qty":2', '"qty":2.0'),
    minus_zero: CANONICAL.replace('"discount_minor":898', '"discount_minor":-0'),
    negative: CANONICAL.replace('"discount_minor":898', '"discount_minor":-898'),
    leading_zero: CANONICAL.replace('"discount_minor":898', '"discount_minor":0898'),
    sixteen_digits: CANONICAL.replace('"total_usd_cents":8788', '"total_usd_cents":1000000000000000'),
    string_number: CANONICAL.replace('"qty":2', '"qty":"2"'),
    schema_version_2: CANONICAL.replace('"schema_version":1', '"schema_version":2'),
    schema_version_1_0: CANONICAL.replace('"schema_version":1', '"schema_version":1.0'),
    no_items: CANONICAL.replace(/"items":\[.*\],"discount/, '"items":[],"discount'),
    long_string: CANONICAL.replace('"o-1"', `"${"x".repeat(65)}"`),
    truncated: CANONICAL.slice(0, -1),
    missing_field: CANONICAL.replace(',"country":"DE"', ""),
  };
  const accepted = Object.entries(variants).filter(([, text]) => parse(text) !== undefined).map(([name]) => name);
  expect(accepted).toEqual([]);
});

test("parseCanonicalOrder() leaves value checks to its caller: an empty id or unknown currency still parses", () => {
  const text = CANONICAL.replace('"o-1"', '""').replace('"EUR"', '"XYZ"');
  expect(parse(text)).toEqual(JSON.parse(text));
});

test("parseCanonicalOrder() reads every well-formed event the simulator writes, so the producer's traffic takes the fast path", () => {
  const sim = new Simulator({ seed: 9, startMs: Date.parse("2026-11-27T18:00:00.000Z"), lateFraction: 0.1, duplicateFraction: 0.05 });
  const decoder = new TextDecoder();
  const misses: string[] = [];
  for (let i = 0; i < 5_000; i++) {
    const text = decoder.decode(sim.next().value);
    const parsed = parseCanonicalOrder(bytes(text));
    if (JSON.stringify(parsed) !== text) misses.push(text);
  }
  expect(misses.slice(0, 3)).toEqual([]);
});
