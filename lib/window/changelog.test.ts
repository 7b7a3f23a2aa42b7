import { describe, expect, test } from "bun:test";
import { centOrder, LARGEST_ORDER_USD_CENTS, largestOrder } from "../../test/support/largest-order.ts";
import { plainPartition } from "../../test/support/plain-snapshot.ts";
import type { OrderEvent } from "../event/order-event.ts";
import { type ChangelogRecord, ChangelogWriter, claimWon, decodeChunk, encodeChunk, inspectChangelog, MAX_CHUNK_ENTRIES, replayChangelog } from "./changelog.ts";
import { CheckpointError } from "./checkpoint.ts";
import { PartitionAggregator } from "./partition-aggregator.ts";

const SETTINGS = { windowSizeMs: 10_000, watermarkDelayMs: 20_000, maxDimensionValues: 3, maxAheadMs: 10_000 };
const EXPECTED = { topic: "orders", partition: 2, settings: SETTINGS };

function order(i: number): OrderEvent {
  return {
    schema_version: 1,
    event_id: `e${i}`,
    order_id: `o-${i}`,
    user_id: `u-${i % 7}`,
    created_at: "2026-11-28T10:15:00.123Z",
    items: [{ sku: "s1", category: `c${i % 5}`, qty: 1 + (i % 3), unit_price_minor: 100 }],
    discount_minor: 0,
    total: { amount_minor: 100, currency: "USD" },
    total_usd_cents: 100 + i,
    country: ["US", "DE", "FR", "JP"][i % 4]!,
    payment_method: "card",
    channel: "web",
    status: "paid",
  };
}

function state(): PartitionAggregator {
  return new PartitionAggregator("orders", 2, { ...SETTINGS, emitIntervalMs: 1000 });
}

/** Feeds events from..to, 300 ms of event time apart, with some out of order and some repeated. */
function feed(s: PartitionAggregator, from: number, to: number): void {
  for (let i = from; i < to; i++) s.add(BigInt(i), order(i % 50 === 49 ? i - 3 : i), i * 300 - (i % 6) * 1_500);
}

/** What log compaction leaves: the last record of each key, in log order, tombstoned keys gone. */
function compact(log: readonly ChangelogRecord[]): ChangelogRecord[] {
  const last = new Map<string, number>();
  log.forEach((r, i) => last.set(r.key, i));
  return log.filter((r, i) => last.get(r.key) === i && r.value !== null);
}

/** A writer that restored from `log`, claimed and took over; returns it with the log as it then is. */
function takeOver(log: ChangelogRecord[], s: PartitionAggregator): ChangelogWriter {
  const writer = new ChangelogWriter(replayChangelog(log, EXPECTED), SETTINGS);
  log.push(writer.claim());
  const save = writer.takeOver(s.snapshot());
  log.push(...save.records);
  save.done();
  return writer;
}

function checkpoint(log: ChangelogRecord[], writer: ChangelogWriter, s: PartitionAggregator): ChangelogRecord[] {
  s.collect(0);
  const save = writer.checkpoint(s.snapshot());
  log.push(...save.records);
  save.done();
  return save.records;
}

