import { expect, test } from "bun:test";
import { encodeOrderEvent } from "./encode-order.ts";
import type { CountableOrder, OrderEvent } from "./order-event.ts";
import { newCanonicalFacts, parseCanonicalFacts, parseCanonicalOrder } from "./parse-canonical-order.ts";
import { Prng } from "./prng.ts";
import { Simulator } from "./simulator.ts";
import {
  parseIsoUtcMs,
  parseIsoUtcMsAt,
  REJECT_REASONS,
  type ValidateOptions,
  validateForCounting,
  validateOrder,
  validateOrderGeneral,
  validateOrderRange,
} from "./validate-order.ts";

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

test("parseIsoUtcMs() agrees with Date.UTC on every day from 1970 to 2100, every 7th to 9999, and on the edges of a day", () => {
  const wrong: string[] = [];
  for (let ms = 0; ms < Date.UTC(10_000, 0, 1); ms += ms < Date.UTC(2101, 0, 1) ? 86_400_000 : 7 * 86_400_000) {
    for (const offset of [0, 86_399_999, 45_296_789]) {
      const iso = new Date(ms + offset).toISOString();
      if (parseIsoUtcMs(iso) !== ms + offset) wrong.push(iso);
      if (isoAt(iso) !== ms + offset) wrong.push(`${iso} (bytes)`);
    }
  }
  expect(wrong).toEqual([]);
});

test("parseIsoUtcMs() rejects impossible calendar dates and out-of-range fields", () => {
  const texts = [
    "2026-02-30T00:00:00.000Z", "2026-04-31T00:00:00.000Z", "2100-02-29T00:00:00.000Z", "2026-00-10T00:00:00.000Z",
    "2026-13-10T00:00:00.000Z", "2026-01-00T00:00:00.000Z", "2026-01-32T00:00:00.000Z", "2026-01-10T00:60:00.000Z",
    "2026-01-10T00:00:60.000Z", "1969-12-31T23:59:59.999Z", "2026-01-10T00:00:00.00aZ", "2026-01-10T00:00:00,000Z",
    "+02026-01-10T00:00:00.000Z", "2026-1-10T00:00:00.000Z ", "2026-01-10T00:00:00.0000", "２026-01-10T00:00:00.000Z",
  ];
  expect(texts.map(parseIsoUtcMs)).toEqual(texts.map(() => undefined));
  expect(texts.map(isoAt)).toEqual(texts.map(() => undefined));
  expect(parseIsoUtcMs("2000-02-29T23:59:59.999Z")).toBe(Date.UTC(2000, 1, 29, 23, 59, 59, 999));
  expect(isoAt("2000-02-29T23:59:59.999Z")).toBe(Date.UTC(2000, 1, 29, 23, 59, 59, 999));
});

/** parseIsoUtcMsAt of `text`'s UTF-8 bytes placed in a larger buffer, valid date bytes around them. */
function isoAt(text: string): number | undefined {
  const bytes = encode(text);
  const around = encode("2026-01-10T00:00:00.000Z");
  const buffer = new Uint8Array(around.length * 2 + bytes.length);
  buffer.set(around, 0);
  buffer.set(bytes, around.length);
  buffer.set(around, around.length + bytes.length);
  return parseIsoUtcMsAt(buffer, around.length, around.length + bytes.length);
}

test("parseIsoUtcMsAt() declines a range outside its buffer", () => {
  const bytes = encode("2026-01-10T00:00:00.000Z");
  expect(parseIsoUtcMsAt(bytes, 0, bytes.length)).toBe(Date.UTC(2026, 0, 10));
  expect(parseIsoUtcMsAt(bytes, 1, bytes.length + 1)).toBeUndefined();
  expect(parseIsoUtcMsAt(bytes, -1, bytes.length - 1)).toBeUndefined();
});

/** The fields counting reads, in a fixed order. */
function countable(e: CountableOrder) {
  return {
    event_id: e.event_id,
    user_id: e.user_id,
    items: e.items.map((i) => ({ category: i.category, qty: i.qty, unit_price_minor: i.unit_price_minor })),
    total_usd_cents: e.total_usd_cents,
    country: e.country,
  };
}

const facts = newCanonicalFacts();

