/**
 * The measures of one tumbling window on one partition, updated one counted order at a time.
 *
 * Measures: orders, revenueUsdCents (sum of `total_usd_cents`), items (sum of `qty`), customers
 * (distinct `user_id`, as 96-bit fingerprints: lib/window/fingerprint-set.ts), and
 * orders/revenueUsdCents/items by category and by country.
 *
 * Revenue is exact at any size: a bigint outside. One order's total is below 2^53 (the
 * validator's limits), but 71 of the largest valid orders (1.27 × 10^14 cents, in GBP) in one
 * window pass it. Inside, each sum is a number while it stays a safe integer, plus a bigint carry
 * that takes the number over when the next addition would pass Number.MAX_SAFE_INTEGER: no BigInt
 * operation per event (the whole worker spends a few µs on one). Orders and items stay numbers:
 * passing 2^53 would take 2^53 orders, or 9 × 10^10 orders of the most items a valid order has
 * (10^5), in one window.
 *
 * Category breakdown: an order counts once in each category it contains; its items there are
 * the qty of that category's lines; its revenue there is `total_usd_cents` split over its
 * categories in proportion to each category's line amount (sum of qty × unit_price_minor) by
 * {@link allocateLargestRemainder}, categories in ascending name order (so ties go to the
 * smaller name, and all-zero amounts put the whole total on the first name). The category
 * revenues of one order therefore sum exactly to its total.
 *
 * Cardinality guard: each dimension map holds at most `maxDimensionValues` named keys. A value
 * that is not yet a key once that many exist goes to the {@link OTHER_BUCKET} key instead, which
 * is extra (so a map has at most maxDimensionValues + 1 keys). An order's categories are admitted
 * in ascending name order, each seeing the keys admitted before it; if several of its categories
 * land in "other" (or a real category is literally named "other"), the order counts once there
 * with their items and revenue summed. Which values get a key thus depends on arrival order
 * within the window — deliberate: the guard bounds memory, and "other" says the window had more.
 */
import { allocateLargestRemainder } from "./allocate-largest-remainder.ts";
import { FINGERPRINT, FingerprintSet, type Fingerprints, fingerprintOf } from "./fingerprint-set.ts";
import type { CountableOrder } from "../event/order-event.ts";

/** The dimension key that collects values past the cardinality guard. */
export const OTHER_BUCKET = "other";

export interface DimensionTotals {
  orders: number;
  /** Exact at any size (see the module comment). */
  revenueUsdCents: bigint;
  items: number;
}

/** One emitted result, keyed by (partition, windowStartMs); a later one for a key supersedes earlier ones. */
export interface WindowResult {
  partition: number;
  windowStartMs: number;
  windowEndMs: number;
  orders: number;
  /** Exact at any size (see the module comment). */
  revenueUsdCents: bigint;
  items: number;
  customers: number;
  /** Keys in ascending order. */
  byCategory: Record<string, DimensionTotals>;
  byCountry: Record<string, DimensionTotals>;
  /** True once the window has closed: no later result for this key will follow. */
  final: boolean;
  /** The processing time passed to `collect()`. */
  emittedAtMs: number;
}

/** Everything needed to rebuild a {@link WindowAggregate} exactly (see `lib/window/checkpoint.ts`). */
export interface WindowSnapshot {
  windowStartMs: number;
  orders: number;
  revenueUsdCents: bigint;
  items: number;
  /** Fingerprints of the distinct user_ids, in insertion order. */
  customers: Fingerprints;
  /** In key-insertion order. */
  byCategory: [string, DimensionTotals][];
  byCountry: [string, DimensionTotals][];
  /**
   * Fingerprints of the event ids counted in this window, in insertion order: the partition's
   * dedup state while the window is open; empty once it has closed.
   */
  eventIds: Fingerprints;
  closed: boolean;
  changedSinceEmit: boolean;
  /** -Infinity when never emitted. */
  lastEmittedAtMs: number;
}

// Scratch arrays reused across add() calls: an order has a handful of categories, and
// allocating fresh arrays per event is measurable at 250k events/s. Safe because add() is synchronous.
const scratchCategories: string[] = [];
const scratchQty: number[] = [];
const scratchAmount: number[] = [];
const scratchRevenue: number[] = [];

/**
 * A dimension's running totals: revenue is `cents + carry` (see the module comment), `cents`
 * always a safe integer.
 */
interface RunningTotals {
  orders: number;
  cents: number;
  carry: bigint;
  items: number;
}

