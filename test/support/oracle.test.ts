/**
 * The oracle checked by hand on a small case, then the aggregator state machine checked
 * against the oracle on thousands of seeded random sequences with out-of-order, late,
 * duplicate and invalid records, idle advances, collects at random processing times and
 * checkpoint round trips in the middle.
 */
import { describe, expect, test } from "bun:test";
import { decodeCheckpoint, encodeCheckpoint } from "../../lib/window/checkpoint.ts";
import type { OrderEvent, OrderItem } from "../../lib/event/order-event.ts";
import { type AggregatorSettings, PartitionAggregator } from "../../lib/window/partition-aggregator.ts";
import type { WindowResult } from "../../lib/window/window-aggregate.ts";
import { centOrder, LARGEST_ORDER_USD_CENTS, largestOrder } from "./largest-order.ts";
import { type OracleRecord, type OracleWindow, runOracle } from "./oracle.ts";

function order(id: string, items: OrderItem[], totalUsdCents: number, userId: string, country: string): OrderEvent {
  return {
    schema_version: 1,
    event_id: id,
    order_id: `o-${id}`,
    user_id: userId,
    created_at: "2026-11-28T10:15:00.123Z",
    items,
    discount_minor: 0,
    total: { amount_minor: totalUsdCents, currency: "USD" },
    total_usd_cents: totalUsdCents,
    country,
    payment_method: "card",
    channel: "web",
    status: "paid",
  };
}

describe("oracle by hand", () => {
  test("runOracle() applies duplicate, late, idle and window closing as specified", () => {
    const settings = { windowSizeMs: 10, watermarkDelayMs: 5, maxDimensionValues: 1, maxAheadMs: 10_000 };
    const books = (qty: number, price: number): OrderItem => ({ sku: "b", category: "books", qty, unit_price_minor: price });
    const toys = (qty: number, price: number): OrderItem => ({ sku: "t", category: "toys", qty, unit_price_minor: price });
    const records: OracleRecord[] = [
      { kind: "event", offset: 0n, event: order("a", [books(1, 100), toys(2, 100)], 301, "u1", "US"), eventTimeMs: 3 },
      { kind: "event", offset: 1n, event: order("b", [toys(1, 50)], 50, "u1", "DE"), eventTimeMs: 14 }, // watermark 9
      { kind: "event", offset: 2n, event: order("a", [books(1, 100)], 100, "u1", "US"), eventTimeMs: 3 }, // duplicate
      { kind: "invalid", offset: 3n },
      { kind: "event", offset: 4n, event: order("c", [books(1, 10)], 10, "u2", "US"), eventTimeMs: 16 }, // watermark 11: [0,10) closes
      { kind: "event", offset: 5n, event: order("a", [books(1, 100)], 100, "u1", "US"), eventTimeMs: 3 }, // late: id expired with its window
      { kind: "event", offset: 6n, event: order("d", [books(1, 10)], 10, "u3", "US"), eventTimeMs: 9 }, // late: [0,10) closed
      { kind: "idle", nowMs: 30 }, // watermark 25: [10,20) closes
    ];
    expect(runOracle(new Map([[2, records]]), settings)).toEqual([
      {
        partition: 2,
        windows: [
          {
            partition: 2,
            windowStartMs: 0,
            windowEndMs: 10,
            orders: 1,
            revenueUsdCents: 301n,
            items: 3,
            customers: 1,
            // Quotas books 100.33, toys 200.67 → 100 + 201; max 1 named value, so toys goes to "other".
            byCategory: { books: { orders: 1, revenueUsdCents: 100n, items: 1 }, other: { orders: 1, revenueUsdCents: 201n, items: 2 } },
            byCountry: { US: { orders: 1, revenueUsdCents: 301n, items: 3 } },
            final: true,
          },
          {
            partition: 2,
            windowStartMs: 10,
            windowEndMs: 20,
            orders: 2,
            revenueUsdCents: 60n,
            items: 2,
            customers: 2,
            byCategory: { toys: { orders: 1, revenueUsdCents: 50n, items: 1 }, other: { orders: 1, revenueUsdCents: 10n, items: 1 } },
            byCountry: { DE: { orders: 1, revenueUsdCents: 50n, items: 1 }, other: { orders: 1, revenueUsdCents: 10n, items: 1 } },
            final: true,
          },
        ],
        counted: 3,
        duplicates: 1,
        late: 2,
        invalid: 1,
        watermarkMs: 25,
        nextOffset: 7n,
      },
    ]);
  });
});

// ---- a tiny seeded event maker -------------------------------------------------------------