/** The event `facts` describe, rebuilt by hand from their values and byte ranges in `bytes`. */
function factsAsOrder(bytes: Uint8Array) {
  const text = (start: number, end: number) => new TextDecoder().decode(bytes.subarray(start, end));
  return {
    schema_version: 1,
    event_id: facts.event_id,
    order_id: text(facts.orderIdStart, facts.orderIdEnd),
    user_id: facts.user_id,
    created_at: text(facts.createdAtStart, facts.createdAtEnd),
    items: facts.items.map((i) => ({ sku: text(i.skuStart, i.skuEnd), category: i.category, qty: i.qty, unit_price_minor: i.unit_price_minor })),
    discount_minor: facts.discount_minor,
    total: { amount_minor: facts.amount_minor, currency: facts.currency },
    total_usd_cents: facts.total_usd_cents,
    country: facts.country,
    payment_method: facts.payment_method,
    channel: facts.channel,
    status: facts.status,
  };
}

/**
 * Each input through validateOrder(), validateOrderRange(), validateForCounting() and the
 * parser's two forms, against validateOrderGeneral() and JSON.parse; returns descriptions of the
 * differences.
 */
function differences(inputs: Iterable<{ bytes: Uint8Array; options: ValidateOptions; label: string }>): string[] {
  const decoder = new TextDecoder();
  const out: string[] = [];
  for (const { bytes, options, label } of inputs) {
    const fast = validateOrder(bytes, options);
    const general = validateOrderGeneral(bytes, options);
    // JSON.stringify compares key order too, which toEqual would not.
    if (JSON.stringify(fast) !== JSON.stringify(general) || !Bun.deepEquals(fast, general, true)) {
      out.push(`${label}: ${decoder.decode(bytes).slice(0, 200)} fast ${JSON.stringify(fast).slice(0, 200)} general ${JSON.stringify(general).slice(0, 200)}`);
    }
    // The same bytes as a range of a larger buffer (how the aggregator reads a fetch response),
    // followed by a copy of themselves, so a read past the range's end would find plausible bytes.
    const embedded = new Uint8Array(3 + 2 * bytes.length);
    embedded.set([0x7b, 0x22, 0x22], 0);
    embedded.set(bytes, 3);
    embedded.set(bytes, 3 + bytes.length);
    const ranged = validateOrderRange(embedded, 3, 3 + bytes.length, options);
    if (JSON.stringify(ranged) !== JSON.stringify(general) || !Bun.deepEquals(ranged, general, true)) {
      out.push(`${label}: ${decoder.decode(bytes).slice(0, 200)} range ${JSON.stringify(ranged).slice(0, 200)} general ${JSON.stringify(general).slice(0, 200)}`);
    }
    // The lean result for the aggregator: the same verdict, reason and detail, and of an accepted
    // event the same fields counting reads. One result object serves every call: read it now.
    const counting = validateForCounting(embedded, 3, 3 + bytes.length, options);
    const countingView = JSON.stringify(counting.ok ? { ok: true, event: countable(counting.event), eventTimeMs: counting.eventTimeMs } : counting);
    const generalView = JSON.stringify(general.ok ? { ok: true, event: countable(general.event), eventTimeMs: general.eventTimeMs } : general);
    if (countingView !== generalView) out.push(`${label}: ${decoder.decode(bytes).slice(0, 200)} counting ${countingView.slice(0, 200)} general ${generalView.slice(0, 200)}`);
    // The parser's own contract, independent of validation: whatever it returns is JSON.parse's
    // value, and its facts (one object, reused from input to input) are the same values.
    const parsed = parseCanonicalOrder(bytes);
    if (parsed !== undefined && JSON.stringify(parsed) !== JSON.stringify(JSON.parse(decoder.decode(bytes)))) {
      out.push(`${label}: parser differs from JSON.parse on ${decoder.decode(bytes).slice(0, 200)}`);
    }
    const scanned = parseCanonicalFacts(embedded, 3, 3 + bytes.length, facts);
    if (scanned !== (parsed !== undefined)) out.push(`${label}: parseCanonicalFacts says ${scanned}, parseCanonicalOrder ${parsed !== undefined}`);
    else if (scanned && JSON.stringify(factsAsOrder(embedded)) !== JSON.stringify(JSON.parse(decoder.decode(bytes)))) {
      out.push(`${label}: facts ${JSON.stringify(facts).slice(0, 300)} differ from JSON.parse on ${decoder.decode(bytes).slice(0, 200)}`);
    }
    if (out.length >= 10) break;
  }
  return out;
}