describe("round trip", () => {
  test("replayChangelog() of a log of checkpoints gives the last checkpoint's state, compacted or not", () => {
    const s = state();
    const log: ChangelogRecord[] = [];
    const writer = takeOver(log, s);
    for (let round = 0; round < 8; round++) {
      feed(s, round * 40, round * 40 + 40);
      checkpoint(log, writer, s);
    }
    const expected = plainPartition(s.snapshot());
    expect(plainPartition(replayChangelog(log, EXPECTED).snapshot!)).toEqual(expected);
    expect(plainPartition(replayChangelog(compact(log), EXPECTED).snapshot!)).toEqual(expected);
  });

  test("a partition restored from the changelog continues exactly like the original", () => {
    const original = state();
    const log: ChangelogRecord[] = [];
    const writer = takeOver(log, original);
    feed(original, 0, 120);
    checkpoint(log, writer, original);
    const restored = PartitionAggregator.restore(replayChangelog(compact(log), EXPECTED).snapshot!, { ...SETTINGS, emitIntervalMs: 1000 });
    for (const s of [original, restored]) feed(s, 120, 300);
    expect(restored.collect(50_000)).toEqual(original.collect(50_000));
    expect(restored.stats()).toEqual(original.stats());
  });

  test("17.6 revenue sums past 2^53 round-trip exactly through the meta, compacted or not, and the restored state goes on exactly", () => {
    const original = state();
    const log: ChangelogRecord[] = [];
    const writer = takeOver(log, original);
    for (let i = 0; i < 100; i++) original.add(BigInt(i), largestOrder(`e${i}`), 1_000 + i);
    original.add(100n, centOrder("cent", 1), 1_100);
    checkpoint(log, writer, original);
    const total = 100n * BigInt(LARGEST_ORDER_USD_CENTS) + 1n;
    const expected = plainPartition(original.snapshot());
    expect(expected.windows.map((w) => w.revenueUsdCents)).toEqual([total]);
    expect(plainPartition(replayChangelog(log, EXPECTED).snapshot!)).toEqual(expected);
    const restored = PartitionAggregator.restore(replayChangelog(compact(log), EXPECTED).snapshot!, { ...SETTINGS, emitIntervalMs: 1000 });
    expect(plainPartition(restored.snapshot())).toEqual(expected);
    for (const s of [original, restored]) s.add(101n, largestOrder("e101"), 1_101);
    expect(restored.collect(50_000)).toEqual(original.collect(50_000));
    expect(restored.snapshot().windows[0]!.revenueUsdCents).toBe(total + BigInt(LARGEST_ORDER_USD_CENTS));
  });

  test("an empty changelog holds no state, and the first owner claims epoch 1", () => {
    const restored = replayChangelog([], EXPECTED);
    expect([restored.snapshot, restored.epoch, restored.keys]).toEqual([undefined, 0, []]);
    expect(new ChangelogWriter(restored, SETTINGS, () => 0.5).writer).toEqual("e1-80000000");
  });
});

describe("incremental", () => {
  test("a checkpoint writes only the fingerprints added since the previous one, and tombstones what closed", () => {
    const s = state();
    const log: ChangelogRecord[] = [];
    const writer = takeOver(log, s);
    feed(s, 0, 100);
    checkpoint(log, writer, s);
    const before = s.snapshot().windows.map((w) => [w.windowStartMs, w.customers.count, w.eventIds.count]);
    feed(s, 100, 110);
    const records = checkpoint(log, writer, s);
    const after = new Map(s.snapshot().windows.map((w) => [w.windowStartMs, [w.customers.count, w.eventIds.count]]));
    const chunks = records.filter((r) => r.key.startsWith("chunk/") && r.value !== null).map((r) => decodeChunk(r.key, r.value!));
    const newIds = chunks.reduce((n, c) => n + c.eventIds.length / 3, 0);
    // 10 events, one of them a repeat (i = 149 is not in range; all counted or late): at most 10 new ids.
    expect([newIds > 0, newIds <= 10]).toEqual([true, true]);
    for (const c of chunks) {
      const was = before.find(([start]) => start === c.windowStartMs);
      const now = after.get(c.windowStartMs)!;
      expect(c.eventIds.length / 3).toEqual(now[1]! - (was ? was[2]! : 0));
    }
    // The previous meta is tombstoned; so are the chunks of windows gone since.
    const tombstones = records.filter((r) => r.value === null).map((r) => r.key);
    expect(tombstones.some((k) => k.startsWith("meta/"))).toEqual(true);
  });

  test("a window's fingerprints are split over chunks of at most MAX_CHUNK_ENTRIES each", () => {
    const s = state();
    const log: ChangelogRecord[] = [];
    const writer = takeOver(log, s);
    for (let i = 0; i < MAX_CHUNK_ENTRIES + 10; i++) s.add(BigInt(i), { ...order(i), user_id: `u${i}` }, 1_000);
    const records = checkpoint(log, writer, s).filter((r) => r.key.startsWith("chunk/"));
    expect(records.map((r) => decodeChunk(r.key, r.value!).eventIds.length / 3)).toEqual([MAX_CHUNK_ENTRIES, 10]);
    expect(plainPartition(replayChangelog(log, EXPECTED).snapshot!)).toEqual(plainPartition(s.snapshot()));
  });

  test("a save that was never acknowledged is written again by the next one", () => {
    const s = state();
    const log: ChangelogRecord[] = [];
    const writer = takeOver(log, s);
    feed(s, 0, 60);
    writer.checkpoint(s.snapshot()); // lost: neither appended nor done()
    feed(s, 60, 90);
    checkpoint(log, writer, s);
    expect(plainPartition(replayChangelog(log, EXPECTED).snapshot!)).toEqual(plainPartition(s.snapshot()));
  });
});

