/**
 * The simulator's JSON writer: an order event's wire bytes written straight into a byte buffer,
 * without building the JSON text as a string and encoding it. Byte-for-byte what
 * `TextEncoder.encode(encodeOrderEvent(event))` gives for the same order (lib/event/order-json.test.ts
 * checks this differentially, and the simulator's golden digests pin the stream).
 *
 * Only for orders the simulator builds: every string is ASCII without `"` or `\`, and every
 * number a non-negative safe integer. It checks none of that.
 */
import { fmix32, uuidWords } from "./encode-order.ts";

/** An order as the simulator decides it, before it is either written as bytes or built as an object. */
export interface OrderDraft {
  /** Run-wide order number: the source of `event_id` and `order_id`. */
  orderNumber: number;
  createdMs: number;
  userId: string;
  /** Basket lines (after merging repeated SKUs): the first `lines` entries of each array. */
  lines: number;
  skus: string[];
  categories: string[];
  qtys: number[];
  unitPrices: number[];
  discountMinor: number;
  amountMinor: number;
  currency: string;
  totalUsdCents: number;
  country: string;
  paymentMethod: string;
  channel: string;
  status: string;
}

/** The most bytes one drafted order can take: 8 lines of 64-character strings, 15-digit numbers. */
export const MAX_ORDER_BYTES = 4096;

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const HEAD = ascii('{"schema_version":1,"event_id":"');
const ORDER_ID = ascii('","order_id":"o-');
const USER_ID = ascii('","user_id":"');
const CREATED_AT = ascii('","created_at":"');
const ITEMS = ascii('","items":[');
const SKU_FIRST = ascii('{"sku":"');
const SKU_NEXT = ascii('},{"sku":"');
const CATEGORY = ascii('","category":"');
const QTY = ascii('","qty":');
const UNIT_PRICE = ascii(',"unit_price_minor":');
const DISCOUNT = ascii('}],"discount_minor":');
const AMOUNT = ascii(',"total":{"amount_minor":');
const CURRENCY = ascii(',"currency":"');
const USD = ascii('"},"total_usd_cents":');
const COUNTRY = ascii(',"country":"');
const PAYMENT = ascii('","payment_method":"');
const CHANNEL = ascii('","channel":"');
const STATUS = ascii('","status":"');
const TAIL = ascii('"}');
const HEX = ascii("0123456789abcdef");
const BASE36 = ascii("0123456789abcdefghijklmnopqrstuvwxyz");

function put(buf: Uint8Array, at: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) buf[at + i] = bytes[i]!;
  return at + bytes.length;
}

function putString(buf: Uint8Array, at: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[at + i] = s.charCodeAt(i);
  return at + s.length;
}

/** Decimal digits of a non-negative safe integer. */
export function putUint(buf: Uint8Array, at: number, n: number): number {
  if (n < 10) {
    buf[at] = 48 + n;
    return at + 1;
  }
  let digits = 1;
  for (let p = 10; p <= n; p *= 10) digits++;
  let end = at + digits;
  for (let i = end - 1; i >= at; i--) {
    const q = Math.floor(n / 10);
    buf[i] = 48 + (n - q * 10);
    n = q;
  }
  return end;
}

function putBase36(buf: Uint8Array, at: number, n: number): number {
  let digits = 1;
  for (let p = 36; p <= n; p *= 36) digits++;
  for (let i = at + digits - 1; i >= at; i--) {
    const q = Math.floor(n / 36);
    buf[i] = BASE36[n - q * 36]!;
    n = q;
  }
  return at + digits;
}

function putHex(buf: Uint8Array, at: number, word: number, nibbles: number): number {
  for (let i = nibbles - 1; i >= 0; i--) {
    buf[at + i] = HEX[word & 0xf]!;
    word >>>= 4;
  }
  return at + nibbles;
}