test("validateOrder(), validateForCounting() and the parser agree with the general path on 100,000 simulator events of every kind", () => {
  const sim = new Simulator({
    seed: 77,
    startMs: Date.parse("2026-11-27T18:00:00.000Z"),
    malformedFraction: 0.2,
    lateFraction: 0.05,
    outOfOrderFraction: 0.2,
    duplicateFraction: 0.02,
    catalog: { products: 300 },
    customers: { customers: 2_000 },
  });
  const kinds = new Map<string, number>();
  function* records() {
    for (let i = 0; i < 100_000; i++) {
      const r = sim.next();
      const label = r.fault ?? r.kind;
      kinds.set(label, (kinds.get(label) ?? 0) + 1);
      // Every fifth record checked against a tighter clock, so the time bounds differ too.
      const options = i % 5 === 0 ? { nowMs: r.emittedAtMs - 60_000, maxFutureMs: 30_000, maxPastMs: 90_000 } : { nowMs: r.emittedAtMs };
      yield { bytes: r.value, options, label };
    }
  }
  expect(differences(records())).toEqual([]);
  expect(kinds.size).toBeGreaterThan(14);
}, 60_000);

/** Ways to rewrite canonical JSON text: each keeps it close to the fast path's shape, one step off. */
const NUMBER_VARIANTS = ["1e3", "1E2", "1.0", "1.5", "-0", "-1", "0", "00", "01", "0.0", "1e0", "9007199254740993",
  "123456789012345678901", "999999999999999", "1000000000000000", "1000", "1001", "1000000000", "1000000001", "-0.0", "2e-0"];
/** JSON source text for a string's contents: escapes are JSON escapes here, and "\n" / "\u0007" raw control characters. */
const STRING_VARIANTS = ["", "x".repeat(64), "x".repeat(65), "é", "😀", "a\\u0062c", "\\/", "\\\"", "a\\\\b", "\\n", "\\u0000",
  "\n", "\u0007", "\u007f", "EUR", "usd", "card", "pos", "paid", "DE", "de", "D", "DEU", "2026-02-30T10:00:00.000Z",
  "2026-11-28T10:14:59.123Z", "2026-11-28T10:14:59Z", "__proto__", "constructor", "toString", "\\u0045UR", "ca\\u0072d"];
const INSERTIONS = ['"__proto__":{},', '"__proto__":null,', '"coupon":"X",', '"constructor":1,', '"status":"paid",', '"channel":"fax",',
  '"schema_version":1,', '"items":[],', '"total":{"amount_minor":1,"currency":"USD"},', '"created_at":"2026-11-28T10:14:59.999Z",'];