describe("owners", () => {
  test("a new owner's takeover rewrites the state under its keys and tombstones every earlier key", () => {
    const s = state();
    const log: ChangelogRecord[] = [];
    const first = takeOver(log, s);
    feed(s, 0, 80);
    checkpoint(log, first, s);
    const second = takeOver(log, PartitionAggregator.restore(replayChangelog(log, EXPECTED).snapshot!, { ...SETTINGS, emitIntervalMs: 1000 }));
    const live = compact(log).map((r) => r.key);
    expect([second.epoch, live.every((k) => k.includes(second.writer))]).toEqual([2, true]);
    expect(plainPartition(replayChangelog(compact(log), EXPECTED).snapshot!)).toEqual(plainPartition(s.snapshot()));
  });

  test("a new owner that dies right after its claim leaves a whole state, whatever the old owner writes after it", () => {
    const zombieState = state();
    const log: ChangelogRecord[] = [];
    const zombie = takeOver(log, zombieState);
    feed(zombieState, 0, 60);
    checkpoint(log, zombie, zombieState);
    const handedOver = plainPartition(zombieState.snapshot());
    // The new owner writes its copy of the state, then claims; it dies before retiring the old keys.
    const restored = replayChangelog(log, EXPECTED);
    const owner = new ChangelogWriter(restored, SETTINGS);
    log.push(...owner.checkpoint(restored.snapshot!).records, owner.claim());
    // The old owner does not know: it goes on, checkpointing and tombstoning its own keys.
    feed(zombieState, 60, 200);
    checkpoint(log, zombie, zombieState);
    checkpoint(log, zombie, zombieState);
    expect(plainPartition(replayChangelog(log, EXPECTED).snapshot!)).toEqual(handedOver);
    expect(plainPartition(replayChangelog(compact(log), EXPECTED).snapshot!)).toEqual(handedOver);
  });

  test("a new owner that dies before its claim leaves the old owner's latest state, which is whole", () => {
    const oldState = state();
    const log: ChangelogRecord[] = [];
    const old = takeOver(log, oldState);
    feed(oldState, 0, 60);
    checkpoint(log, old, oldState);
    const restored = replayChangelog(log, EXPECTED);
    const owner = new ChangelogWriter(restored, SETTINGS);
    log.push(...owner.checkpoint(restored.snapshot!).records); // no claim: it died
    feed(oldState, 60, 120);
    checkpoint(log, old, oldState);
    expect(plainPartition(replayChangelog(compact(log), EXPECTED).snapshot!)).toEqual(plainPartition(oldState.snapshot()));
  });

  test("once the new owner has taken over, the zombie's writes change nothing, compacted or not", () => {
    const zombieState = state();
    const log: ChangelogRecord[] = [];
    const zombie = takeOver(log, zombieState);
    feed(zombieState, 0, 60);
    checkpoint(log, zombie, zombieState);
    const ownerState = PartitionAggregator.restore(replayChangelog(log, EXPECTED).snapshot!, { ...SETTINGS, emitIntervalMs: 1000 });
    const owner = takeOver(log, ownerState);
    feed(zombieState, 60, 200);
    checkpoint(log, zombie, zombieState);
    feed(ownerState, 60, 100);
    checkpoint(log, owner, ownerState);
    const expected = plainPartition(ownerState.snapshot());
    expect(plainPartition(replayChangelog(log, EXPECTED).snapshot!)).toEqual(expected);
    expect(plainPartition(replayChangelog(compact(log), EXPECTED).snapshot!)).toEqual(expected);
    expect(replayChangelog(log, EXPECTED).epoch).toEqual(2);
  });

  test("claimWon() tells the first claim of an epoch from a later one", () => {
    const a = new ChangelogWriter(replayChangelog([], EXPECTED), SETTINGS, () => 0.1);
    const b = new ChangelogWriter(replayChangelog([], EXPECTED), SETTINGS, () => 0.2);
    const log = [a.claim(), b.claim()];
    expect([claimWon(log, a), claimWon(log, b)]).toEqual([true, false]);
    expect(claimWon([{ key: "chunk/x/1", value: new Uint8Array(0) }], a)).toEqual(false);
  });
});

