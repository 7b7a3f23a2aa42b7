import { describe, expect, test } from "bun:test";
import { AggregatorEngine, type EngineOptions, type ForwardRecord } from "./aggregator-engine.ts";
import { CheckpointError } from "./checkpoint.ts";
import { MemoryCheckpointStore } from "./checkpoint-store.ts";
import { SnapshotStore } from "./state-store.ts";
import { encodeOrderEvent } from "../event/encode-order.ts";
import type { OrderEvent } from "../event/order-event.ts";
import type { ResultSink, WorkerMetrics } from "./result-sink.ts";
import type { WindowResult } from "./window-aggregate.ts";

const T0 = Date.UTC(2026, 10, 28, 10, 0, 0);

function event(id: string, createdAtMs: number): Uint8Array {
  const e: OrderEvent = {
    schema_version: 1,
    event_id: `00000000-0000-0000-0000-${id.padStart(12, "0")}`,
    order_id: `o-${id}`,
    user_id: `u-${id}`,
    created_at: new Date(createdAtMs).toISOString(),
    items: [{ sku: "SKU-1", category: "books", qty: 1, unit_price_minor: 1000 }],
    discount_minor: 0,
    total: { amount_minor: 1000, currency: "USD" },
    total_usd_cents: 1000,
    country: "US",
    payment_method: "card",
    channel: "web",
    status: "paid",
  };
  return new TextEncoder().encode(encodeOrderEvent(e));
}

class RecordingSink implements ResultSink {
  readonly name = "recording";
  written: WindowResult[] = [];
  flushed = 0;
  write(results: readonly WindowResult[]) {
    this.written.push(...results);
    return Promise.resolve();
  }
  writeMetrics(_: WorkerMetrics) {
    return Promise.resolve();
  }
  flush() {
    this.flushed += 1;
    return Promise.resolve();
  }
  close() {
    return Promise.resolve();
  }
}

function setup(overrides: Partial<EngineOptions> = {}) {
  let now = T0 + 3_600_000;
  const sink = new RecordingSink();
  const forwarded: ForwardRecord[] = [];
  const stores = new Map<number, MemoryCheckpointStore>();
  const engine = new AggregatorEngine({
    topic: "orders",
    dlqTopic: "orders.dlq",
    lateTopic: "orders.late",
    clock: { now: () => now },
    sinks: [sink],
    forwarder: { send: (r) => void forwarded.push(r), flush: () => Promise.resolve() },
    stateStore: (c) => {
      if (!stores.has(c.partition)) stores.set(c.partition, new MemoryCheckpointStore());
      return new SnapshotStore(stores.get(c.partition)!, c);
    },
    idleTimeoutMs: 5_000,
    ...overrides,
  });
  const resolve = { offsetAt: () => Promise.resolve(0n), hasCommittedOffset: () => Promise.resolve(false) };
  return { engine, sink, forwarded, stores, resolve, advance: (ms: number) => (now += ms), now: () => now };
}

