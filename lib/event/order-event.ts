/**
 * The order event: what the producer writes to the `orders` topic as JSON, and the single
 * source of truth for every stage after it (validator, aggregator, lake, notebooks).
 *
 * Money is integer minor units of the named currency (cents for USD/EUR/GBP, yen for JPY),
 * never floats: sums stay exact end to end. `total_usd_cents` is the order total converted to
 * the reporting currency with the fixed rate table in `lib/event/currency.ts`, computed once by the
 * producer so every consumer sums the same integers.
 */

export const SCHEMA_VERSION = 1 as const;

/** Every top-level field of an order event, all required, in the order the producer writes them. */
export const ORDER_EVENT_FIELDS = [
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
] as const satisfies readonly (keyof OrderEvent)[];

export const CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CAD", "AUD", "BRL", "INR", "SEK", "CHF"] as const;
export type Currency = (typeof CURRENCIES)[number];

export const PAYMENT_METHODS = ["card", "paypal", "apple_pay", "google_pay", "bank_transfer", "klarna"] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

export const CHANNELS = ["web", "ios", "android", "pos"] as const;
export type Channel = (typeof CHANNELS)[number];

export const ORDER_STATUSES = ["placed", "paid"] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export interface OrderItem {
  sku: string;
  category: string;
  /** 1 or more. */
  qty: number;
  /** Price of one unit in minor units of the order's currency, before the order discount. */
  unit_price_minor: number;
}

export interface OrderEvent {
  schema_version: typeof SCHEMA_VERSION;
  /** Unique per emitted event; a re-sent duplicate carries the same id. */
  event_id: string;
  order_id: string;
  user_id: string;
  /** Event time: ISO-8601 UTC with milliseconds and `Z`, e.g. `2026-11-28T10:15:00.123Z`. */
  created_at: string;
  items: OrderItem[];
  /** Order-level discount in minor units of `total.currency`; 0 when none. */
  discount_minor: number;
  /** sum(qty × unit_price_minor) − discount_minor, in minor units of `currency`. */
  total: { amount_minor: number; currency: Currency };
  /** `total` converted to USD cents with the fixed rate table (lib/event/currency.ts). */
  total_usd_cents: number;
  /** ISO 3166-1 alpha-2. */
  country: string;
  payment_method: PaymentMethod;
  channel: Channel;
  status: OrderStatus;
}

/**
 * The part of an order that counting it reads (lib/window/window-aggregate.ts, lib/window/partition-aggregator.ts).
 * An {@link OrderEvent} is one; so is the validator's lean result for the aggregator
 * (`validateForCounting`), which leaves out the strings counting never reads.
 */
export interface CountableOrder {
  event_id: string;
  user_id: string;
  items: readonly Pick<OrderItem, "category" | "qty" | "unit_price_minor">[];
  total_usd_cents: number;
  country: string;
}
