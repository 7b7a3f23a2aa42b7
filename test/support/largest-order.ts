/**
 * The largest order the validator accepts (lib/event/validate-order.ts, LIMITS): maxItems lines
 * of maxQty × maxUnitPriceMinor each, no discount, in the currency worth the most USD cents, with
 * the matching total_usd_cents (lib/event/currency.ts). 71 of them in one window pass 2^53 cents.
 *
 * 100 of them sum to 1.27 × 10^16 cents, which a double still holds exactly (a multiple of 2^14);
 * one {@link centOrder} more is a sum a double cannot hold. Tests of exact sums add both.
 */
import { toUsdCents } from "../../lib/event/currency.ts";
import { CURRENCIES, type OrderEvent, type OrderItem } from "../../lib/event/order-event.ts";
import { LIMITS } from "../../lib/event/validate-order.ts";

const AMOUNT_MINOR = LIMITS.maxItems * LIMITS.maxQty * LIMITS.maxUnitPriceMinor;
/** The currency whose largest amount is the most USD cents. */
const CURRENCY = [...CURRENCIES].sort((a, b) => toUsdCents(AMOUNT_MINOR, b) - toUsdCents(AMOUNT_MINOR, a))[0]!;

/** total_usd_cents of {@link largestOrder}. */
export const LARGEST_ORDER_USD_CENTS = toUsdCents(AMOUNT_MINOR, CURRENCY);

/**
 * One largest order. Its lines spread over `categories` (three by default) so that its revenue is
 * split between them; `created_at` is `createdAt`.
 */
export function largestOrder(eventId: string, options: { userId?: string; country?: string; createdAt?: string; categories?: readonly string[] } = {}): OrderEvent {
  const categories = options.categories ?? ["books", "garden", "toys"];
  const items: OrderItem[] = Array.from({ length: LIMITS.maxItems }, (_, i) => ({
    sku: `sku-${i}`,
    category: categories[i % categories.length]!,
    qty: LIMITS.maxQty,
    unit_price_minor: LIMITS.maxUnitPriceMinor,
  }));
  return {
    schema_version: 1,
    event_id: eventId,
    order_id: `o-${eventId}`,
    user_id: options.userId ?? `u-${eventId}`,
    created_at: options.createdAt ?? "2026-11-28T10:15:00.123Z",
    items,
    discount_minor: 0,
    total: { amount_minor: AMOUNT_MINOR, currency: CURRENCY },
    total_usd_cents: LARGEST_ORDER_USD_CENTS,
    country: options.country ?? "GB",
    payment_method: "card",
    channel: "web",
    status: "paid",
  };
}

/** An order of `cents` USD cents: one line of `category`. */
export function centOrder(eventId: string, cents: number, options: { country?: string; category?: string } = {}): OrderEvent {
  return {
    ...largestOrder(eventId),
    items: [{ sku: "sku-cent", category: options.category ?? "books", qty: 1, unit_price_minor: cents }],
    total: { amount_minor: cents, currency: "USD" },
    total_usd_cents: cents,
    country: options.country ?? "US",
  };
}