describe("AggregatorEngine", () => {
  test("process() forwards an invalid record to the DLQ with its reason and source position", async () => {
    const { engine, forwarded, resolve } = setup();
    await engine.assign([2], resolve);
    engine.process(2, 0n, "u-x", new TextEncoder().encode("{not json"));
    expect(forwarded).toEqual([
      {
        topic: "orders.dlq",
        key: "u-x",
        value: new TextEncoder().encode("{not json"),
        headers: expect.objectContaining({ reason: "not_json", "source-topic": "orders", "source-partition": "2", "source-offset": "0" }),
      },
    ]);
    expect(engine.totals.invalid).toBe(1);
    expect(engine.nextOffset(2)).toBe(1n);
  });

  test("processRange() forwards an invalid record's own key and value bytes, copied out of the fetch buffer", async () => {
    const { engine, forwarded, resolve } = setup();
    await engine.assign([2], resolve);
    const data = new TextEncoder().encode("..u-x{not json..");
    engine.processRange(2, 7, data, 5, 14, 2, 5);
    data.fill(0); // the fetch buffer is reused after the call
    expect(forwarded).toEqual([
      {
        topic: "orders.dlq",
        key: new TextEncoder().encode("u-x"),
        value: new TextEncoder().encode("{not json"),
        headers: expect.objectContaining({ reason: "not_json", "source-partition": "2", "source-offset": "7" }),
      },
    ]);
    expect(engine.nextOffset(2)).toBe(8n);
  });

  test("processRange() counts a valid event read from a range, and judges a null value (a tombstone) invalid, forwarding it as null", async () => {
    const { engine, forwarded, resolve } = setup();
    await engine.assign([0], resolve);
    const value = event("1", T0);
    const data = new Uint8Array(value.length + 10);
    data.set(value, 4);
    engine.processRange(0, 0, data, 4, 4 + value.length, -1, -1);
    engine.processRange(0, 1, data, -1, -1, -1, -1);
    expect(engine.totals).toEqual({ records: 2, counted: 1, duplicates: 0, late: 0, invalid: 1, skippedReplays: 0 });
    expect(forwarded.map((r) => [r.key, r.value, r.headers.reason])).toEqual([[undefined, null, "not_json"]]);
  });

  test("17.s3 a DLQ copy keeps the source record's headers and its null value", async () => {
    const { engine, forwarded, resolve } = setup();
    await engine.assign([0], resolve);
    // Key "k", null value, then the header section: count 1, key "h" (length 1), value "v".
    const data = new Uint8Array([0x6b, 2, 2, 0x68, 2, 0x76]);
    engine.processRange(0, 3, data, -1, -1, 0, 1, T0, 1, data.length);
    data.fill(0);
    expect(forwarded).toEqual([
      {
        topic: "orders.dlq",
        key: new Uint8Array([0x6b]),
        value: null,
        headers: expect.objectContaining({ reason: "not_json", "source-offset": "3" }),
        sourceHeaders: new Uint8Array([2, 2, 0x68, 2, 0x76]),
      },
    ]);
  });

  test("process() skips a record below the partition's next offset (a replay)", async () => {
    const { engine, resolve } = setup();
    await engine.assign([0], resolve);
    engine.process(0, 0n, "u-1", event("1", T0));
    engine.process(0, 0n, "u-1", event("1", T0));
    expect(engine.totals).toEqual({ records: 1, counted: 1, duplicates: 0, late: 0, invalid: 0, skippedReplays: 1 });
  });

  test("process() forwards a late event to the late topic", async () => {
    const { engine, forwarded, resolve } = setup();
    await engine.assign([0], resolve);
    engine.process(0, 0n, "u-1", event("1", T0 + 600_000));
    engine.process(0, 1n, "u-2", event("2", T0));
    expect(forwarded.map((r) => [r.topic, r.headers.reason, r.headers["source-offset"]])).toEqual([["orders.late", "late", "1"]]);
  });

  test("tick() does not treat a partition that is not caught up as idle", async () => {
    const { engine, sink, resolve, advance } = setup();
    await engine.assign([0], resolve);
    engine.process(0, 0n, "u-1", event("1", T0));
    engine.setEndOffset(0, 5n); // four more records wait in Kafka
    advance(60_000);
    await engine.tick();
    expect(sink.written.filter((r) => r.final)).toEqual([]);
  });

  test("tick() does not treat a partition as idle when its caught-up report is stale (fetching paused)", async () => {
    const { engine, sink, resolve, advance } = setup();
    await engine.assign([0], resolve);
    engine.process(0, 0n, "u-1", event("1", T0));
    engine.setEndOffset(0, 1n);
    advance(60_000);
    await engine.tick();
    expect(sink.written.filter((r) => r.final)).toEqual([]);
  });

  test("tick() lets a caught-up, quiet partition's watermark follow the clock, closing its windows", async () => {
    const { engine, sink, resolve, advance } = setup();
    await engine.assign([0], resolve);
    engine.process(0, 0n, "u-1", event("1", T0));
    advance(6_000);
    engine.setEndOffset(0, 1n);
    await engine.tick();
    expect(sink.written.filter((r) => r.final).map((r) => [r.windowStartMs, r.orders])).toEqual([[T0, 1]]);
  });

  test("tick() after noteUnread() (the broker was away) waits a whole idle timeout of answered fetches before a partition is idle", async () => {
    const { engine, sink, resolve, advance } = setup();
    await engine.assign([0], resolve);
    engine.process(0, 0n, "u-1", event("1", T0));
    advance(60_000); // no answer for a minute: fetches failed
    engine.noteUnread();
    advance(1_000);
    engine.setEndOffset(0, 1n); // the broker answers again; the producer has not re-sent yet
    await engine.tick();
    expect(sink.written.filter((r) => r.final)).toEqual([]);
    advance(4_500);
    engine.setEndOffset(0, 1n);
    await engine.tick();
    expect(sink.written.filter((r) => r.final).map((r) => [r.windowStartMs, r.orders])).toEqual([[T0, 1]]);
  });

  test("caughtUp() is false when the last report of a lag of 0 is stale", async () => {
    const { engine, resolve, advance } = setup();
    await engine.assign([0], resolve);
    engine.process(0, 0n, "u-1", event("1", T0));
    engine.setEndOffset(0, 1n);
    expect(engine.caughtUp()).toBe(true);
    advance(30_000);
    expect(engine.caughtUp()).toBe(false);
  });

  test("checkpoint() hands results to the sinks and flushes them before saving, and a restored engine continues identically", async () => {
    const { engine, sink, stores, resolve } = setup();
    await engine.assign([0], resolve);
    engine.process(0, 0n, "u-1", event("1", T0));
    engine.process(0, 1n, "u-2", event("2", T0 + 1_000));
    const saved = await engine.checkpoint();
    expect(saved).toEqual(new Map([[0, 2n]]));
    expect(sink.flushed).toBe(1);
    expect(sink.written.map((r) => r.orders)).toEqual([2]);

    const second = setup({ stateStore: (c) => new SnapshotStore(stores.get(c.partition)!, c) });
    expect(await second.engine.assign([0], second.resolve)).toEqual(new Map([[0, 2n]]));
    for (const e of [engine, second.engine]) e.process(0, 2n, "u-3", event("3", T0 + 300_000));
    const finals = async (e: AggregatorEngine, s: RecordingSink) => {
      await e.checkpoint();
      return s.written.filter((r) => r.final).map(({ emittedAtMs: _, ...r }) => r);
    };
    expect(await finals(second.engine, second.sink)).toEqual(await finals(engine, sink));
  });

  test("assign() refuses a corrupt checkpoint without --reset, and starts empty at the reset end with it", async () => {
    const store = new MemoryCheckpointStore();
    await store.save(new TextEncoder().encode("OPCK garbage"));
    const strict = setup({ stateStore: (c) => new SnapshotStore(store, c) });
    await expect(strict.engine.assign([0], strict.resolve)).rejects.toBeInstanceOf(CheckpointError);

    const reasons: string[] = [];
    const lenient = setup({ stateStore: (c) => new SnapshotStore(store, c), reset: "latest" });
    const starts = await lenient.engine.assign([0], {
      offsetAt: (_p, end) => Promise.resolve(end === "latest" ? 42n : 0n),
      hasCommittedOffset: () => Promise.resolve(true),
      onReset: (_p, why) => void reasons.push(why),
    });
    expect(starts).toEqual(new Map([[0, 42n]]));
    expect(reasons.length).toBe(1);
  });

  test("assign() refuses a partition whose group has committed offsets but which has no checkpoint", async () => {
    const { engine } = setup();
    const assigning = engine.assign([0], { offsetAt: () => Promise.resolve(0n), hasCommittedOffset: () => Promise.resolve(true) });
    await expect(assigning).rejects.toThrow(/committed offsets but there is no checkpoint/);
  });

  test("revoke() drops a partition: its records are ignored and nothing more is emitted for it", async () => {
    const { engine, sink, resolve } = setup();
    await engine.assign([0, 1], resolve);
    engine.process(0, 0n, "u-1", event("1", T0));
    engine.revoke([0]);
    engine.process(0, 1n, "u-2", event("2", T0));
    await engine.checkpoint();
    expect(sink.written).toEqual([]);
    expect(engine.partitions).toEqual([1]);
  });
});

