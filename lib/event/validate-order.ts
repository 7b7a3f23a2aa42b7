/**
 * The runtime check of an order event as it arrives off the wire: bytes in, either the typed
 * event and its event time, or one reason code from a closed set plus a human detail.
 *
 * The aggregator calls this on every message, so it is hand-written (no schema interpreter) and
 * never throws, whatever the bytes. `lib/event/order-event.schema.json` describes the same shape for
 * other tools; `validate-order-schema.test.ts` keeps the two in agreement.
 */
import { toUsdCents } from "./currency.ts";
import { type CanonicalFacts, canonicalOrderOf, newCanonicalFacts, parseCanonicalFacts } from "./parse-canonical-order.ts";
import {
  CHANNELS,
  CURRENCIES,
  type Currency,
  ORDER_EVENT_FIELDS,
  ORDER_STATUSES,
  type CountableOrder,
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

/**
 * What {@link validateForCounting} gives: on success, the part of the event that counting reads
 * (an {@link OrderEvent} is one too).
 */
export type CountingResult =
  | { ok: true; event: CountableOrder; eventTimeMs: number }
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

const TOP_LEVEL_FIELDS = ORDER_EVENT_FIELDS;
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

/**
 * Checks one message. Takes the fast path (lib/event/parse-canonical-order.ts) for a valid event in the
 * producer's canonical encoding, and `validateOrderGeneral` for everything else, so every result —
 * each rejection reason and detail included — is the general path's (the differential tests in
 * lib/event/validate-order.test.ts).
 */
export function validateOrder(bytes: Uint8Array, options: ValidateOptions): ValidationResult {
  return validateOrderRange(bytes, 0, bytes.length, options);
}

/**
 * `validateOrder` of the event in `bytes[start, end)`: the same result as for a copy of those
 * bytes. The fast path reads the range in place; only the general path makes a view of it.
 */
export function validateOrderRange(bytes: Uint8Array, start: number, end: number, options: ValidateOptions): ValidationResult {
  const result = validateForCounting(bytes, start, end, options);
  // Anything but the fast path's reused result is the general path's, with its full event.
  if (result !== counted) return result as ValidationResult;
  return { ok: true, event: canonicalOrderOf(bytes, countingFacts) as OrderEvent, eventTimeMs: result.eventTimeMs };
}

const countingFacts = newCanonicalFacts();
/** The one success result of validateForCounting's fast path, filled again by every call. */
const counted: { ok: true; event: CanonicalFacts; eventTimeMs: number } = { ok: true, event: countingFacts, eventTimeMs: 0 };

/**
 * `validateOrderRange` for a caller that only counts the event (the aggregator): the same
 * verdict, reason and detail, but a valid event in the canonical encoding comes back as its
 * {@link CanonicalFacts} — no order_id, created_at or sku strings, no new objects. That result
 * and its event are reused by the next call: read them first, keep none of it but its strings.
 */
export function validateForCounting(bytes: Uint8Array, start: number, end: number, options: ValidateOptions): CountingResult {
  return validateFast(bytes, start, end, options, countingFacts, counted);
}

const leanFacts = Object.assign(newCanonicalFacts(), { idStrings: false });
const leanCounted: { ok: true; event: CanonicalFacts; eventTimeMs: number } = { ok: true, event: leanFacts, eventTimeMs: 0 };

/**
 * `validateForCounting` for a caller that copies the event's bytes (the lake writer): the same
 * verdict, but the fast path's facts leave event_id and user_id as byte ranges only (their
 * strings are empty), one string allocation fewer per id.
 */
export function validateForCopying(bytes: Uint8Array, start: number, end: number, options: ValidateOptions): CountingResult {
  return validateFast(bytes, start, end, options, leanFacts, leanCounted);
}

function validateFast(
  bytes: Uint8Array,
  start: number,
  end: number,
  options: ValidateOptions,
  facts: CanonicalFacts,
  result: { ok: true; event: CanonicalFacts; eventTimeMs: number },
): CountingResult {
  if (end - start <= LIMITS.maxEventBytes) {
    try {
      if (parseCanonicalFacts(bytes, start, end, facts)) {
        const eventTimeMs = acceptedTimeMs(bytes, facts, options);
        if (eventTimeMs !== undefined) {
          result.eventTimeMs = eventTimeMs;
          return result;
        }
      }
    } catch {
      // As in validateOrderRange.
    }
  }
  return validateOrderGeneral(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end), options);
}

/**
 * The event time of a canonically encoded event (scanned from `bytes` into `e`) that passes every
 * check of `check` below, or `undefined` when any check fails (the caller then lets the general
 * path say why). The scan already guarantees the shape, the key set, schema_version 1, strings of
 * at most 64 ASCII characters and integers that are non-negative and exact.
 */