function mutate(text: string, prng: Prng): string {
  switch (prng.int(0, 11)) {
    case 0: { // byte-level damage is done by the caller; here, a flip to a JSON-significant character
      const i = prng.int(0, text.length - 1);
      return text.slice(0, i) + prng.pick(['"', ",", ":", "{", "}", "[", "]", "\\", "0", "9", "-", ".", "e", " ", "a"]) + text.slice(i + 1);
    }
    case 1: { // whitespace anywhere
      const i = prng.int(0, text.length);
      return text.slice(0, i) + prng.pick([" ", "\t", "\n", "\r", "  "]) + text.slice(i);
    }
    case 2: { // a number token replaced
      const numbers = [...text.matchAll(/(?<=:)\d+/g)];
      const m = prng.pick(numbers);
      return text.slice(0, m.index) + prng.pick(NUMBER_VARIANTS) + text.slice(m.index + m[0].length);
    }
    case 3: { // a string value replaced
      const strings = [...text.matchAll(/(?<=:")[^"]*/g)];
      const m = prng.pick(strings);
      return text.slice(0, m.index) + prng.pick(STRING_VARIANTS) + text.slice(m.index + m[0].length);
    }
    case 4: { // one character of a string value escaped as \uXXXX (same value after JSON.parse)
      const strings = [...text.matchAll(/(?<=:")[^"]+/g)];
      const m = prng.pick(strings);
      const i = m.index + prng.int(0, m[0].length - 1);
      return `${text.slice(0, i)}\\u${text.charCodeAt(i).toString(16).padStart(4, "0")}${text.slice(i + 1)}`;
    }
    case 5: { // a key inserted after some opening brace: duplicates (first or last wins), unknown keys, __proto__
      const braces = [...text.matchAll(/\{/g)];
      const m = prng.pick(braces);
      return text.slice(0, m.index + 1) + prng.pick(INSERTIONS) + text.slice(m.index + 1);
    }
    case 6: { // a duplicate of an existing key appended at the end of the top level
      const o = JSON.parse(text) as Record<string, unknown>;
      const key = prng.pick(Object.keys(o));
      const value = prng.chance(0.5) ? o[key] : prng.pick([0, 1, "x", null, [], {}]);
      return `${text.slice(0, -1)},${JSON.stringify(key)}:${JSON.stringify(value)}}`;
    }
    case 7: { // keys reordered at the top level, in an item or in total
      const o = JSON.parse(text) as Record<string, any>;
      const shuffle = (x: Record<string, unknown>) => {
        const keys = Object.keys(x);
        for (let i = keys.length - 1; i > 0; i--) {
          const j = prng.int(0, i);
          [keys[i], keys[j]] = [keys[j]!, keys[i]!];
        }
        return Object.fromEntries(keys.map((k) => [k, x[k]]));
      };
      const where = prng.int(0, 2);
      if (where === 0) return JSON.stringify(shuffle(o));
      if (where === 1) o.items[prng.int(0, o.items.length - 1)] = shuffle(o.items[0]);
      else o.total = shuffle(o.total);
      return JSON.stringify(o);
    }
    case 8: // truncated, or something after the end
      return prng.chance(0.5) ? text.slice(0, prng.int(0, text.length - 1)) : text + prng.pick([" ", "\n", "}", ",", "x", "\u0000"]);
    case 9: { // item count: none, or beyond the limit, or one more
      const o = JSON.parse(text) as Record<string, any>;
      const n = prng.pick([0, 99, 100, 101]);
      o.items = Array.from({ length: n }, () => o.items[0]);
      return JSON.stringify(o);
    }
    case 10: // a BOM, or a byte order mark inside a string
      return prng.chance(0.5) ? `\uFEFF${text}` : text.replace('"u-', '"\uFEFFu-');
    default: { // a value of the wrong JSON type
      const strings = [...text.matchAll(/(?<=:)("[^"]*"|\d+)/g)];
      const m = prng.pick(strings);
      return text.slice(0, m.index) + prng.pick(["null", "true", "[]", "{}", '"1"', "1", "[1]"]) + text.slice(m.index + m[0].length);
    }
  }
}

test("validateOrder(), validateForCounting() and the parser agree with the general path on mutations of canonical events", () => {
  const sim = new Simulator({ seed: 5, startMs: NOW_MS - 3_600_000, catalog: { products: 50 }, customers: { customers: 50 } });
  const canonical: { bytes: Uint8Array; nowMs: number }[] = [];
  for (let i = 0; i < 500; i++) {
    const r = sim.next();
    canonical.push({ bytes: r.value, nowMs: r.emittedAtMs });
  }
  canonical.push({ bytes: encode(encodeOrderEvent(EVENT)), nowMs: NOW_MS });
  const prng = new Prng(4242);
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  function* inputs() {
    for (let i = 0; i < 60_000; i++) {
      const base = prng.pick(canonical);
      let bytes: Uint8Array;
      if (i % 4 === 0) {
        bytes = base.bytes.slice();
        for (let k = prng.int(1, 3); k > 0; k--) bytes[prng.int(0, bytes.length - 1)] = prng.int(0, 255);
      } else {
        let text = decoder.decode(base.bytes);
        for (let k = prng.chance(0.2) ? 2 : 1; k > 0; k--) {
          try {
            text = mutate(text, prng);
          } catch {
            // a structural rewrite needs parseable input; a first mutation may have broken it
          }
        }
        bytes = encoder.encode(text);
      }
      yield { bytes, options: { nowMs: base.nowMs }, label: `mutation ${i}` };
    }
  }
  expect(differences(inputs())).toEqual([]);
}, 60_000);
