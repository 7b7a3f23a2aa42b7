import { describe, expect, test } from "bun:test";
import { plainPartition } from "../../test/support/plain-snapshot.ts";
import type { OrderEvent } from "../event/order-event.ts";
import { PartitionAggregator } from "./partition-aggregator.ts";
import type { WindowResult } from "./window-aggregate.ts";

/** A one-line order of 100 cents in category "books" from the US; only the id matters to the state. */
function order(id: string, fields: Partial<OrderEvent> = {}): OrderEvent {
  return {
    schema_version: 1,
    event_id: id,
    order_id: `o-${id}`,
    user_id: `u-${id}`,
    created_at: "2026-11-28T10:15:00.123Z",
    items: [{ sku: "s1", category: "books", qty: 1, unit_price_minor: 100 }],
    discount_minor: 0,
    total: { amount_minor: 100, currency: "USD" },
    total_usd_cents: 100,
    country: "US",
    payment_method: "card",
    channel: "web",
    status: "paid",
    ...fields,
  };
}

/** Size 10 s, delay 20 s: small numbers that keep the expected values readable. */
function state(options = {}) {
  return new PartitionAggregator("orders", 3, { windowSizeMs: 10_000, watermarkDelayMs: 20_000, emitIntervalMs: 1000, ...options });
}

/** The expected result of a window of n default orders. */
function result(windowStartMs: number, n: number, final: boolean, emittedAtMs: number): WindowResult {
  const totals = { orders: n, revenueUsdCents: BigInt(100 * n), items: n };
  return {
    partition: 3,
    windowStartMs,
    windowEndMs: windowStartMs + 10_000,
    ...totals,
    customers: n,
    byCategory: { books: totals },
    byCountry: { US: totals },
    final,
    emittedAtMs,
  };
}

describe("judging events", () => {
  test("add() counts a new event and moves the watermark to its time minus the delay", () => {
    const s = state();
    expect(s.add(0n, order("a"), 25_000)).toEqual("counted");
    expect(s.watermarkMs).toEqual(5_000);
  });

  test("17.2 add() moves the watermark by an event's time only up to its record's timestamp plus maxAheadMs", () => {
    const s = state({ maxAheadMs: 2_000 });
    // created_at 60 s ahead of its record: counted in its own window, watermark from 25 s + 2 s.
    expect(s.add(0n, order("early"), 85_000, 25_000)).toEqual("counted");
    expect(s.watermarkMs).toEqual(7_000);
    // The on-time traffic after it is not late.
    expect(s.add(1n, order("b"), 26_000, 26_000)).toEqual("counted");
    // Without a record timestamp (-1) the event's own time counts.
    expect(s.add(2n, order("c"), 40_000, -1)).toEqual("counted");
    expect(s.watermarkMs).toEqual(20_000);
  });

  test("add() drops a repeated event_id as a duplicate without moving the watermark", () => {
    const s = state();
    s.add(0n, order("a"), 25_000);
    expect(s.add(1n, order("a", { created_at: "later" }), 90_000)).toEqual("duplicate");
    expect([s.watermarkMs, s.stats().duplicates, s.stats().counted]).toEqual([5_000, 1, 1]);
  });

  test("add() judges an event late when its window's end is at or before the watermark", () => {
    const s = state();
    s.add(0n, order("a"), 30_000); // watermark 10_000: window [0, 10_000) has closed
    expect(s.add(1n, order("b"), 9_999)).toEqual("late");
    expect(s.stats().late).toEqual(1);
  });

  test("add() does not judge an event at exactly the watermark late", () => {
    const s = state();
    s.add(0n, order("a"), 30_000); // watermark 10_000
    expect(s.add(1n, order("b"), 10_000)).toEqual("counted");
  });

  test("add() never judges an event late by its own time, even with no delay", () => {
    // It is judged before its time moves the watermark, and t − delay < its window's end.
    const s = state({ watermarkDelayMs: 0 });
    expect(s.add(0n, order("a"), 1_000_000)).toEqual("counted");
    expect(s.add(1n, order("b"), 999_999)).toEqual("late");
  });

  test("late events do not move the watermark", () => {
    const s = state();
    s.add(0n, order("a"), 30_000);
    s.add(1n, order("b"), 1_000);
    expect(s.watermarkMs).toEqual(10_000);
  });

  test("a copy arriving after its window closed is judged late, not counted twice", () => {
    const s = state();
    s.add(0n, order("a"), 1_000);
    s.add(1n, order("b"), 30_000); // closes [0, 10_000), expiring "a" from dedup state
    expect(s.add(2n, order("a"), 1_000)).toEqual("late");
    expect(s.stats()).toMatchObject({ counted: 2, duplicates: 0, late: 1 });
  });

  test("add() treats a non-finite event time as invalid", () => {
    const s = state();
    expect(s.add(0n, order("a"), Number.NaN)).toEqual("invalid");
    expect(s.stats()).toMatchObject({ counted: 0, invalid: 1, nextOffset: 1n });
  });

  test("negative event times fall into the window that contains them", () => {
    const s = state();
    s.add(0n, order("a"), -1);
    expect(s.collect(0)).toEqual([result(-10_000, 1, false, 0)]);
  });
});

