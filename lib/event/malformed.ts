/**
 * Ways to break an order event on purpose, one per reason the validator gives. Each kind names
 * the exact `RejectReason` that `validateOrder` must return for it, so a test (or the
 * aggregator's dead-letter counts) can reconcile injected faults category by category.
 */
import { encodeOrderEvent } from "./encode-order.ts";
import { ORDER_EVENT_FIELDS, type OrderEvent } from "./order-event.ts";
import type { Prng } from "./prng.ts";
import type { RejectReason } from "./validate-order.ts";

export const MALFORMED_KINDS = [
  "not_json",
  "missing_field",
  "wrong_type",
  "negative_amount",
  "unknown_currency",
  "total_mismatch",
  "bad_timestamp",
  "future_timestamp",
  "past_timestamp",
  "too_large",
  "not_utf8",
] as const satisfies readonly RejectReason[];
export type MalformedKind = (typeof MALFORMED_KINDS)[number];

const DAY_MS = 86_400_000;
const encoder = new TextEncoder();

const REQUIRED = ORDER_EVENT_FIELDS;

/**
 * The bytes of `event` broken in the way `kind` names. `emittedAtMs` is the stream time the
 * message goes out at, which future and past timestamps are measured from. Never contains a
 * newline byte (so `--stdout` stays one message per line).
 */
export function corrupt(event: OrderEvent, kind: MalformedKind, emittedAtMs: number, prng: Prng): Uint8Array {
  switch (kind) {
    case "not_json": {
      const text = encodeOrderEvent(event);
      // A prefix of an object never parses: its closing brace is gone.
      return encoder.encode(text.slice(0, prng.int(1, text.length - 2)));
    }
    case "missing_field": {
      const broken = structuredClone(event) as unknown as Record<string, unknown>;
      delete broken[prng.pick(REQUIRED)];
      return encoder.encode(JSON.stringify(broken));
    }
    case "wrong_type": {
      const broken = structuredClone(event) as unknown as Record<string, unknown> & OrderEvent;
      const which = prng.int(0, 4);
      const items = broken.items as unknown as Record<string, unknown>[];
      if (which === 0) (items[0] as Record<string, unknown>).qty = String(event.items[0]!.qty);
      else if (which === 1) (broken.total as unknown as Record<string, unknown>).amount_minor = String(event.total.amount_minor);
      else if (which === 2) (broken as Record<string, unknown>).created_at = Date.parse(event.created_at);
      else if (which === 3) (broken as Record<string, unknown>).user_id = Number(event.user_id.slice(2));
      else (broken as Record<string, unknown>).items = { ...event.items };
      return encoder.encode(JSON.stringify(broken));
    }
    case "negative_amount": {
      const broken = structuredClone(event);
      if (prng.chance(0.5)) broken.items[0]!.unit_price_minor = -Math.max(1, event.items[0]!.unit_price_minor);
      else broken.total.amount_minor = -Math.max(1, event.total.amount_minor);
      return encoder.encode(JSON.stringify(broken));
    }
    case "unknown_currency": {
      const broken = structuredClone(event) as unknown as { total: { currency: string } };
      broken.total.currency = prng.pick(["XYZ", "BTC", "usd", "", "EURO"]);
      return encoder.encode(JSON.stringify(broken));
    }
    case "total_mismatch": {
      const broken = structuredClone(event);
      broken.total.amount_minor += prng.int(1, 500);
      return encoder.encode(JSON.stringify(broken));
    }
    case "bad_timestamp": {
      const broken = structuredClone(event);
      const iso = event.created_at;
      broken.created_at = prng.pick([
        iso.replace("T", " "), // a space instead of T
        iso.slice(0, 19) + "Z", // no milliseconds
        iso.slice(0, 23) + "+00:00", // an offset instead of Z
        `${iso.slice(0, 5)}02-30${iso.slice(10)}`, // a day that does not exist
        "yesterday",
      ]);
      return encoder.encode(JSON.stringify(broken));
    }
    case "future_timestamp": {
      const broken = structuredClone(event);
      broken.created_at = new Date(emittedAtMs + prng.int(2 * DAY_MS, 10 * DAY_MS)).toISOString();
      return encoder.encode(JSON.stringify(broken));
    }
    case "past_timestamp": {
      const broken = structuredClone(event);
      broken.created_at = new Date(emittedAtMs - prng.int(2 * DAY_MS, 30 * DAY_MS)).toISOString();
      return encoder.encode(JSON.stringify(broken));
    }
    case "too_large": {
      const broken = structuredClone(event);
      // Either the whole message is oversized, or one value is beyond its limit.
      if (prng.chance(0.5)) broken.items[0]!.sku = "X".repeat(prng.int(20_000, 40_000));
      else broken.items[0]!.qty = prng.int(1_000_001, 1_000_000_000);
      return encoder.encode(JSON.stringify(broken));
    }
    case "not_utf8": {
      const bytes = encoder.encode(encodeOrderEvent(event));
      // Overwrite one byte inside the sku's text with a byte that can never appear in UTF-8.
      const skuStart = encodeOrderEvent(event).indexOf('"sku":"') + 7;
      bytes[skuStart + prng.int(0, 3)] = prng.pick([0xff, 0xfe, 0xc0, 0x80]);
      return bytes;
    }
    default: {
      const unknown: never = kind;
      throw new RangeError(`unknown malformed kind ${String(unknown)}`);
    }
  }
}
