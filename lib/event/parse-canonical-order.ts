/**
 * The validator's fast path: reads an order event straight from its UTF-8 bytes when they are in
 * the canonical form `encodeOrderEvent` writes, skipping `TextDecoder` and `JSON.parse`.
 *
 * Canonical means: the 13 fields, the 4 item fields and the 2 total fields in schema order, each
 * exactly once; no whitespace; `schema_version` is `1`; strings of printable ASCII (0x20..0x7E)
 * without `"` or `\`, at most 64 characters; integers as plain digits (no sign, fraction,
 * exponent or leading zero), at most 15 of them; at least one item. Anything else — another key
 * order, whitespace, an escape, a duplicate or unknown key, `-0`, `1e3`, a BOM — gives
 * `undefined`, and the caller takes the general path. So this never has to get JSON's corner
 * cases right; it only has to recognise the one shape it handles.
 *
 * Contract: when the result is not `undefined`, it is deep-equal to `JSON.parse` of the same
 * bytes, with the same key order (lib/event/parse-canonical-order.test.ts checks this differentially).
 * It checks syntax only: enum values, lengths of zero, dates and sums are the caller's to check.
 * `parseCanonicalFacts` accepts exactly the same events and leaves the same values, with
 * order_id, created_at and the skus as byte ranges instead of strings (lib/event/validate-order.test.ts
 * holds both forms to JSON.parse).
 */

/** The parsed event before its values are checked: enum-typed fields are any string here. */
export interface CanonicalOrder {
  schema_version: 1;
  event_id: string;
  order_id: string;
  user_id: string;
  created_at: string;
  items: { sku: string; category: string; qty: number; unit_price_minor: number }[];
  discount_minor: number;
  total: { amount_minor: number; currency: string };
  total_usd_cents: number;
  country: string;
  payment_method: string;
  channel: string;
  status: string;
}

/** Longer strings are declined here; the validator's limit is the same 64, so nothing valid is lost. */
const MAX_STRING = 64;
/** 15 digits stay below 2^53, so the digits convert exactly. */
const MAX_DIGITS = 15;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

const ascii = new TextEncoder();
const lit = (text: string) => ascii.encode(text);
const HEAD = lit('{"schema_version":1,"event_id":"');
const ORDER_ID = lit('","order_id":"');
const USER_ID = lit('","user_id":"');
const CREATED_AT = lit('","created_at":"');
const ITEMS = lit('","items":[');
const SKU = lit('{"sku":"');
const CATEGORY = lit('","category":"');
const QTY = lit('","qty":');
const UNIT_PRICE = lit(',"unit_price_minor":');
const DISCOUNT = lit('],"discount_minor":');
const TOTAL = lit(',"total":{"amount_minor":');
const CURRENCY = lit(',"currency":"');
const USD = lit('"},"total_usd_cents":');
const COUNTRY = lit(',"country":"');
const PAYMENT = lit('","payment_method":"');
const CHANNEL = lit('","channel":"');
const STATUS = lit('","status":"');
const TAIL = lit('"}');

/**
 * What the scan of one canonical event leaves, without the strings counting an order never reads:
 * order_id, created_at and each sku stay byte ranges of the scanned buffer
 * (`bytes[orderIdStart, orderIdEnd)` and so on). Every other field is the value `JSON.parse`
 * gives; `amount_minor` and `currency` are `total`'s. Structurally an order the aggregator can
 * count (lib/window/window-aggregate.ts reads event_id, user_id, items, total_usd_cents and country).
 *
 * One object is filled again by every {@link parseCanonicalFacts} call given it, its `items` too:
 * read it before the next call and keep none of it but its strings.
 */
export interface CanonicalFacts {
  event_id: string;
  user_id: string;
  /** event_id and user_id as byte ranges too (the lake copies the bytes, no string needed). */
  eventIdStart: number;
  eventIdEnd: number;
  userIdStart: number;
  userIdEnd: number;
  orderIdStart: number;
  orderIdEnd: number;
  /** False: event_id and user_id are left empty, their ranges only are set (default true). */
  idStrings?: boolean;
  createdAtStart: number;
  createdAtEnd: number;
  items: CanonicalFactsItem[];
  discount_minor: number;
  amount_minor: number;
  currency: string;
  total_usd_cents: number;
  country: string;
  payment_method: string;
  channel: string;
  status: string;
}