/** mulberry32: small, fast, and the same sequence on every platform. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CATEGORIES = ["books", "toys", "garden", "games", "other", "__proto__", "audio"];
const COUNTRIES = ["US", "DE", "FR", "JP", "BR", "IN"];

interface Case {
  settings: AggregatorSettings;
  emitIntervalMs: number;
  partitions: Map<number, OracleRecord[]>;
}

function makeCase(seed: number): Case {
  const rnd = random(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const windowSizeMs = pick([1, 7, 100, 1000, 60_000]);
  const settings = {
    windowSizeMs,
    watermarkDelayMs: pick([0, Math.floor(windowSizeMs / 2), 2 * windowSizeMs, Math.floor(2.5 * windowSizeMs) + 3]),
    maxDimensionValues: pick([0, 1, 2, 3, 50]),
    maxAheadMs: pick([0, Math.floor(windowSizeMs / 2), 10_000]),
  };
  const partitions = new Map<number, OracleRecord[]>();
  for (let p = 0, count = int(1, 3); p < count; p++) {
    const records: OracleRecord[] = [];
    const sent: { event: OrderEvent; eventTimeMs: number }[] = [];
    let clock = int(-5, 5) * windowSizeMs + int(0, windowSizeMs); // negative times too
    let offset = BigInt(int(0, 1000));
    for (let i = 0, n = int(0, 200); i < n; i++) {
      clock += int(0, Math.max(1, Math.floor(windowSizeMs / 3)));
      const roll = rnd();
      if (roll < 0.03) {
        records.push({ kind: "invalid", offset: offset++ });
      } else if (roll < 0.05) {
        records.push({ kind: "idle", nowMs: clock + int(-settings.watermarkDelayMs, 3 * windowSizeMs) });
      } else if (roll < 0.15 && sent.length > 0) {
        // A re-sent duplicate: same id and content, sometimes long after the original.
        const again = rnd() < 0.5 ? sent[sent.length - 1 - int(0, Math.min(3, sent.length - 1))]! : pick(sent);
        records.push({ kind: "event", offset: offset++, ...again, timestampMs: clock });
      } else {
        // Mostly near the clock; some out of order within the delay; some far behind (late).
        const spread = settings.watermarkDelayMs + windowSizeMs;
        const eventTimeMs = rnd() < 0.1 ? clock - int(0, 4 * spread) : clock - int(0, Math.floor(spread / 2)) + int(0, Math.floor(windowSizeMs / 4));
        const lines: OrderItem[] = [];
        for (let l = 0, lineCount = int(1, 4); l < lineCount; l++) {
          lines.push({ sku: `s${l}`, category: pick(CATEGORIES), qty: int(1, 3), unit_price_minor: rnd() < 0.1 ? 0 : int(1, 50_000) });
        }
        const amount = lines.reduce((s, l) => s + l.qty * l.unit_price_minor, 0);
        const total = Math.max(0, Math.round(amount * pick([1, 0.0067, 1.09, 1.27])) - int(0, 100));
        const event = order(`p${p}-e${i}`, lines, total, `u${int(0, 12)}`, pick(COUNTRIES));
        // The record's Kafka timestamp: mostly the clock; sometimes none; sometimes well behind
        // the event (a client clock ahead), which caps how far the event moves the watermark.
        const timestampMs = rnd() < 0.1 ? -1 : rnd() < 0.2 ? eventTimeMs - int(0, 3 * spread) : clock;
        sent.push({ event, eventTimeMs });
        records.push({ kind: "event", offset: offset++, event, eventTimeMs, timestampMs });
      }
    }
    partitions.set(p, records);
  }
  return { settings, emitIntervalMs: pick([0, 500, 5000]), partitions };
}

// ---- driving the state machine the way the worker will -------------------------------------

interface Run {
  windows: OracleWindow[];
  stats: ReturnType<PartitionAggregator["stats"]>;
}

function runStateMachine(partition: number, records: readonly OracleRecord[], c: Case, seed: number): Run {
  const rnd = random(seed);
  const options = { ...c.settings, emitIntervalMs: c.emitIntervalMs };
  let state = new PartitionAggregator("orders", partition, options);
  let nowMs = 1_000_000;
  const latest = new Map<number, WindowResult>();
  const lastOpenEmit = new Map<number, number>();
  const take = (results: WindowResult[]) => {
    for (const r of results) {
      const previous = latest.get(r.windowStartMs);
      if (previous?.final) throw new Error(`window ${r.windowStartMs} emitted after its final result`);
      if (!r.final) {
        const last = lastOpenEmit.get(r.windowStartMs);
        if (last !== undefined && r.emittedAtMs - last < c.emitIntervalMs) throw new Error(`window ${r.windowStartMs} emitted within the interval`);
        lastOpenEmit.set(r.windowStartMs, r.emittedAtMs);
      }
      latest.set(r.windowStartMs, r);
    }
  };
  for (const record of records) {
    switch (record.kind) {
      case "event":
        state.add(record.offset, record.event, record.eventTimeMs, record.timestampMs);
        break;
      case "invalid":
        state.skip(record.offset);
        break;
      case "idle":
        state.advanceIdle(record.nowMs);
        break;
    }
    nowMs += Math.floor(rnd() * 700);
    if (rnd() < 0.2) take(state.collect(nowMs));
    if (rnd() < 0.01) {
      const bytes = encodeCheckpoint({ settings: state.settings, partitions: [state.snapshot()] });
      state = PartitionAggregator.restore(decodeCheckpoint(bytes, { settings: c.settings }).partitions[0]!, options);
    }
  }
  take(state.collect(nowMs + c.emitIntervalMs));
  const windows = [...latest.values()].sort((a, b) => a.windowStartMs - b.windowStartMs).map(({ emittedAtMs: _, ...rest }) => rest);
  return { windows, stats: state.stats() };
}

describe("state machine agrees with the oracle", () => {
  const SEQUENCES = 2000;

  test(`${SEQUENCES} random sequences: same windows, same final flags, same counters`, () => {
    let events = 0;
    for (let seed = 1; seed <= SEQUENCES; seed++) {
      const c = makeCase(seed);
      const expected = runOracle(c.partitions, c.settings);
      for (const oracle of expected) {
        const records = c.partitions.get(oracle.partition)!;
        events += records.length;
        const run = runStateMachine(oracle.partition, records, c, seed * 7919 + oracle.partition);
        const context = { seed, partition: oracle.partition, settings: c.settings };
        expect({ ...context, windows: run.windows }).toEqual({ ...context, windows: oracle.windows });
        expect({ ...context, counted: run.stats.counted, duplicates: run.stats.duplicates, late: run.stats.late, invalid: run.stats.invalid, watermarkMs: run.stats.watermarkMs }).toEqual({
          ...context,
          counted: oracle.counted,
          duplicates: oracle.duplicates,
          late: oracle.late,
          invalid: oracle.invalid,
          watermarkMs: oracle.watermarkMs,
        });
        if (oracle.nextOffset !== undefined) expect({ ...context, nextOffset: run.stats.nextOffset }).toEqual({ ...context, nextOffset: oracle.nextOffset });
      }
    }
    // The generator really does produce all the cases it is meant to.
    expect(events > SEQUENCES * 100).toEqual(true);
  }, 30_000);

  test("the random sequences exercise duplicates, late events, idle closes, overflow and every outcome", () => {
    const seen = { duplicates: 0, late: 0, invalid: 0, finalWindows: 0, openWindows: 0, otherBucket: 0, negativeWindows: 0 };
    for (let seed = 1; seed <= 300; seed++) {
      const c = makeCase(seed);
      for (const p of runOracle(c.partitions, c.settings)) {
        seen.duplicates += p.duplicates;
        seen.late += p.late;
        seen.invalid += p.invalid;
        for (const w of p.windows) {
          if (w.final) seen.finalWindows++;
          else seen.openWindows++;
          if ("other" in w.byCategory) seen.otherBucket++;
          if (w.windowStartMs < 0) seen.negativeWindows++;
        }
      }
    }
    expect(Object.entries(seen).filter(([, n]) => n < 20)).toEqual([]);
  });
});

test("17.6 runOracle() sums revenue past 2^53 exactly, and the state machine agrees", () => {
  const settings = { windowSizeMs: 60_000, watermarkDelayMs: 0, maxDimensionValues: 50, maxAheadMs: 10_000 };
  const records: OracleRecord[] = Array.from({ length: 100 }, (_, i) => ({ kind: "event", offset: BigInt(i), event: largestOrder(`e${i}`), eventTimeMs: i }));
  records.push({ kind: "event", offset: 100n, event: centOrder("cent", 1, { country: "GB" }), eventTimeMs: 100 }, { kind: "idle", nowMs: 60_000 });
  const [oracle] = runOracle(new Map([[0, records]]), settings);
  const total = BigInt(LARGEST_ORDER_USD_CENTS);
  expect(oracle!.windows.map((w) => [w.revenueUsdCents, w.byCountry, w.byCategory.books!.revenueUsdCents])).toEqual([
    [100n * total + 1n, { GB: { orders: 101, revenueUsdCents: 100n * total + 1n, items: 100 * 100_000 + 1 } }, 100n * ((total * 34n) / 100n) + 1n],
  ]);
  const run = runStateMachine(0, records, { settings, emitIntervalMs: 0, partitions: new Map() }, 1);
  expect(run.windows).toEqual(oracle!.windows);
});