describe("refusals", () => {
  test("a state written under other settings is refused as settings", () => {
    const s = state();
    const log: ChangelogRecord[] = [];
    takeOver(log, s);
    let error: unknown;
    try {
      replayChangelog(log, { ...EXPECTED, settings: { ...SETTINGS, windowSizeMs: 60_000 } });
    } catch (e) {
      error = e;
    }
    expect([(error as CheckpointError).code, (error as CheckpointError).message]).toEqual([
      "settings",
      "the changelog's state was written with different settings: windowSizeMs 10000 (now 60000); start with those settings or restart with --reset earliest|latest to discard it and rebuild state from Kafka",
    ]);
  });

  test("a meta whose chunk is missing is refused as corrupt, naming the chunk", () => {
    const s = state();
    const log: ChangelogRecord[] = [];
    const writer = takeOver(log, s);
    feed(s, 0, 30);
    const records = checkpoint(log, writer, s);
    const lost = records.find((r) => r.key.startsWith("chunk/"))!.key;
    const damaged = log.filter((r) => r.key !== lost);
    expect(() => replayChangelog(damaged, EXPECTED)).toThrow(`needs ${lost}, which the changelog no longer holds`);
  });

  test("a meta whose revenue is not an integer is refused as corrupt", () => {
    const s = state();
    const log: ChangelogRecord[] = [];
    const writer = takeOver(log, s);
    feed(s, 0, 30);
    const meta = checkpoint(log, writer, s).find((r) => r.key.startsWith("meta/"))!;
    const text = new TextDecoder().decode(meta.value!).replace(/"revenueUsdCents":(\d+)/, '"revenueUsdCents":$1.5');
    const damaged = log.map((r) => (r === meta ? { key: r.key, value: new TextEncoder().encode(text) } : r));
    expect(() => replayChangelog(damaged, EXPECTED)).toThrow("has a revenue that is not an integer");
  });

  test("decodeChunk() refuses bytes that are not a chunk or do not add up", () => {
    const good = encodeChunk(10_000, new Uint32Array([1, 2, 3]), new Uint32Array([4, 5, 6, 7, 8, 9]));
    expect([...decodeChunk("k", good).eventIds]).toEqual([4, 5, 6, 7, 8, 9]);
    expect(() => decodeChunk("k", good.subarray(0, good.length - 4))).toThrow("changelog record k is corrupt: 56 bytes for 1 + 2 fingerprints");
    expect(() => decodeChunk("k", new Uint8Array(30))).toThrow("changelog record k is corrupt: not a chunk");
  });
});

test("inspectChangelog() gives the newest epoch and the live keys, even of a changelog whose state cannot be read", () => {
  const s = state();
  const log: ChangelogRecord[] = [];
  const writer = takeOver(log, s);
  feed(s, 0, 30);
  checkpoint(log, writer, s);
  const damaged = log.filter((r) => !r.key.startsWith("chunk/"));
  expect(() => replayChangelog(damaged, EXPECTED)).toThrow(CheckpointError);
  const inspected = inspectChangelog(damaged);
  expect([inspected.epoch, inspected.keys.sort()]).toEqual([1, compact(damaged).map((r) => r.key).sort()]);
});

test("decodeChunk() reads a chunk that sits at an odd place in a shared Buffer (a fetch response)", () => {
  const chunk = encodeChunk(20_000, new Uint32Array([7, 8, 9]), new Uint32Array([10, 11, 12]));
  const pool = Buffer.alloc(chunk.length + 1001, 0xee);
  pool.set(chunk, 1001);
  const decoded = decodeChunk("k", pool.subarray(1001));
  expect([decoded.windowStartMs, [...decoded.customers], [...decoded.eventIds]]).toEqual([20_000, [7, 8, 9], [10, 11, 12]]);
});
