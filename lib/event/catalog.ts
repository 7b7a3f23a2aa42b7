/**
 * A seeded product catalog: categories with their price ranges, SKUs with long-tail (Zipf)
 * popularity, and each SKU's shelf price in every currency the shop sells in.
 *
 * Prices are set per currency the way shops do it (a converted price rounded to a .99 ending,
 * whole tens for yen), not converted per order: the same SKU costs the same in a currency all day.
 */
import { MINOR_DIGITS, USD_MICROS_PER_MAJOR } from "./currency.ts";
import { CURRENCIES, type Currency } from "./order-event.ts";
import { Prng, WeightedPicker } from "./prng.ts";

export interface Category {
  name: string;
  /** Share of SKUs in this category. */
  share: number;
  /** Typical unit price range in USD cents; prices are log-uniform within it. */
  minUsdCents: number;
  maxUsdCents: number;
  /** Chance that a line of this category has qty > 1 (cheap consumables are bought in multiples). */
  multiQtyChance: number;
}

export const CATEGORIES: readonly Category[] = [
  { name: "electronics", share: 0.10, minUsdCents: 1_999, maxUsdCents: 149_999, multiQtyChance: 0.03 },
  { name: "computers", share: 0.05, minUsdCents: 4_999, maxUsdCents: 249_999, multiQtyChance: 0.02 },
  { name: "phones", share: 0.04, minUsdCents: 9_999, maxUsdCents: 139_999, multiQtyChance: 0.02 },
  { name: "home", share: 0.12, minUsdCents: 499, maxUsdCents: 39_999, multiQtyChance: 0.10 },
  { name: "kitchen", share: 0.08, minUsdCents: 299, maxUsdCents: 29_999, multiQtyChance: 0.12 },
  { name: "fashion", share: 0.15, minUsdCents: 999, maxUsdCents: 24_999, multiQtyChance: 0.08 },
  { name: "shoes", share: 0.06, minUsdCents: 2_999, maxUsdCents: 19_999, multiQtyChance: 0.03 },
  { name: "beauty", share: 0.08, minUsdCents: 399, maxUsdCents: 9_999, multiQtyChance: 0.20 },
  { name: "grocery", share: 0.10, minUsdCents: 99, maxUsdCents: 4_999, multiQtyChance: 0.45 },
  { name: "books", share: 0.09, minUsdCents: 499, maxUsdCents: 6_999, multiQtyChance: 0.06 },
  { name: "toys", share: 0.07, minUsdCents: 599, maxUsdCents: 14_999, multiQtyChance: 0.10 },
  { name: "sports", share: 0.06, minUsdCents: 999, maxUsdCents: 59_999, multiQtyChance: 0.05 },
];

export interface Product {
  sku: string;
  /** Index into {@link CATEGORIES}. */
  categoryIndex: number;
  category: string;
  usdCents: number;
}

export interface CatalogOptions {
  /** Number of SKUs. Default 5,000. */
  products?: number;
  /** Zipf exponent of popularity by rank: higher means a longer, thinner tail. Default 1.07. */
  zipfExponent?: number;
}

export class Catalog {
  readonly products: readonly Product[];
  readonly #picker: WeightedPicker;
  /** Products of each category, for flash sales that feature one category. */
  readonly #byCategory: { indexes: number[]; picker: WeightedPicker }[];
  /** unit price in minor units, indexed [product × currencies + currency]. */
  readonly #prices: Int32Array | Float64Array;

  constructor(seed: number, options: CatalogOptions = {}) {
    const count = options.products ?? 5_000;
    const exponent = options.zipfExponent ?? 1.07;
    if (!Number.isInteger(count) || count < CATEGORIES.length) {
      throw new RangeError(`a catalog needs at least ${CATEGORIES.length} products: got ${count}`);
    }
    const prng = new Prng(seed ^ 0x5eed_ca7a);
    const categoryPicker = new WeightedPicker(CATEGORIES.map((c) => c.share));
    const products: Product[] = [];
    for (let i = 0; i < count; i++) {
      // Every category gets at least one product, the rest by share.
      const categoryIndex = i < CATEGORIES.length ? i : categoryPicker.pick(prng);
      const category = CATEGORIES[categoryIndex] as Category;
      const logMin = Math.log(category.minUsdCents);
      const logMax = Math.log(category.maxUsdCents);
      const raw = Math.exp(logMin + prng.next() * (logMax - logMin));
      // Shelf prices end in .99.
      const usdCents = Math.max(99, Math.round(raw / 100) * 100 - 1);
      products.push({ sku: `SKU-${String(i + 1).padStart(6, "0")}`, categoryIndex, category: category.name, usdCents });
    }
    // Popularity rank is a shuffle of the SKUs, so popular items are spread over categories.
    const rankOf = products.map((_, i) => i);
    for (let i = rankOf.length - 1; i > 0; i--) {
      const j = prng.int(0, i);
      [rankOf[i], rankOf[j]] = [rankOf[j] as number, rankOf[i] as number];
    }
    const weights = rankOf.map((rank) => 1 / Math.pow(rank + 1, exponent));
    this.products = products;
    this.#picker = new WeightedPicker(weights);
    this.#byCategory = CATEGORIES.map((_, c) => {
      const indexes = products.flatMap((p, i) => (p.categoryIndex === c ? [i] : []));
      return { indexes, picker: new WeightedPicker(indexes.map((i) => weights[i] as number)) };
    });
    this.#prices = new Float64Array(count * CURRENCIES.length);
    for (let p = 0; p < count; p++) {
      for (let c = 0; c < CURRENCIES.length; c++) {
        this.#prices[p * CURRENCIES.length + c] = shelfPrice((products[p] as Product).usdCents, CURRENCIES[c] as Currency);
      }
    }
  }

  /** A product index, popular ones far more often (Zipf). */
  pick(prng: Prng): number {
    return this.#picker.pick(prng);
  }

  /** A product index within one category, by the same popularity. */
  pickInCategory(prng: Prng, categoryIndex: number): number {
    const group = this.#byCategory[categoryIndex];
    if (!group) throw new RangeError(`no category ${categoryIndex}`);
    return group.indexes[group.picker.pick(prng)] as number;
  }

  /** Unit price of a product in minor units of `currencyIndex` (index into CURRENCIES). */
  priceMinor(productIndex: number, currencyIndex: number): number {
    return this.#prices[productIndex * CURRENCIES.length + currencyIndex] as number;
  }
}

/** A USD shelf price carried to another currency as a shop would: rounded to x.99, or whole tens of yen. */
export function shelfPrice(usdCents: number, currency: Currency): number {
  if (currency === "USD") return usdCents;
  const digits = MINOR_DIGITS[currency];
  // minor = usdCents × 10^4 / micros × 10^digits / 100
  const minor = (usdCents * 10_000 * 10 ** digits) / (USD_MICROS_PER_MAJOR[currency] * 100) * 100;
  if (digits === 0) return Math.max(10, Math.round(minor / 10) * 10);
  return Math.max(99, Math.round(minor / 100) * 100 - 1);
}
