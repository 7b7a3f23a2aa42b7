/**
 * The order-event simulator: a deterministic stream of Kafka records (key + value bytes) for a
 * shop with a catalog, customers, a daily traffic curve, flash sales, and injected faults.
 *
 * Everything follows from the seed and the start time: no clock, no `Math.random`. Stream time
 * (the simulated "now" at which each record goes out) advances by exponential gaps whose mean
 * follows the traffic shape; whether a worker paces records to the wall clock or sends them as
 * fast as it can does not change a single byte.
 */
import { Catalog, type CatalogOptions, CATEGORIES } from "./catalog.ts";
import { toUsdCents } from "./currency.ts";
import { type Customer, type CustomerOptions, Customers } from "./customers.ts";
import { fmix32, sequenceUuid } from "./encode-order.ts";
import { corrupt, MALFORMED_KINDS, type MalformedKind } from "./malformed.ts";
import { CURRENCIES, type Currency, type OrderEvent, type OrderItem, type OrderStatus, SCHEMA_VERSION } from "./order-event.ts";
import { MAX_ORDER_BYTES, type OrderDraft, OrderJsonWriter } from "./order-json.ts";
import { Prng } from "./prng.ts";

export type RecordKind = "valid" | "duplicate" | "late" | "malformed";
export type LateFault = "late_within_watermark" | "late_beyond_watermark";
export type Fault = "out_of_order" | LateFault | "duplicate" | MalformedKind;

export interface SimRecord {
  /** Message key: the customer's user_id (also for malformed records, so they spread like real ones). */
  key: string;
  value: Uint8Array;
  kind: RecordKind;
  /** What was done to it; undefined for a clean, on-time event. */
  fault?: Fault | undefined;
  /** Stream time the record goes out at, ms since the epoch. created_at ≤ this for all but malformed future timestamps. */
  emittedAtMs: number;
  /** Position in the stream, from 0. */
  sequence: number;
}

/** Lateness ranges, relative to the 2-minute watermark the aggregator keeps. */
export const LATENESS_MS = {
  withinWatermark: { min: 30_000, max: 110_000 },
  beyondWatermark: { min: 180_000, max: 600_000 },
} as const;
/** Out-of-order jitter must stay below the smallest lateness so a consumer can tell them apart. */
export const MAX_JITTER_MS = LATENESS_MS.withinWatermark.min - 1;

export interface SimulatorOptions {
  seed: number;
  /** Stream time of the first record, ms since the epoch. */
  startMs: number;
  /** Mean records per second of stream time over a day (before flash sales). Default 1,000. */
  ratePerS?: number;
  /** Share of new orders whose created_at lies 30 s..10 min behind stream time. Default 0. */
  lateFraction?: number;
  /** Of the late ones, the share beyond the watermark (3..10 min); the rest are 30..110 s late. Default 0.5. */
  lateBeyondShare?: number;
  /** Share of new orders whose created_at is 1 ms..`jitterMs` behind stream time. Default 0. */
  outOfOrderFraction?: number;
  /** Largest out-of-order jitter, ms (at most 29,999). Default 5,000. */
  jitterMs?: number;
  /** Share of well-formed orders that are re-sent once, byte for byte, 1..`duplicateDistance` records later. Default 0. */
  duplicateFraction?: number;
  /** Default 200. */
  duplicateDistance?: number;
  /** Share of records that are malformed, spread evenly over MALFORMED_KINDS. Default 0. */
  malformedFraction?: number;
  /** Mean stream time between flash sales; 0 turns them off. Default 5 min. */
  flashSaleEveryMs?: number;
  /** Follow the daily traffic curve (0.5×..1.5× of `ratePerS`). Default true; false gives a steady rate. */
  dailyCurve?: boolean;
  catalog?: CatalogOptions;
  customers?: CustomerOptions;
}

interface FlashSale {
  startMs: number;
  endMs: number;
  multiplier: number;
  categoryIndex: number;
}

/** Size of each buffer the simulator writes value bytes into. */
const ARENA_BYTES = 1 << 20;
const HOUR_MS = 3_600_000;
/** Peak of the daily curve, UTC hour (evening in Europe, afternoon in the Americas). */
const PEAK_HOUR_UTC = 19;