export interface CanonicalFactsItem {
  skuStart: number;
  skuEnd: number;
  category: string;
  qty: number;
  unit_price_minor: number;
}

/** An empty {@link CanonicalFacts} to pass to {@link parseCanonicalFacts}, again and again. */
export function newCanonicalFacts(): CanonicalFacts {
  return {
    event_id: "",
    user_id: "",
    eventIdStart: 0,
    eventIdEnd: 0,
    userIdStart: 0,
    userIdEnd: 0,
    orderIdStart: 0,
    orderIdEnd: 0,
    createdAtStart: 0,
    createdAtEnd: 0,
    items: [],
    discount_minor: 0,
    amount_minor: 0,
    currency: "",
    total_usd_cents: 0,
    country: "",
    payment_method: "",
    channel: "",
    status: "",
  };
}

// Fresh strings, not slices of one decoded text: a slice keeps its whole parent string alive, and
// the aggregator keeps ids for deduplication long after the event (measured: ~8× the memory).
// Decoded from a scratch buffer through views made once: `bytes.subarray()` per string allocates
// a view each time and made string creation about twice as slow.
const decoder = new TextDecoder();
const scratch = new Uint8Array(MAX_STRING);
const scratchViews: Uint8Array[] = Array.from({ length: MAX_STRING + 1 }, (_, n) => scratch.subarray(0, n));

/**
 * Node's Buffer#asciiSlice (Bun and Deno have it too), called on any Uint8Array: a new string
 * straight from the bytes, without TextDecoder's per-call cost or the copy into `scratch` —
 * about 40 % less time per string, measured. Safe because the scanner only passes printable
 * ASCII here. Where it is missing, TextDecoder on `scratch`.
 */
const asciiSlice = (globalThis as { Buffer?: { prototype: { asciiSlice?: (this: Uint8Array, start: number, end: number) => string } } }).Buffer?.prototype.asciiSlice;

/**
 * Strings that repeat across events (SKUs, categories, countries, enum values) come from this
 * table when their bytes match, so most events create only their ids and timestamp. User ids are
 * not interned: there are too many of them (200,000 in the simulator) and they would evict the rest.
 * Fixed size, overwritten on collision: a cache, invisible in the results.
 */
const INTERN_BITS = 14;
const internTable: (string | undefined)[] = new Array<string | undefined>(1 << INTERN_BITS).fill(undefined);

// Parser state, module-level so a call allocates nothing beyond the event: set by scanString and
// scanInteger, read right after. Single-threaded by construction (no await in between).
let pos = 0;
/** End of the event's bytes (exclusive): the caller's `end`. */
let limit = 0;
let strStart = 0;
let strHash = 0;
let intValue = 0;

/** The facts of parseCanonicalOrder's own scans. */
const ownFacts = newCanonicalFacts();

/**
 * The canonical event in `bytes[start, end)` (default: all of it), or `undefined` when they are
 * anything else (see above). A range, so a caller holding a whole fetch response needs no view
 * per event.
 */
export function parseCanonicalOrder(bytes: Uint8Array, start = 0, end = bytes.length): CanonicalOrder | undefined {
  return parseCanonicalFacts(bytes, start, end, ownFacts) ? canonicalOrderOf(bytes, ownFacts) : undefined;
}

/**
 * The full event of `facts`, just filled by {@link parseCanonicalFacts} from `bytes`: what
 * {@link parseCanonicalOrder} of the same range gives.
 */
