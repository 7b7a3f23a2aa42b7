/**
 * lib/event/order-event.schema.json against the TypeScript definition and the hand-written validator.
 * The schema is checked by a small JSON-Schema interpreter below (the keywords the file uses,
 * nothing more), so the test needs no schema library and no network.
 */
import { expect, test } from "bun:test";
import { LIMITS, type RejectReason, validateOrder } from "./validate-order.ts";
import { CHANNELS, CURRENCIES, ORDER_STATUSES, PAYMENT_METHODS, SCHEMA_VERSION } from "./order-event.ts";
import { Simulator } from "./simulator.ts";
import schema from "./order-event.schema.json" with { type: "json" };

type Schema = Record<string, any>;

/** Problems with `value` under `s`, as JSON-pointer-ish paths; empty when it conforms. */
function schemaProblems(s: Schema, value: unknown, path = ""): string[] {
  const out: string[] = [];
  const type = Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
  if ("const" in s && value !== s.const) out.push(`${path}: not ${JSON.stringify(s.const)}`);
  if (s.enum && !s.enum.includes(value)) out.push(`${path}: not in enum`);
  if (s.type === "integer" && !(typeof value === "number" && Number.isInteger(value))) out.push(`${path}: not integer`);
  else if (s.type && s.type !== "integer" && s.type !== type) out.push(`${path}: not ${s.type}`);
  if (typeof value === "number") {
    if (s.minimum !== undefined && value < s.minimum) out.push(`${path}: below minimum`);
    if (s.maximum !== undefined && value > s.maximum) out.push(`${path}: above maximum`);
  }
  if (typeof value === "string") {
    if (s.minLength !== undefined && value.length < s.minLength) out.push(`${path}: shorter than minLength`);
    if (s.maxLength !== undefined && value.length > s.maxLength) out.push(`${path}: longer than maxLength`);
    if (s.pattern && !new RegExp(s.pattern, "u").test(value)) out.push(`${path}: does not match pattern`);
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems) out.push(`${path}: fewer than minItems`);
    if (s.maxItems !== undefined && value.length > s.maxItems) out.push(`${path}: more than maxItems`);
    if (s.items) value.forEach((v, i) => out.push(...schemaProblems(s.items, v, `${path}/${i}`)));
  }
  if (type === "object") {
    const o = value as Record<string, unknown>;
    for (const key of s.required ?? []) if (!(key in o)) out.push(`${path}/${key}: required`);
    for (const [key, v] of Object.entries(o)) {
      if (s.properties?.[key]) out.push(...schemaProblems(s.properties[key], v, `${path}/${key}`));
      else if (s.additionalProperties === false) out.push(`${path}/${key}: not allowed`);
    }
  }
  return out;
}

/** Reasons JSON Schema can express; every other reason is a cross-field or byte-level rule (see the schema's $comment). */
const STRUCTURAL: ReadonlySet<RejectReason> = new Set([
  "not_object",
  "missing_field",
  "unknown_field",
  "wrong_type",
  "bad_schema_version",
  "bad_value",
  "negative_amount",
  "unknown_currency",
]);

test("the JSON Schema's enums and constants are the TypeScript definition's", () => {
  const p = schema.properties;
  expect({
    version: p.schema_version.const,
    currencies: p.total.properties.currency.enum,
    payments: p.payment_method.enum,
    channels: p.channel.enum,
    statuses: p.status.enum,
    maxItems: p.items.maxItems,
    maxQty: p.items.items.properties.qty.maximum,
    maxPrice: p.items.items.properties.unit_price_minor.maximum,
    maxString: p.order_id.maxLength,
  }).toEqual({
    version: SCHEMA_VERSION,
    currencies: [...CURRENCIES],
    payments: [...PAYMENT_METHODS],
    channels: [...CHANNELS],
    statuses: [...ORDER_STATUSES],
    maxItems: LIMITS.maxItems,
    maxQty: LIMITS.maxQty,
    maxPrice: LIMITS.maxUnitPriceMinor,
    maxString: LIMITS.maxStringLength,
  });
});

test("the JSON Schema requires exactly the fields a generated event has, in order", () => {
  const sim = new Simulator({ seed: 3, startMs: 0, catalog: { products: 100 }, customers: { customers: 100 } });
  const event = JSON.parse(new TextDecoder().decode(sim.next().value));
  expect(schema.required).toEqual(Object.keys(event));
  expect(schema.properties.items.items.required).toEqual(Object.keys(event.items[0]));
});

test("the JSON Schema and validateOrder() agree on generated valid and malformed events", () => {
  const sim = new Simulator({
    seed: 11,
    startMs: Date.parse("2026-11-27T18:00:00.000Z"),
    malformedFraction: 0.5,
    lateFraction: 0.1,
    catalog: { products: 300 },
    customers: { customers: 2_000 },
  });
  const decoder = new TextDecoder();
  const disagreements: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < 6_000; i++) {
    const record = sim.next();
    const result = validateOrder(record.value, { nowMs: record.emittedAtMs });
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoder.decode(record.value, { stream: false }));
    } catch {
      continue; // not JSON or not UTF-8 text: nothing for a JSON Schema to judge
    }
    if (record.value.length > LIMITS.maxEventBytes && !result.ok && result.reason === "too_large") continue;
    const problems = schemaProblems(schema, parsed);
    const reason = result.ok ? "ok" : result.reason;
    seen.add(reason);
    const createdAt = (parsed as { created_at?: unknown }).created_at;
    const schemaShouldReject = result.ok
      ? false
      : STRUCTURAL.has(result.reason) ||
        result.reason === "too_large" ||
        // a calendar date that does not exist (Feb 30) has the right shape: only validateOrder catches it
        (result.reason === "bad_timestamp" && !new RegExp(schema.properties.created_at.pattern).test(String(createdAt)));
    if (schemaShouldReject !== problems.length > 0) {
      disagreements.push(`${record.fault ?? record.kind}: validator ${reason}, schema ${problems.join("; ") || "ok"}`);
    }
  }
  expect(disagreements.slice(0, 10)).toEqual([]);
  expect(seen.size).toBeGreaterThan(8);
});