export class Simulator {
  readonly catalog: Catalog;
  readonly customers: Customers;
  readonly #prng: Prng;
  readonly #seed: number;
  readonly #o: Required<Omit<SimulatorOptions, "catalog" | "customers">>;
  #streamMs: number;
  #sequence = 0;
  #orders = 0;
  readonly #drafted: OrderDraft = {
    orderNumber: 0,
    createdMs: 0,
    userId: "",
    lines: 0,
    skus: [],
    categories: [],
    qtys: [],
    unitPrices: [],
    discountMinor: 0,
    amountMinor: 0,
    currency: "",
    totalUsdCents: 0,
    country: "",
    paymentMethod: "",
    channel: "",
    status: "",
  };
  readonly #draftProducts: number[] = [];
  readonly #json: OrderJsonWriter;
  /** Value bytes are written here back to back; each record's value is a view of its part. */
  #arena = new Uint8Array(0);
  #arenaAt = 0;
  /** Re-sends waiting for their turn, ordered by due sequence. */
  #pending: { due: number; key: string; value: Uint8Array }[] = [];
  #flash: FlashSale;

  constructor(options: SimulatorOptions) {
    this.#o = {
      seed: options.seed,
      startMs: options.startMs,
      ratePerS: options.ratePerS ?? 1_000,
      lateFraction: options.lateFraction ?? 0,
      lateBeyondShare: options.lateBeyondShare ?? 0.5,
      outOfOrderFraction: options.outOfOrderFraction ?? 0,
      jitterMs: options.jitterMs ?? 5_000,
      duplicateFraction: options.duplicateFraction ?? 0,
      duplicateDistance: options.duplicateDistance ?? 200,
      malformedFraction: options.malformedFraction ?? 0,
      flashSaleEveryMs: options.flashSaleEveryMs ?? 5 * 60_000,
      dailyCurve: options.dailyCurve ?? true,
    };
    const o = this.#o;
    if (!Number.isFinite(o.startMs)) throw new RangeError(`startMs must be a finite number of ms: got ${o.startMs}`);
    if (!(o.ratePerS > 0)) throw new RangeError(`ratePerS must be positive: got ${o.ratePerS}`);
    for (const name of ["lateFraction", "lateBeyondShare", "outOfOrderFraction", "duplicateFraction", "malformedFraction"] as const) {
      if (!(o[name] >= 0 && o[name] <= 1)) throw new RangeError(`${name} must be within 0..1: got ${o[name]}`);
    }
    if (o.lateFraction + o.outOfOrderFraction > 1) {
      throw new RangeError(`lateFraction + outOfOrderFraction must be at most 1: got ${o.lateFraction + o.outOfOrderFraction}`);
    }
    if (!Number.isInteger(o.jitterMs) || o.jitterMs < 1 || o.jitterMs > MAX_JITTER_MS) {
      throw new RangeError(`jitterMs must be a whole number 1..${MAX_JITTER_MS}: got ${o.jitterMs}`);
    }
    if (!Number.isInteger(o.duplicateDistance) || o.duplicateDistance < 1) {
      throw new RangeError(`duplicateDistance must be a positive whole number: got ${o.duplicateDistance}`);
    }
    if (!(o.flashSaleEveryMs >= 0)) throw new RangeError(`flashSaleEveryMs must be ≥ 0: got ${o.flashSaleEveryMs}`);
    this.#seed = options.seed | 0;
    this.#prng = new Prng(this.#seed);
    this.#json = new OrderJsonWriter(this.#seed);
    this.catalog = new Catalog(this.#seed, options.catalog);
    this.customers = new Customers(this.#seed, options.customers);
    this.#streamMs = Math.floor(o.startMs);
    this.#flash = this.#scheduleFlashSale(this.#streamMs);
  }

  /** Stream time of the most recent record (or the start), ms since the epoch. */
  get streamMs(): number {
    return Math.floor(this.#streamMs);
  }

  /** The next record. The stream never ends; the caller decides how many to take. */
  next(): SimRecord {
    const prng = this.#prng;
    const sequence = this.#sequence++;
    this.#advance();
    const emittedAtMs = Math.floor(this.#streamMs);

    const due = this.#pending[0];
    if (due && due.due <= sequence) {
      this.#pending.shift();
      return { key: due.key, value: due.value, kind: "duplicate", fault: "duplicate", emittedAtMs, sequence };
    }

    const customerIndex = this.customers.pick(prng);
    const customer = this.customers.customers[customerIndex] as Customer;
    if (prng.chance(this.#o.malformedFraction)) {
      const event = this.#order(customer, emittedAtMs);
      const kind = MALFORMED_KINDS[prng.int(0, MALFORMED_KINDS.length - 1)] as MalformedKind;
      return { key: customer.userId, value: corrupt(event, kind, emittedAtMs, prng), kind: "malformed", fault: kind, emittedAtMs, sequence };
    }

    let createdMs = emittedAtMs;
    let kind: RecordKind = "valid";
    let fault: Fault | undefined;
    const timing = prng.next();
    if (timing < this.#o.lateFraction) {
      kind = "late";
      const beyond = prng.next() < this.#o.lateBeyondShare;
      const range = beyond ? LATENESS_MS.beyondWatermark : LATENESS_MS.withinWatermark;
      createdMs -= prng.int(range.min, range.max);
      fault = beyond ? "late_beyond_watermark" : "late_within_watermark";
    } else if (timing < this.#o.lateFraction + this.#o.outOfOrderFraction) {
      createdMs -= prng.int(1, this.#o.jitterMs);
      fault = "out_of_order";
    }
    const value = this.#write(this.#draft(customer, createdMs));
    if (prng.chance(this.#o.duplicateFraction)) {
      this.#enqueueDuplicate(sequence + prng.int(1, this.#o.duplicateDistance), customer.userId, value);
    }
    // One object shape for every record (fault present, maybe undefined): property reads of
    // records downstream stay monomorphic.
    return { key: customer.userId, value, kind, fault, emittedAtMs, sequence };
  }

  /** The draft's JSON bytes, as a view of the arena (a fresh arena when this one is full). */
  #write(draft: OrderDraft): Uint8Array {
    if (this.#arena.length - this.#arenaAt < MAX_ORDER_BYTES) {
      this.#arena = new Uint8Array(ARENA_BYTES);
      this.#arenaAt = 0;
    }
    const start = this.#arenaAt;
    this.#arenaAt = this.#json.write(this.#arena, start, draft);
    return this.#arena.subarray(start, this.#arenaAt);
  }

  /** Moves stream time on by one exponential gap at the current intensity. */
  #advance(): void {
    let now = this.#streamMs;
    if (this.#o.flashSaleEveryMs > 0 && now >= this.#flash.endMs) this.#flash = this.#scheduleFlashSale(now);
    const inFlash = now >= this.#flash.startMs && now < this.#flash.endMs;
    const rate = this.#o.ratePerS * (this.#o.dailyCurve ? dailyShape(now) : 1) * (inFlash ? this.#flash.multiplier : 1);
    now += this.#prng.exponential(1_000 / rate);
    this.#streamMs = now;
  }

  #scheduleFlashSale(afterMs: number): FlashSale {
    if (this.#o.flashSaleEveryMs === 0) return { startMs: Infinity, endMs: Infinity, multiplier: 1, categoryIndex: 0 };
    const startMs = afterMs + this.#prng.exponential(this.#o.flashSaleEveryMs);
    return {
      startMs,
      endMs: startMs + this.#prng.int(20_000, 90_000),
      multiplier: 3 + this.#prng.next() * 5,
      categoryIndex: this.#prng.int(0, CATEGORIES.length - 1),
    };
  }

  #enqueueDuplicate(due: number, key: string, value: Uint8Array): void {
    const pending = this.#pending;
    let i = pending.length;
    while (i > 0 && (pending[i - 1] as { due: number }).due > due) i--;
    pending.splice(i, 0, { due, key, value });
  }

  /** A well-formed order by `customer` created at `createdMs`, as an object. */
  #order(customer: Customer, createdMs: number): OrderEvent {
    return orderEventOf(this.#draft(customer, createdMs), this.#seed);
  }

  /**
   * Decides a well-formed order by `customer` created at `createdMs`, into the one reused draft.
   * Every random draw of an order happens here, in a fixed order, whatever becomes of the draft.
   */
  #draft(customer: Customer, createdMs: number): OrderDraft {
    const prng = this.#prng;
    const catalog = this.catalog;
    const flash = this.#flash;
    const d = this.#drafted;
    const inFlash = createdMs >= flash.startMs && createdMs < flash.endMs;
    // Basket size: mostly one or two lines, geometric tail, at most 8.
    let lines = 1;
    while (lines < 8 && prng.next() < 0.42) lines++;
    const products = this.#draftProducts;
    d.lines = 0;
    let subtotal = 0;
    for (let l = 0; l < lines; l++) {
      const product = inFlash && prng.next() < 0.6 ? catalog.pickInCategory(prng, flash.categoryIndex) : catalog.pick(prng);
      const p = catalog.products[product]!;
      const category = CATEGORIES[p.categoryIndex]!;
      let qty = 1;
      if (prng.next() < category.multiQtyChance) qty = prng.int(2, prng.next() < 0.8 ? 3 : 12);
      const unit = catalog.priceMinor(product, customer.currencyIndex);
      subtotal += qty * unit;
      let existing = -1;
      for (let k = 0; k < d.lines && existing < 0; k++) if (products[k] === product) existing = k;
      if (existing >= 0) {
        // The same SKU twice in a cart is one line with a larger quantity.
        d.qtys[existing]! += qty;
        continue;
      }
      products[d.lines] = product;
      d.skus[d.lines] = p.sku;
      d.categories[d.lines] = p.category;
      d.qtys[d.lines] = qty;
      d.unitPrices[d.lines] = unit;
      d.lines++;
    }
    let discount = 0;
    if (prng.next() < (inFlash ? 0.7 : 0.15)) {
      const percent = inFlash ? prng.pick([20, 25, 30, 40]) : prng.pick([5, 10, 10, 15, 20]);
      discount = Math.floor((subtotal * percent) / 100);
    }
    const currency = CURRENCIES[customer.currencyIndex] as Currency;
    const amount = subtotal - discount;
    const payment = this.customers.paymentFor(prng, customer);
    const deferred = payment === "bank_transfer" || payment === "klarna";
    d.status = deferred || prng.next() < 0.1 ? "placed" : "paid";
    d.channel = prng.next() < 0.8 ? customer.channel : prng.pick(["web", "ios", "android", "pos"] as const);
    d.orderNumber = this.#orders++;
    d.createdMs = createdMs;
    d.userId = customer.userId;
    d.discountMinor = discount;
    d.amountMinor = amount;
    d.currency = currency;
    d.totalUsdCents = toUsdCents(amount, currency);
    d.country = customer.country;
    d.paymentMethod = payment;
    return d;
  }
}

/** The order event a draft describes. */
export function orderEventOf(d: OrderDraft, seed: number): OrderEvent {
  const items: OrderItem[] = [];
  for (let i = 0; i < d.lines; i++) {
    items.push({ sku: d.skus[i]!, category: d.categories[i]!, qty: d.qtys[i]!, unit_price_minor: d.unitPrices[i]! });
  }
  return {
    schema_version: SCHEMA_VERSION,
    event_id: sequenceUuid(seed, d.orderNumber),
    order_id: `o-${(fmix32(d.orderNumber ^ fmix32(seed)) >>> 0).toString(36)}${d.orderNumber.toString(36)}`,
    user_id: d.userId,
    created_at: new Date(d.createdMs).toISOString(),
    items,
    discount_minor: d.discountMinor,
    total: { amount_minor: d.amountMinor, currency: d.currency as Currency },
    total_usd_cents: d.totalUsdCents,
    country: d.country,
    payment_method: d.paymentMethod as OrderEvent["payment_method"],
    channel: d.channel as OrderEvent["channel"],
    status: d.status as OrderStatus,
  };
}

/** Traffic relative to the daily mean at a stream time: 1.5× at the evening peak, 0.5× at the trough. */
export function dailyShape(streamMs: number): number {
  const hour = (streamMs % (24 * HOUR_MS)) / HOUR_MS;
  return 1 + 0.5 * Math.cos((2 * Math.PI * (hour - PEAK_HOUR_UTC)) / 24);
}
