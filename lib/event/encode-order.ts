/**
 * The wire form of an order event: JSON text with the fields in schema order, written by hand.
 * It is byte-for-byte what `JSON.stringify` gives for the same object (tested), about three
 * times faster, which matters at 200,000 events/s.
 *
 * Only for events the producer builds itself: ids, SKUs, categories and countries are plain
 * ASCII without quotes or backslashes, so no string needs escaping. `encodeOrderEvent` checks
 * nothing; use `JSON.stringify` for anything that came from outside.
 */
import type { OrderEvent } from "./order-event.ts";

export function encodeOrderEvent(e: OrderEvent): string {
  let items = "";
  for (let i = 0; i < e.items.length; i++) {
    const it = e.items[i]!;
    items += `${i === 0 ? "" : ","}{"sku":"${it.sku}","category":"${it.category}","qty":${it.qty},"unit_price_minor":${it.unit_price_minor}}`;
  }
  return `{"schema_version":${e.schema_version},"event_id":"${e.event_id}","order_id":"${e.order_id}","user_id":"${e.user_id}",` +
    `"created_at":"${e.created_at}","items":[${items}],"discount_minor":${e.discount_minor},` +
    `"total":{"amount_minor":${e.total.amount_minor},"currency":"${e.total.currency}"},"total_usd_cents":${e.total_usd_cents},` +
    `"country":"${e.country}","payment_method":"${e.payment_method}","channel":"${e.channel}","status":"${e.status}"}`;
}

/** Murmur3's 32-bit finaliser: a bijection on 32-bit integers, so distinct inputs give distinct ids. */
export function fmix32(x: number): number {
  let h = x | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

/**
 * A UUID-shaped id (version 8, "custom") that is a function of the run's seed and a sequence
 * number. The last 32 bits are a bijection of the sequence number's low 32 bits, so ids within
 * one seed never collide below 2^32 events; the other bits mix in the seed so that runs with
 * different seeds look unrelated.
 */
export function sequenceUuid(seed: number, sequence: number): string {
  const [w0, w1, w2, w3] = uuidWords(seed, sequence);
  const a = hex8(w0);
  const b = hex8(w1);
  const c = hex8(w2);
  const d = hex8(w3);
  // version nibble 8, variant bits 10 — only bits of w0/w1/w2 are overwritten, never of w3.
  const variant = ((parseInt(c[0]!, 16) & 0x3) | 0x8).toString(16);
  return `${a}-${b.slice(0, 4)}-8${b.slice(5, 8)}-${variant}${c.slice(1, 4)}-${c.slice(4, 8)}${d}`;
}

/** The four 32-bit words `sequenceUuid` formats (lib/event/order-json.ts writes them as bytes). */
export function uuidWords(seed: number, sequence: number): [number, number, number, number] {
  if (!Number.isSafeInteger(sequence) || sequence < 0) {
    throw new RangeError(`sequence must be a non-negative safe integer: got ${sequence}`);
  }
  const high = Math.floor(sequence / 4294967296);
  const low = sequence >>> 0;
  const w2 = fmix32(high ^ fmix32(seed ^ 0x2545f491));
  const w3 = fmix32(low ^ fmix32(seed ^ 0x9e3779b9));
  const w0 = fmix32(w3 ^ seed);
  const w1 = fmix32(w0 ^ w2);
  return [w0, w1, w2, w3];
}