test("latency() reports created_at-to-emission of sampled events at their first emission", async () => {
  const { engine, resolve, advance } = setup({ latencySampleEvery: 1, emitIntervalMs: 0 });
  await engine.assign([0], resolve);
  const now = T0 + 3_600_000;
  engine.process(0, 0n, "u-1", event("1", now - 400));
  engine.process(0, 1n, "u-2", event("2", now - 100));
  advance(250);
  await engine.tick();
  engine.process(0, 2n, "u-3", event("3", now + 200));
  advance(250);
  await engine.tick();
  expect(engine.latency()).toEqual({ samples: 3, p50Ms: 350, p99Ms: 650, maxMs: 650 });
});

test("latency() gives exact percentiles whatever the samples: negative, within a minute, beyond it", async () => {
  const { engine, resolve, advance } = setup({ latencySampleEvery: 1, emitIntervalMs: 0 });
  await engine.assign([0], resolve);
  // Events 90 s, 0.5 s and 1.5 s old, and one 2 s ahead of the clock, each emitted at the next tick.
  const ages = [90_000, 500, 1_500, -2_000];
  ages.forEach((ageMs, i) => engine.process(0, BigInt(i), `u-${i}`, event(String(i), T0 + 3_600_000 - ageMs)));
  advance(0);
  await engine.tick();
  expect(engine.latency()).toEqual({ samples: 4, p50Ms: 500, p99Ms: 90_000, maxMs: 90_000 });
});