export function canonicalOrderOf(bytes: Uint8Array, facts: CanonicalFacts): CanonicalOrder {
  const scanned = facts.items;
  const items: CanonicalOrder["items"] = new Array(scanned.length);
  for (let i = 0; i < scanned.length; i++) {
    const item = scanned[i]!;
    items[i] = { sku: internRange(bytes, item.skuStart, item.skuEnd), category: item.category, qty: item.qty, unit_price_minor: item.unit_price_minor };
  }
  // Same key order as the text, so the object matches JSON.parse's down to Object.keys.
  return {
    schema_version: 1,
    event_id: facts.event_id,
    order_id: freshRange(bytes, facts.orderIdStart, facts.orderIdEnd),
    user_id: facts.user_id,
    created_at: freshRange(bytes, facts.createdAtStart, facts.createdAtEnd),
    items,
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
 * Scans the canonical event in `bytes[start, end)` into `into` and says whether it was one: the
 * same events as {@link parseCanonicalOrder} accepts, for a caller that does not need the full
 * event. Only event_id and user_id become new strings; on `false`, `into` holds nothing useful.
 */
export function parseCanonicalFacts(bytes: Uint8Array, start: number, end: number, into: CanonicalFacts): boolean {
  const b = bytes;
  if (start < 0 || end > b.length || start > end) return false;
  pos = start;
  limit = end;
  if (!expect(b, HEAD) || !scanPlainString(b)) return false;
  const eventIdStart = strStart;
  const eventIdEnd = pos;
  if (!expect(b, ORDER_ID) || !scanPlainString(b)) return false;
  into.orderIdStart = strStart;
  into.orderIdEnd = pos;
  if (!expect(b, USER_ID) || !scanPlainString(b)) return false;
  const userIdStart = strStart;
  const userIdEnd = pos;
  if (!expect(b, CREATED_AT) || !scanPlainString(b)) return false;
  into.createdAtStart = strStart;
  into.createdAtEnd = pos;
  if (!expect(b, ITEMS)) return false;
  const items = into.items;
  let n = 0;
  for (;;) {
    if (!expect(b, SKU) || !scanPlainString(b)) return false;
    const skuStart = strStart;
    const skuEnd = pos;
    if (!expect(b, CATEGORY) || !scanString(b)) return false;
    const category = intern(b);
    if (!expect(b, QTY) || !scanInteger(b)) return false;
    const qty = intValue;
    if (!expect(b, UNIT_PRICE) || !scanInteger(b)) return false;
    // The item objects of earlier calls are reused: no allocation for most events.
    const item = items[n];
    if (item === undefined) {
      items[n] = { skuStart, skuEnd, category, qty, unit_price_minor: intValue };
    } else {
      item.skuStart = skuStart;
      item.skuEnd = skuEnd;
      item.category = category;
      item.qty = qty;
      item.unit_price_minor = intValue;
    }
    n++;
    // Bounds checked: past `limit` lie the next record's bytes, not undefined.
    if (pos >= limit || b[pos] !== 0x7d) return false; // }
    pos++;
    if (pos >= limit || b[pos] !== 0x2c) break; // , then the next item
    pos++;
  }
  if (!expect(b, DISCOUNT) || !scanInteger(b)) return false;
  const discountMinor = intValue;
  if (!expect(b, TOTAL) || !scanInteger(b)) return false;
  const amountMinor = intValue;
  if (!expect(b, CURRENCY) || !scanString(b)) return false;
  const currency = intern(b);
  if (!expect(b, USD) || !scanInteger(b)) return false;
  const usdCents = intValue;
  if (!expect(b, COUNTRY) || !scanString(b)) return false;
  const country = intern(b);
  if (!expect(b, PAYMENT) || !scanString(b)) return false;
  const payment = intern(b);
  if (!expect(b, CHANNEL) || !scanString(b)) return false;
  const channel = intern(b);
  if (!expect(b, STATUS) || !scanString(b)) return false;
  const status = intern(b);
  if (!expect(b, TAIL) || pos !== limit) return false;
  // The two strings counting keeps (dedup state, distinct customers), made only now the event is whole.
  if (into.idStrings === false) {
    into.event_id = "";
    into.user_id = "";
  } else {
    into.event_id = freshRange(b, eventIdStart, eventIdEnd);
    into.user_id = freshRange(b, userIdStart, userIdEnd);
  }
  into.eventIdStart = eventIdStart;
  into.eventIdEnd = eventIdEnd;
  into.userIdStart = userIdStart;
  into.userIdEnd = userIdEnd;
  items.length = n;
  into.discount_minor = discountMinor;
  into.amount_minor = amountMinor;
  into.currency = currency;
  into.total_usd_cents = usdCents;
  into.country = country;
  into.payment_method = payment;
  into.channel = channel;
  into.status = status;
  return true;
}

/** Consumes `literal` at `pos`; false when the bytes differ or run out. */
function expect(b: Uint8Array, literal: Uint8Array): boolean {
  const n = literal.length;
  const p = pos;
  if (p + n > limit) return false;
  // No early exit: an OR of differences runs about twice as fast as compare-and-branch per byte.
  let diff = 0;
  for (let i = 0; i < n; i++) diff |= b[p + i]! ^ literal[i]!;
  pos = p + n;
  return diff === 0;
}

/** A string body up to (not including) its closing quote: sets strStart, strHash and pos. */
function scanString(b: Uint8Array): boolean {
  const start = pos;
  const stop = Math.min(limit, start + MAX_STRING + 1);
  let h = 0x811c9dc5;
  let p = start;
  for (; p < stop; p++) {
    const c = b[p]!;
    if (c === QUOTE) break;
    if (c < 0x20 || c > 0x7e || c === BACKSLASH) return false;
    h = Math.imul(h ^ c, 0x01000193);
  }
  if (p === stop) return false; // too long, or the bytes ran out
  strStart = start;
  strHash = h;
  pos = p;
  return true;
}

/** scanString without the hash, for strings that are not interned. */
function scanPlainString(b: Uint8Array): boolean {
  const start = pos;
  const stop = Math.min(limit, start + MAX_STRING + 1);
  let p = start;
  for (; p < stop; p++) {
    const c = b[p]!;
    if (c === QUOTE) break;
    if (c < 0x20 || c > 0x7e || c === BACKSLASH) return false;
  }
  if (p === stop) return false;
  strStart = start;
  pos = p;
  return true;
}

/** Plain digits, no leading zero (a lone 0 is fine), at most MAX_DIGITS: sets intValue and pos. */
function scanInteger(b: Uint8Array): boolean {
  const start = pos;
  let p = start;
  let c = b[p];
  if (c === 0x30 && p < limit) {
    // A 0 must stand alone; `01` fails at the next literal, which expects no digit here.
    intValue = 0;
    pos = p + 1;
    return true;
  }
  let n = 0;
  const stop = Math.min(limit, start + MAX_DIGITS + 1);
  for (; p < stop; p++) {
    c = b[p]! - 0x30;
    if (c < 0 || c > 9) break;
    n = n * 10 + c;
  }
  if (p === start || p - start > MAX_DIGITS) return false;
  intValue = n;
  pos = p;
  return true;
}

function freshRange(b: Uint8Array, start: number, end: number): string {
  if (asciiSlice !== undefined) return asciiSlice.call(b, start, end);
  const length = end - start;
  for (let i = 0; i < length; i++) scratch[i] = b[start + i]!;
  return decoder.decode(scratchViews[length]);
}

/** The string at strStart..pos, from the intern table when it is there (strHash: its hash). */
function intern(b: Uint8Array): string {
  return internHashed(b, strStart, pos, strHash);
}

/** `intern` of a range scanned without its hash. */
function internRange(b: Uint8Array, start: number, end: number): string {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return internHashed(b, start, end, h);
}

function internHashed(b: Uint8Array, start: number, end: number, h: number): string {
  const length = end - start;
  const slot = (h ^ (h >>> INTERN_BITS)) & ((1 << INTERN_BITS) - 1);
  const cached = internTable[slot];
  if (cached !== undefined && cached.length === length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (cached.charCodeAt(i) !== b[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return cached;
  }
  const text = freshRange(b, start, end);
  internTable[slot] = text;
  return text;
}