/** `sequenceUuid(seed, sequence)` as bytes. */
export function putSequenceUuid(buf: Uint8Array, at: number, seed: number, sequence: number): number {
  const [w0, w1, w2, w3] = uuidWords(seed, sequence);
  at = putHex(buf, at, w0, 8);
  buf[at++] = 0x2d;
  at = putHex(buf, at, w1 >>> 16, 4);
  buf[at++] = 0x2d;
  buf[at++] = 0x38; // version 8
  at = putHex(buf, at, w1 & 0xfff, 3);
  buf[at++] = 0x2d;
  buf[at++] = HEX[((w2 >>> 28) & 0x3) | 0x8]!;
  at = putHex(buf, at, (w2 >>> 16) & 0xfff, 3);
  buf[at++] = 0x2d;
  at = putHex(buf, at, w2 & 0xffff, 4);
  return putHex(buf, at, w3, 8);
}

/** Latest ISO-8601 time whose `toISOString()` has the 24-character form `YYYY-MM-DDTHH:MM:SS.mmmZ`. */
const MAX_ISO_MS = 253_402_300_799_999;

/**
 * Writes `new Date(ms).toISOString()`, remembering the text of the last whole second: a stream's
 * consecutive events mostly share it.
 */
export class IsoTimeWriter {
  #second = Number.NaN;
  readonly #prefix = new Uint8Array(20); // "YYYY-MM-DDTHH:MM:SS."

  put(buf: Uint8Array, at: number, ms: number): number {
    if (!(ms >= 0 && ms <= MAX_ISO_MS)) return putString(buf, at, new Date(ms).toISOString());
    const second = Math.floor(ms / 1000);
    if (second !== this.#second) {
      putString(this.#prefix, 0, new Date(second * 1000).toISOString().slice(0, 20));
      this.#second = second;
    }
    at = put(buf, at, this.#prefix);
    const millis = ms - second * 1000;
    buf[at] = 48 + Math.floor(millis / 100);
    buf[at + 1] = 48 + (Math.floor(millis / 10) % 10);
    buf[at + 2] = 48 + (millis % 10);
    buf[at + 3] = 0x5a; // Z
    return at + 4;
  }
}

/** Writes drafted orders of one run (one seed) as their JSON bytes. */
export class OrderJsonWriter {
  readonly #seed: number;
  readonly #orderIdSalt: number;
  readonly #time = new IsoTimeWriter();

  constructor(seed: number) {
    this.#seed = seed | 0;
    this.#orderIdSalt = fmix32(this.#seed);
  }

  /** Writes `draft` at `at` (at least MAX_ORDER_BYTES must be free there); returns the end. */
  write(buf: Uint8Array, at: number, draft: OrderDraft): number {
    at = put(buf, at, HEAD);
    at = putSequenceUuid(buf, at, this.#seed, draft.orderNumber);
    at = put(buf, at, ORDER_ID);
    at = putBase36(buf, at, fmix32(draft.orderNumber ^ this.#orderIdSalt) >>> 0);
    at = putBase36(buf, at, draft.orderNumber);
    at = put(buf, at, USER_ID);
    at = putString(buf, at, draft.userId);
    at = put(buf, at, CREATED_AT);
    at = this.#time.put(buf, at, draft.createdMs);
    at = put(buf, at, ITEMS);
    for (let i = 0; i < draft.lines; i++) {
      at = put(buf, at, i === 0 ? SKU_FIRST : SKU_NEXT);
      at = putString(buf, at, draft.skus[i]!);
      at = put(buf, at, CATEGORY);
      at = putString(buf, at, draft.categories[i]!);
      at = put(buf, at, QTY);
      at = putUint(buf, at, draft.qtys[i]!);
      at = put(buf, at, UNIT_PRICE);
      at = putUint(buf, at, draft.unitPrices[i]!);
    }
    at = put(buf, at, DISCOUNT);
    at = putUint(buf, at, draft.discountMinor);
    at = put(buf, at, AMOUNT);
    at = putUint(buf, at, draft.amountMinor);
    at = put(buf, at, CURRENCY);
    at = putString(buf, at, draft.currency);
    at = put(buf, at, USD);
    at = putUint(buf, at, draft.totalUsdCents);
    at = put(buf, at, COUNTRY);
    at = putString(buf, at, draft.country);
    at = put(buf, at, PAYMENT);
    at = putString(buf, at, draft.paymentMethod);
    at = put(buf, at, CHANNEL);
    at = putString(buf, at, draft.channel);
    at = put(buf, at, STATUS);
    at = putString(buf, at, draft.status);
    return put(buf, at, TAIL);
  }
}