describe("windows and the watermark", () => {
  test("a window closes when the watermark reaches its end, and is emitted final once", () => {
    const s = state();
    s.add(0n, order("a"), 1_000);
    s.add(1n, order("b"), 30_000); // watermark 10_000 = end of [0, 10_000)
    expect(s.collect(0)).toEqual([result(0, 1, true, 0), result(30_000, 1, false, 0)]);
    expect(s.collect(5_000)).toEqual([]);
    expect(s.stats().openWindows).toEqual(1);
  });

  test("the watermark never moves backwards", () => {
    const s = state();
    s.add(0n, order("a"), 50_000);
    s.add(1n, order("b"), 40_000);
    s.advanceIdle(0);
    expect(s.watermarkMs).toEqual(30_000);
  });

  test("advanceIdle() lets the watermark follow processing time and closes windows", () => {
    const s = state();
    s.add(0n, order("a"), 1_000);
    s.advanceIdle(30_000);
    expect([s.watermarkMs, s.stats().maxEventTimeMs]).toEqual([10_000, 1_000]);
    expect(s.collect(30_000)).toEqual([result(0, 1, true, 30_000)]);
  });

  test("dedup ids and windows expire with the watermark, keeping memory bounded", () => {
    const s = state();
    for (let i = 0; i < 10_000; i++) s.add(BigInt(i), order(`e${i}`), i * 100);
    s.collect(0);
    const snapshot = s.snapshot();
    // Watermark 979_900: open windows are [970_000, ...) up to [990_000, ...).
    expect(snapshot.windows.map((w) => [w.windowStartMs, w.eventIds.count])).toEqual([
      [970_000, 100],
      [980_000, 100],
      [990_000, 100],
    ]);
  });
});

describe("emission", () => {
  test("collect() emits an open window only when it changed since its last emission", () => {
    const s = state();
    s.add(0n, order("a"), 1_000);
    expect(s.collect(0)).toEqual([result(0, 1, false, 0)]);
    expect(s.collect(2_000)).toEqual([]);
    s.add(1n, order("b"), 2_000);
    expect(s.collect(4_000)).toEqual([result(0, 2, false, 4_000)]);
  });

  test("collect() emits an open window at most once per emit interval", () => {
    const s = state();
    s.add(0n, order("a"), 1_000);
    s.collect(0);
    s.add(1n, order("b"), 2_000);
    expect(s.collect(999)).toEqual([]);
    expect(s.collect(1_000)).toEqual([result(0, 2, false, 1_000)]);
  });

  test("collect() emits a closed window final even within the emit interval", () => {
    const s = state();
    s.add(0n, order("a"), 1_000);
    s.collect(0);
    s.advanceIdle(100_000);
    expect(s.collect(1)).toEqual([result(0, 1, true, 1)]);
  });

  test("collect() orders results by window start", () => {
    const s = state();
    s.add(0n, order("a"), 25_000);
    s.add(1n, order("b"), 5_000 + 10_000);
    s.add(2n, order("c"), 5_000);
    expect(s.collect(0).map((r) => r.windowStartMs)).toEqual([0, 10_000, 20_000]);
  });
});

describe("offsets and counters", () => {
  test("nextOffset starts at startOffset and follows the highest offset seen, including skipped records", () => {
    const s = state({ startOffset: 40n });
    expect(s.nextOffset).toEqual(40n);
    s.add(41n, order("a"), 1_000);
    s.skip(42n);
    s.add(7n, order("b"), 1_000);
    expect(s.stats()).toEqual({
      topic: "orders",
      partition: 3,
      nextOffset: 43n,
      watermarkMs: -19_000,
      maxEventTimeMs: 1_000,
      openWindows: 1,
      counted: 2,
      duplicates: 0,
      late: 0,
      invalid: 1,
    });
  });

  test("a fresh state has no watermark and no max event time", () => {
    expect(state().stats()).toMatchObject({ watermarkMs: -Infinity, maxEventTimeMs: -Infinity, nextOffset: 0n });
  });

  test("the constructor names a bad setting", () => {
    expect(() => state({ windowSizeMs: -5 })).toThrow(new RangeError("window size must be a positive integer of ms: got -5"));
    expect(() => state({ watermarkDelayMs: 1.5 })).toThrow(RangeError);
    expect(() => state({ maxDimensionValues: -1 })).toThrow(RangeError);
  });
});

describe("snapshot and restore", () => {
  test("restore(snapshot()) continues exactly like the original", () => {
    const a = state({ maxDimensionValues: 1 });
    const feed = (s: PartitionAggregator, from: number, to: number) => {
      const out: WindowResult[] = [];
      for (let i = from; i < to; i++) {
        // Times wander back and forth; every 7th event repeats an earlier id; categories overflow.
        const t = i * 700 - (i % 5) * 9_000;
        const id = i % 7 === 0 ? `e${i - 3}` : `e${i}`;
        s.add(BigInt(i), order(id, { country: `C${i % 3}`, items: [{ sku: "s", category: `k${i % 4}`, qty: 1, unit_price_minor: 100 }] }), t);
        if (i % 11 === 0) out.push(...s.collect(i * 100));
      }
      return out;
    };
    feed(a, 0, 200);
    const b = PartitionAggregator.restore(a.snapshot(), { windowSizeMs: 10_000, watermarkDelayMs: 20_000, maxDimensionValues: 1 });
    expect(plainPartition(b.snapshot())).toEqual(plainPartition(a.snapshot()));
    expect(feed(b, 200, 400)).toEqual(feed(a, 200, 400));
    expect(b.stats()).toEqual(a.stats());
  });

  test("a snapshot keeps closed windows that were not collected yet", () => {
    const a = state();
    a.add(0n, order("a"), 1_000);
    a.advanceIdle(100_000);
    const b = PartitionAggregator.restore(a.snapshot(), { windowSizeMs: 10_000, watermarkDelayMs: 20_000 });
    expect(b.collect(5)).toEqual([result(0, 1, true, 5)]);
  });
});