export class WindowAggregate {
  /** A number, exact: past 2^53 would take 2^53 orders in one window. */
  orders = 0;
  /** A number, exact: past 2^53 would take 9 × 10^10 orders of the most items a valid order has. */
  items = 0;
  /** Revenue so far is `#cents + #carry`: `#cents` a safe integer, `#carry` what did not fit it. */
  #cents = 0;
  #carry = 0n;
  /** Distinct user_ids, as fingerprints. */
  readonly customers = new FingerprintSet();
  readonly #byCategory = new Map<string, RunningTotals>();
  readonly #byCountry = new Map<string, RunningTotals>();
  /**
   * Fingerprints of the event ids counted here: the partition checks them for duplicates while
   * the window is open, and drops them when it closes (`expireIds()`).
   */
  eventIds = new FingerprintSet();
  closed = false;
  changedSinceEmit = false;
  lastEmittedAtMs = -Infinity;

  constructor(
    readonly windowStartMs: number,
    readonly windowEndMs: number,
    private readonly maxDimensionValues: number,
  ) {}

  /** Count one order. Never throws on data (the validator has already checked its shape). */
  add(event: CountableOrder): void {
    fingerprintOf(event.event_id);
    this.addCounted(event, FINGERPRINT[0]!, FINGERPRINT[1]!, FINGERPRINT[2]!);
  }

