/**
 * The runtime check of an order event as it arrives off the wire: bytes in, either the typed
 * event and its event time, or one reason code from a closed set plus a human detail.
 *
 * The aggregator calls this on every message, so it is hand-written (no schema interpreter) and
 * never throws, whatever the bytes. `lib/order-event.schema.json` describes the same shape for
 * other tools; `validate-order-schema.test.ts` keeps the two in agreement.
 */
import { toUsdCents } from "./currency.ts";
import {
  CHANNELS,
  CURRENCIES,
  type Currency,
  ORDER_STATUSES,
  type OrderEvent,
  PAYMENT_METHODS,
  SCHEMA_VERSION,
} from "./order-event.ts";

export const REJECT_REASONS = [
  "too_large", // the message, a string or a number is larger than the limits below
  "not_utf8",
  "not_json",
  "not_object", // JSON, but not an object at the top level
  "missing_field",
  "unknown_field",
  "wrong_type",
  "bad_schema_version",
  "bad_value", // right type, but not an allowed value (enum, format, qty < 1, empty id)
  "negative_amount",
  "unknown_currency",
  "total_mismatch", // total.amount_minor ≠ Σ qty × unit_price_minor − discount_minor
  "usd_mismatch", // total_usd_cents ≠ toUsdCents(total)
  "bad_timestamp", // created_at is not ISO-8601 UTC with milliseconds and Z, or not a real date
  "future_timestamp",
  "past_timestamp",
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export type ValidationResult =
  | { ok: true; event: OrderEvent; eventTimeMs: number }
  | { ok: false; reason: RejectReason; detail: string };

export interface ValidateOptions {
  /** "Now" for the timestamp bounds, ms since the epoch (a clock or the stream's own time). */
  nowMs: number;
  /** created_at may be at most this far after `nowMs`. Default 5 min. */
  maxFutureMs?: number;
  /** created_at may be at most this far before `nowMs`. Default 1 day. */
  maxPastMs?: number;
}

/** Limits that keep one bad producer from costing the aggregator memory or exact arithmetic. */
export const LIMITS = {
  /** Bytes of one encoded event. */
  maxEventBytes: 16_384,
  /** Characters of any id, sku or category. */
  maxStringLength: 64,
  maxItems: 100,
  maxQty: 1_000,
  /** Minor units of one unit price: with maxItems and maxQty, sums stay below 2^53 and exact. */
  maxUnitPriceMinor: 1_000_000_000,
} as const;

export const DEFAULT_MAX_FUTURE_MS = 5 * 60_000;
export const DEFAULT_MAX_PAST_MS = 24 * 3_600_000;

const TOP_LEVEL_FIELDS = [
  "schema_version",
  "event_id",
  "order_id",
  "user_id",
  "created_at",
  "items",
  "discount_minor",
  "total",
  "total_usd_cents",
  "country",
  "payment_method",
  "channel",
  "status",
] as const;
const TOP_LEVEL_SET: ReadonlySet<string> = new Set(TOP_LEVEL_FIELDS);
const ITEM_FIELDS = ["sku", "category", "qty", "unit_price_minor"] as const;
const ITEM_SET: ReadonlySet<string> = new Set(ITEM_FIELDS);
const TOTAL_FIELDS = ["amount_minor", "currency"] as const;
const TOTAL_SET: ReadonlySet<string> = new Set(TOTAL_FIELDS);
const CURRENCY_SET: ReadonlySet<string> = new Set(CURRENCIES);
const PAYMENT_SET: ReadonlySet<string> = new Set(PAYMENT_METHODS);
const CHANNEL_SET: ReadonlySet<string> = new Set(CHANNELS);
const STATUS_SET: ReadonlySet<string> = new Set(ORDER_STATUSES);
const COUNTRY = /^[A-Z]{2}$/;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Thrown inside this module only, to leave deep checks early; never escapes `validateOrder`. */
class Reject {
  constructor(readonly reason: RejectReason, readonly detail: string) {}
}

export function validateOrder(bytes: Uint8Array, options: ValidateOptions): ValidationResult {
  try {
    return check(bytes, options);
  } catch (error) {
    if (error instanceof Reject) return { ok: false, reason: error.reason, detail: error.detail };
    // Nothing below should throw anything else; if it does, the message is still rejected, not the consumer.
    return { ok: false, reason: "not_json", detail: `unexpected error while checking: ${String(error)}` };
  }
}

function check(bytes: Uint8Array, options: ValidateOptions): ValidationResult {
  if (bytes.length > LIMITS.maxEventBytes) {
    return reject("too_large", `event is ${bytes.length} bytes; at most ${LIMITS.maxEventBytes}`);
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return reject("not_utf8", "event bytes are not valid UTF-8");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return reject("not_json", error instanceof Error ? error.message : "invalid JSON");
  }
  if (!isPlainObject(parsed)) return reject("not_object", `top level is ${typeName(parsed)}, not an object`);
  const o = parsed;

  checkFields(o, TOP_LEVEL_FIELDS, TOP_LEVEL_SET, "");
  if (o.schema_version !== SCHEMA_VERSION) {
    if (typeof o.schema_version !== "number") throw wrongType("schema_version", "number", o.schema_version);
    throw new Reject("bad_schema_version", `schema_version ${o.schema_version}; this reader knows ${SCHEMA_VERSION}`);
  }
  checkId(o, "event_id");
  checkId(o, "order_id");
  checkId(o, "user_id");

  if (typeof o.created_at !== "string") throw wrongType("created_at", "string", o.created_at);
  const eventTimeMs = parseIsoUtcMs(o.created_at);
  if (eventTimeMs === undefined) {
    throw new Reject("bad_timestamp", `created_at ${clip(o.created_at)} is not YYYY-MM-DDTHH:MM:SS.mmmZ`);
  }

  const total = o.total;
  if (!isPlainObject(total)) throw wrongType("total", "object", total);
  checkFields(total, TOTAL_FIELDS, TOTAL_SET, "total.");
  if (typeof total.currency !== "string") throw wrongType("total.currency", "string", total.currency);
  if (!CURRENCY_SET.has(total.currency)) {
    throw new Reject("unknown_currency", `total.currency ${clip(total.currency)} is not one of ${CURRENCIES.join(", ")}`);
  }
  const currency = total.currency as Currency;

  const items = o.items;
  if (!Array.isArray(items)) throw wrongType("items", "array", items);
  if (items.length === 0) throw new Reject("bad_value", "items is empty");
  if (items.length > LIMITS.maxItems) throw new Reject("too_large", `${items.length} items; at most ${LIMITS.maxItems}`);
  let subtotalMinor = 0;
  for (let i = 0; i < items.length; i++) {
    const item: unknown = items[i];
    const path = `items[${i}].`;
    if (!isPlainObject(item)) throw wrongType(`items[${i}]`, "object", item);
    checkFields(item, ITEM_FIELDS, ITEM_SET, path);
    checkString(item, "sku", path);
    checkString(item, "category", path);
    const qty = checkInteger(item, "qty", path, LIMITS.maxQty);
    if (qty < 1) throw new Reject("bad_value", `${path}qty is ${qty}; at least 1`);
    const price = checkInteger(item, "unit_price_minor", path, LIMITS.maxUnitPriceMinor);
    subtotalMinor += qty * price;
  }
  const discount = checkInteger(o, "discount_minor", "", Number.MAX_SAFE_INTEGER);
  const amount = checkInteger(total, "amount_minor", "total.", Number.MAX_SAFE_INTEGER);
  const usdCents = checkInteger(o, "total_usd_cents", "", Number.MAX_SAFE_INTEGER);

  checkEnum(o, "payment_method", PAYMENT_SET);
  checkEnum(o, "channel", CHANNEL_SET);
  checkEnum(o, "status", STATUS_SET);
  if (typeof o.country !== "string") throw wrongType("country", "string", o.country);
  if (!COUNTRY.test(o.country)) throw new Reject("bad_value", `country ${clip(o.country)} is not ISO 3166-1 alpha-2`);

  if (amount !== subtotalMinor - discount) {
    throw new Reject(
      "total_mismatch",
      `total.amount_minor ${amount} ≠ items ${subtotalMinor} − discount_minor ${discount} = ${subtotalMinor - discount}`,
    );
  }
  const expectedUsd = toUsdCents(amount, currency);
  if (usdCents !== expectedUsd) {
    throw new Reject("usd_mismatch", `total_usd_cents ${usdCents} ≠ ${amount} ${currency} at the fixed rate = ${expectedUsd}`);
  }

  const maxFutureMs = options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
  const maxPastMs = options.maxPastMs ?? DEFAULT_MAX_PAST_MS;
  if (eventTimeMs > options.nowMs + maxFutureMs) {
    throw new Reject("future_timestamp", `created_at ${o.created_at} is ${eventTimeMs - options.nowMs} ms ahead of now`);
  }
  if (eventTimeMs < options.nowMs - maxPastMs) {
    throw new Reject("past_timestamp", `created_at ${o.created_at} is ${options.nowMs - eventTimeMs} ms behind now`);
  }
  return { ok: true, event: o as unknown as OrderEvent, eventTimeMs };
}

function reject(reason: RejectReason, detail: string): ValidationResult {
  return { ok: false, reason, detail };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}

function clip(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

function wrongType(path: string, expected: string, got: unknown): Reject {
  return new Reject("wrong_type", `${path} is ${typeName(got)}, expected ${expected}`);
}

/** Missing fields first (the more useful message), then fields the schema does not know. */
function checkFields(o: Record<string, unknown>, fields: readonly string[], known: ReadonlySet<string>, path: string): void {
  for (const field of fields) {
    if (o[field] === undefined) throw new Reject("missing_field", `${path}${field} is missing`);
  }
  for (const field in o) {
    if (!known.has(field)) throw new Reject("unknown_field", `${path}${clip(field)} is not in schema ${SCHEMA_VERSION}`);
  }
}

function checkString(o: Record<string, unknown>, field: string, path: string): string {
  const value = o[field];
  if (typeof value !== "string") throw wrongType(`${path}${field}`, "string", value);
  if (value.length === 0) throw new Reject("bad_value", `${path}${field} is empty`);
  if (value.length > LIMITS.maxStringLength) {
    throw new Reject("too_large", `${path}${field} has ${value.length} characters; at most ${LIMITS.maxStringLength}`);
  }
  return value;
}

function checkId(o: Record<string, unknown>, field: string): void {
  checkString(o, field, "");
}

function checkInteger(o: Record<string, unknown>, field: string, path: string, max: number): number {
  const value = o[field];
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw wrongType(`${path}${field}`, "integer", value);
  }
  if (value < 0) throw new Reject("negative_amount", `${path}${field} is ${value}`);
  if (value > max) throw new Reject("too_large", `${path}${field} is ${value}; at most ${max}`);
  return value;
}

function checkEnum(o: Record<string, unknown>, field: string, allowed: ReadonlySet<string>): void {
  const value = o[field];
  if (typeof value !== "string") throw wrongType(field, "string", value);
  if (!allowed.has(value)) throw new Reject("bad_value", `${field} ${clip(value)} is not one of ${[...allowed].join(", ")}`);
}

/**
 * `YYYY-MM-DDTHH:MM:SS.mmmZ` to ms since the epoch, or `undefined` when the text has another
 * shape or names a date that does not exist (Feb 30). Hand-parsed: `Date.parse` accepts many
 * shapes and rolls Feb 30 over to March.
 */
export function parseIsoUtcMs(text: string): number | undefined {
  if (text.length !== 24) return undefined;
  const c = (i: number) => text.charCodeAt(i);
  if (c(4) !== 45 || c(7) !== 45 || c(10) !== 84 || c(13) !== 58 || c(16) !== 58 || c(19) !== 46 || c(23) !== 90) {
    return undefined;
  }
  const num = (from: number, to: number): number => {
    let n = 0;
    for (let i = from; i < to; i++) {
      const d = c(i) - 48;
      if (d < 0 || d > 9) return -1;
      n = n * 10 + d;
    }
    return n;
  };
  const year = num(0, 4);
  const month = num(5, 7);
  const day = num(8, 10);
  const hour = num(11, 13);
  const minute = num(14, 16);
  const second = num(17, 19);
  const ms = num(20, 23);
  // Date.UTC maps years 0..99 to 1900..1999, and no order predates the epoch anyway.
  if (year < 1970 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23) return undefined;
  if (minute < 0 || minute > 59 || second < 0 || second > 59 || ms < 0) return undefined;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return undefined;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms);
}
