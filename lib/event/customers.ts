/**
 * A seeded customer population: where each customer lives (and so the currency they pay in),
 * how they usually pay and shop, and how often they come back (a few loyal customers place
 * many orders; most order once or twice).
 */
import { CHANNELS, type Channel, CURRENCIES, type Currency, PAYMENT_METHODS, type PaymentMethod } from "./order-event.ts";
import { Prng, WeightedPicker } from "./prng.ts";

export interface Market {
  country: string;
  currency: Currency;
  /** Share of customers. */
  share: number;
  /** Relative weight of each payment method, in PAYMENT_METHODS order. */
  payments: readonly number[];
}

//                              card paypal apple google bank klarna
const CARD_HEAVY = [60, 15, 15, 8, 1, 1];
const EUROPE = [40, 20, 10, 8, 10, 12];
const NORDIC = [35, 10, 12, 8, 10, 25];

export const MARKETS: readonly Market[] = [
  { country: "US", currency: "USD", share: 0.34, payments: CARD_HEAVY },
  { country: "CA", currency: "CAD", share: 0.05, payments: CARD_HEAVY },
  { country: "GB", currency: "GBP", share: 0.10, payments: [45, 20, 18, 9, 3, 5] },
  { country: "DE", currency: "EUR", share: 0.09, payments: [20, 30, 5, 5, 25, 15] },
  { country: "FR", currency: "EUR", share: 0.06, payments: EUROPE },
  { country: "NL", currency: "EUR", share: 0.03, payments: [15, 15, 10, 5, 45, 10] },
  { country: "ES", currency: "EUR", share: 0.03, payments: EUROPE },
  { country: "IT", currency: "EUR", share: 0.03, payments: EUROPE },
  { country: "SE", currency: "SEK", share: 0.02, payments: NORDIC },
  { country: "CH", currency: "CHF", share: 0.02, payments: EUROPE },
  { country: "JP", currency: "JPY", share: 0.08, payments: [65, 10, 12, 5, 8, 0] },
  { country: "AU", currency: "AUD", share: 0.04, payments: CARD_HEAVY },
  { country: "BR", currency: "BRL", share: 0.05, payments: [55, 20, 3, 12, 10, 0] },
  { country: "IN", currency: "INR", share: 0.06, payments: [35, 10, 2, 40, 13, 0] },
];

const CHANNEL_WEIGHTS = [45, 25, 24, 6]; // web, ios, android, pos

export interface Customer {
  userId: string;
  marketIndex: number;
  country: string;
  currencyIndex: number;
  /** Usual payment method and channel; a customer mostly sticks to them. */
  payment: PaymentMethod;
  channel: Channel;
}

export interface CustomerOptions {
  /** Number of customers. Default 200,000. */
  customers?: number;
  /** Pareto shape of purchase frequency: lower means more extreme repeat buyers. Default 1.2. */
  loyaltyShape?: number;
}

export class Customers {
  readonly customers: readonly Customer[];
  readonly #picker: WeightedPicker;
  readonly #paymentPickers: WeightedPicker[];

  constructor(seed: number, options: CustomerOptions = {}) {
    const count = options.customers ?? 200_000;
    const shape = options.loyaltyShape ?? 1.2;
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`customers must be a positive integer: got ${count}`);
    const prng = new Prng(seed ^ 0x0c05_7043);
    const marketPicker = new WeightedPicker(MARKETS.map((m) => m.share));
    const channelPicker = new WeightedPicker(CHANNEL_WEIGHTS);
    this.#paymentPickers = MARKETS.map((m) => new WeightedPicker(m.payments));
    const customers: Customer[] = [];
    const weights: number[] = [];
    const digits = String(count).length;
    for (let i = 0; i < count; i++) {
      const marketIndex = marketPicker.pick(prng);
      const market = MARKETS[marketIndex] as Market;
      customers.push({
        userId: `u-${String(i + 1).padStart(digits, "0")}`,
        marketIndex,
        country: market.country,
        currencyIndex: CURRENCIES.indexOf(market.currency),
        payment: PAYMENT_METHODS[(this.#paymentPickers[marketIndex] as WeightedPicker).pick(prng)] as PaymentMethod,
        channel: CHANNELS[channelPicker.pick(prng)] as Channel,
      });
      // Pareto weights: a long tail of one-off buyers and a few who come back again and again.
      // Capped, so that the most loyal customer is a few hundred times as frequent as a one-off buyer, not millions.
      weights.push(Math.min(300, Math.pow(1 - prng.next(), -1 / shape)));
    }
    this.customers = customers;
    this.#picker = new WeightedPicker(weights);
  }

  /** A customer index, repeat buyers more often. */
  pick(prng: Prng): number {
    return this.#picker.pick(prng);
  }

  /** This order's payment method: usually the customer's own, sometimes another their market uses. */
  paymentFor(prng: Prng, customer: Customer): PaymentMethod {
    if (prng.next() < 0.85) return customer.payment;
    return PAYMENT_METHODS[(this.#paymentPickers[customer.marketIndex] as WeightedPicker).pick(prng)] as PaymentMethod;
  }
}