  /**
   * {@link add} for an order whose event id's fingerprint `idA, idB, idC` is known already (the
   * partition computes it to look for duplicates).
   */
  addCounted(event: CountableOrder, idA: number, idB: number, idC: number): void {
    const total = event.total_usd_cents;
    const lines = event.items;
    this.orders += 1;
    const cents = this.#cents + total;
    // Exact while within ±MAX_SAFE_INTEGER; past it (the double sum rounds to 2^53 or beyond), carry.
    if (cents <= Number.MAX_SAFE_INTEGER && cents >= -Number.MAX_SAFE_INTEGER) this.#cents = cents;
    else {
      this.#carry += BigInt(this.#cents);
      this.#cents = total;
    }
    fingerprintOf(event.user_id);
    this.customers.addCurrent();
    this.eventIds.add(idA, idB, idC);
    this.changedSinceEmit = true;

    // Distinct categories of the order, sorted by name, with their qty and line amount.
    scratchCategories.length = 0;
    scratchQty.length = 0;
    scratchAmount.length = 0;
    let n = 0;
    let orderItems = 0;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      orderItems += line.qty;
      let at = scratchCategories.indexOf(line.category);
      if (at < 0) {
        at = n++;
        scratchCategories[at] = line.category;
        scratchQty[at] = 0;
        scratchAmount[at] = 0;
      }
      scratchQty[at]! += line.qty;
      scratchAmount[at]! += line.qty * line.unit_price_minor;
    }
    this.items += orderItems;
    addTo(this.totalsFor(this.#byCountry, event.country), 1, total, orderItems);
    if (n === 0) return;
    if (n === 1) {
      // One category (most orders): it takes the whole total; no sort, no split.
      addTo(this.totalsFor(this.#byCategory, scratchCategories[0]!), 1, total, scratchQty[0]!);
      return;
    }
    sortByName(n);
    allocateLargestRemainder(total, scratchAmount, scratchRevenue);
    let otherTaken = false;
    for (let i = 0; i < n; i++) {
      const category = this.totalsFor(this.#byCategory, scratchCategories[i]!);
      // Categories of one order are distinct, so only "other" can come up twice: count the order there once.
      const isOther = category === this.#byCategory.get(OTHER_BUCKET);
      addTo(category, isOther && otherTaken ? 0 : 1, scratchRevenue[i]!, scratchQty[i]!);
      if (isOther) otherTaken = true;
    }
  }

  /** The window's revenue so far, exact. */
  get revenueUsdCents(): bigint {
    return exactSum(this.#cents, this.#carry);
  }

  toResult(partition: number, final: boolean, emittedAtMs: number): WindowResult {
    return {
      partition,
      windowStartMs: this.windowStartMs,
      windowEndMs: this.windowEndMs,
      orders: this.orders,
      revenueUsdCents: this.revenueUsdCents,
      items: this.items,
      customers: this.customers.size,
      byCategory: toRecord(this.#byCategory),
      byCountry: toRecord(this.#byCountry),
      final,
      emittedAtMs,
    };
  }

  snapshot(): WindowSnapshot {
    return {
      windowStartMs: this.windowStartMs,
      orders: this.orders,
      revenueUsdCents: this.revenueUsdCents,
      items: this.items,
      customers: this.customers.view(),
      byCategory: [...this.#byCategory].map(([key, t]) => [key, publicTotals(t)]),
      byCountry: [...this.#byCountry].map(([key, t]) => [key, publicTotals(t)]),
      eventIds: this.eventIds.view(),
      closed: this.closed,
      changedSinceEmit: this.changedSinceEmit,
      lastEmittedAtMs: this.lastEmittedAtMs,
    };
  }

  static restore(snapshot: WindowSnapshot, windowSizeMs: number, maxDimensionValues: number): WindowAggregate {
    const w = new WindowAggregate(snapshot.windowStartMs, snapshot.windowStartMs + windowSizeMs, maxDimensionValues);
    w.orders = snapshot.orders;
    [w.#cents, w.#carry] = split(snapshot.revenueUsdCents);
    w.items = snapshot.items;
    w.customers.addAll(snapshot.customers.entries());
    for (const [key, t] of snapshot.byCategory) w.#byCategory.set(key, runningTotals(t));
    for (const [key, t] of snapshot.byCountry) w.#byCountry.set(key, runningTotals(t));
    w.eventIds.addAll(snapshot.eventIds.entries());
    w.closed = snapshot.closed;
    w.changedSinceEmit = snapshot.changedSinceEmit;
    w.lastEmittedAtMs = snapshot.lastEmittedAtMs;
    return w;
  }

  /** The window has closed: its event ids no longer de-duplicate anything (a later copy is late). */
  expireIds(): void {
    if (this.eventIds.size > 0) this.eventIds = new FingerprintSet();
  }

  /**
   * The totals `value` adds to: its own, or OTHER_BUCKET's when it is not yet a key and the map
   * already holds maxDimensionValues named keys. Created at zero when new.
   */
  private totalsFor(map: Map<string, RunningTotals>, value: string): RunningTotals {
    const totals = map.get(value);
    if (totals !== undefined) return totals;
    const named = map.size - (map.has(OTHER_BUCKET) ? 1 : 0);
    const key = value === OTHER_BUCKET || named < this.maxDimensionValues ? value : OTHER_BUCKET;
    let created = key === value ? undefined : map.get(key);
    if (created === undefined) {
      created = { orders: 0, cents: 0, carry: 0n, items: 0 };
      map.set(key, created);
    }
    return created;
  }
}

function addTo(totals: RunningTotals, orders: number, revenueUsdCents: number, items: number): void {
  totals.orders += orders;
  const cents = totals.cents + revenueUsdCents;
  if (cents <= Number.MAX_SAFE_INTEGER && cents >= -Number.MAX_SAFE_INTEGER) totals.cents = cents;
  else {
    totals.carry += BigInt(totals.cents);
    totals.cents = revenueUsdCents;
  }
  totals.items += items;
}

function exactSum(cents: number, carry: bigint): bigint {
  return carry === 0n ? BigInt(cents) : carry + BigInt(cents);
}

/** An exact sum as (safe-integer number, bigint carry). */
function split(cents: bigint): [number, bigint] {
  return cents <= BigInt(Number.MAX_SAFE_INTEGER) && cents >= -BigInt(Number.MAX_SAFE_INTEGER) ? [Number(cents), 0n] : [0, cents];
}

function publicTotals(t: RunningTotals): DimensionTotals {
  return { orders: t.orders, revenueUsdCents: exactSum(t.cents, t.carry), items: t.items };
}

function runningTotals(t: DimensionTotals): RunningTotals {
  const [cents, carry] = split(t.revenueUsdCents);
  return { orders: t.orders, cents, carry, items: t.items };
}

/** Insertion sort of the first n scratch entries by category name (n is tiny). */
function sortByName(n: number): void {
  for (let i = 1; i < n; i++) {
    const name = scratchCategories[i]!;
    const qty = scratchQty[i]!;
    const amount = scratchAmount[i]!;
    let j = i - 1;
    while (j >= 0 && scratchCategories[j]! > name) {
      scratchCategories[j + 1] = scratchCategories[j]!;
      scratchQty[j + 1] = scratchQty[j]!;
      scratchAmount[j + 1] = scratchAmount[j]!;
      j--;
    }
    scratchCategories[j + 1] = name;
    scratchQty[j + 1] = qty;
    scratchAmount[j + 1] = amount;
  }
}

function toRecord(map: Map<string, RunningTotals>): Record<string, DimensionTotals> {
  // fromEntries defines own properties, so a value like "__proto__" is just a key.
  return Object.fromEntries([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, t]) => [key, publicTotals(t)]));
}