function acceptedTimeMs(bytes: Uint8Array, e: CanonicalFacts, options: ValidateOptions): number | undefined {
  // Strings are at most 64 characters (the scan's limit and LIMITS.maxStringLength): only empty ones fail here.
  if (e.eventIdEnd === e.eventIdStart || e.orderIdEnd === e.orderIdStart || e.userIdEnd === e.userIdStart) return undefined;
  const eventTimeMs = parseIsoUtcMsAt(bytes, e.createdAtStart, e.createdAtEnd);
  if (eventTimeMs === undefined) return undefined;
  if (!CURRENCY_SET.has(e.currency)) return undefined;
  const items = e.items;
  if (items.length === 0 || items.length > LIMITS.maxItems) return undefined;
  let subtotalMinor = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (item.skuEnd === item.skuStart || item.category.length === 0) return undefined;
    if (item.qty < 1 || item.qty > LIMITS.maxQty || item.unit_price_minor > LIMITS.maxUnitPriceMinor) return undefined;
    subtotalMinor += item.qty * item.unit_price_minor;
  }
  if (!PAYMENT_SET.has(e.payment_method) || !CHANNEL_SET.has(e.channel) || !STATUS_SET.has(e.status)) return undefined;
  if (!isCountryCode(e.country)) return undefined;
  const amount = e.amount_minor;
  if (amount !== subtotalMinor - e.discount_minor) return undefined;
  if (e.total_usd_cents !== toUsdCents(amount, e.currency as Currency)) return undefined;
  if (eventTimeMs > options.nowMs + (options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS)) return undefined;
  if (eventTimeMs < options.nowMs - (options.maxPastMs ?? DEFAULT_MAX_PAST_MS)) return undefined;
  return eventTimeMs;
}

/** What the COUNTRY pattern matches, without a regular expression call. */
function isCountryCode(text: string): boolean {
  if (text.length !== 2) return false;
  const a = text.charCodeAt(0);
  const b = text.charCodeAt(1);
  return a >= 65 && a <= 90 && b >= 65 && b <= 90;
}

/**
 * The reference check: decode, `JSON.parse`, then every rule in order. Any input, any encoding;
 * what `validateOrder` falls back to, and what its fast path is tested against.
 */
export function validateOrderGeneral(bytes: Uint8Array, options: ValidateOptions): ValidationResult {
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
 * shapes and rolls Feb 30 over to March. Exact integer arithmetic, no `Date`: it runs once per
 * event (tested against `Date.UTC` for every day from 1970 to 2100).
 */
export function parseIsoUtcMs(text: string): number | undefined {
  if (text.length !== 24) return undefined;
  if (
    text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 84 || text.charCodeAt(13) !== 58 ||
    text.charCodeAt(16) !== 58 || text.charCodeAt(19) !== 46 || text.charCodeAt(23) !== 90
  ) {
    return undefined;
  }
  return utcMs(digits(text, 0, 4), digits(text, 5, 7), digits(text, 8, 10), digits(text, 11, 13), digits(text, 14, 16), digits(text, 17, 19), digits(text, 20, 23));
}

/** `parseIsoUtcMs` of the ASCII text in `bytes[start, end)`, without making it a string. */
export function parseIsoUtcMsAt(bytes: Uint8Array, start: number, end: number): number | undefined {
  if (end - start !== 24 || start < 0 || end > bytes.length) return undefined;
  const b = start;
  if (
    bytes[b + 4] !== 45 || bytes[b + 7] !== 45 || bytes[b + 10] !== 84 || bytes[b + 13] !== 58 ||
    bytes[b + 16] !== 58 || bytes[b + 19] !== 46 || bytes[b + 23] !== 90
  ) {
    return undefined;
  }
  return utcMs(
    digitsAt(bytes, b, b + 4),
    digitsAt(bytes, b + 5, b + 7),
    digitsAt(bytes, b + 8, b + 10),
    digitsAt(bytes, b + 11, b + 13),
    digitsAt(bytes, b + 14, b + 16),
    digitsAt(bytes, b + 17, b + 19),
    digitsAt(bytes, b + 20, b + 23),
  );
}

/** The instant of parsed date and time fields (-1: not digits), or `undefined` when they name none. */
function utcMs(year: number, month: number, day: number, hour: number, minute: number, second: number, ms: number): number | undefined {
  // No order predates the epoch (and Date.UTC would map years 0..99 to 1900..1999).
  if (year < 1970 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23) return undefined;
  if (minute < 0 || minute > 59 || second < 0 || second > 59 || ms < 0) return undefined;
  if (day > daysInMonth(year, month)) return undefined;
  return daysSinceEpoch(year, month, day) * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1_000 + ms;
}

/** `digits` of bytes[from, to). */
function digitsAt(bytes: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = bytes[i]! - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** The decimal number in text[from, to), or -1 if any character there is not an ASCII digit. */
function digits(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days from 1970-01-01 to a proleptic Gregorian date, year ≥ 1970 (Hinnant's days_from_civil). */
function daysSinceEpoch(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}
