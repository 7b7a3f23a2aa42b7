/**
 * The aggregator's fetch path where Kafka is more than a plain log (issue 17): transaction
 * markers written by a real transactional producer (librdkafka, through confluent-kafka in
 * .venv), a partition left without a leader by a broker of a real two-broker cluster going down,
 * and record batches corrupted in a real broker's log segment on disk (written by a producer,
 * damaged while the broker was stopped, served after its restart). workers/aggregate.ts runs as a
 * real process against them. Each test is named after the item it proves.
 */
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { readLake } from "../lib/lake/reader.ts";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAdmin, createConsumer, createProducer, type KafkaConnection } from "../lib/kafka/client.ts";
import { crc32cOf, GroupFetcher } from "../lib/kafka/group-fetcher.ts";
import { LocalBroker } from "../lib/kafka/local-broker.ts";
import type { CorruptBatch } from "../lib/kafka/read-record-batches.ts";
import { Simulator } from "../lib/event/simulator.ts";
import type { OrderEvent } from "../lib/event/order-event.ts";
import { encodeOrderEvent } from "../lib/event/encode-order.ts";
import { AggregatorEngine, type ForwardRecord } from "../lib/window/aggregator-engine.ts";
import { MemoryCheckpointStore } from "../lib/window/checkpoint-store.ts";
import { SnapshotStore } from "../lib/window/state-store.ts";
import type { WindowResult } from "../lib/window/window-aggregate.ts";
import { DEFAULT_AGGREGATOR_SETTINGS } from "../lib/window/partition-aggregator.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { checkResultsAgainstOracle, oracleForTopic, readResults, readTopic, repoRoot, startWorker, type TopicRecord, type WorkerProcess } from "./support/pipeline-harness.ts";
import { SecondBroker } from "./support/second-broker.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-fetch-seams-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The start of the minute an hour ago: events there are valid (within --max-past of their timestamps) and long closed by any idle advance. */
const BASE_MS = Math.floor((Date.now() - 3_600_000) / 60_000) * 60_000;

/** `count` valid orders from the simulator, each with its own event_id and created_at = BASE_MS + its second. */
function orders(name: string, count: number, firstSecond = 0): { key: string; value: string; createdAtMs: number }[] {
  const simulator = new Simulator({ seed: 1711, startMs: BASE_MS });
  const out: { key: string; value: string; createdAtMs: number }[] = [];
  while (out.length < count) {
    const record = simulator.next();
    if (record.kind !== "valid") continue;
    const body: OrderEvent = JSON.parse(new TextDecoder().decode(record.value));
    const createdAtMs = BASE_MS + (firstSecond + out.length) * 1_000;
    out.push({ key: body.user_id, value: JSON.stringify({ ...body, event_id: `${name}-${firstSecond + out.length}`, created_at: new Date(createdAtMs).toISOString() }), createdAtMs });
  }
  return out;
}

/** Resolves once `check` holds, polling; rejects with `what` after `timeoutMs`. */
async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(100);
  }
}

/** The worker's exit code, or null when it is still running after `timeoutMs` (then it is killed). */
async function exitWithin(worker: WorkerProcess, timeoutMs: number): Promise<number | null> {
  const code = await Promise.race([worker.exited, Bun.sleep(timeoutMs).then(() => null)]);
  if (code === null) {
    worker.kill("SIGKILL");
    await worker.exited;
  }
  return code;
}

/** The worker's closing totals line. */
function totals(log: string) {
  const m = /stopped; read (\d+) records: counted (\d+), late (\d+), duplicates (\d+), invalid (\d+)/.exec(log);
  if (!m) throw new Error(`no totals line in the worker's log:\n${log.slice(-3000)}`);
  const [records, counted, late, duplicates, invalid] = m.slice(1).map(Number);
  return { records, counted, late, duplicates, invalid };
}

const resultsOf = (path: string) => readResults(path).catch((): WindowResult[] => []);
const workerArgs = (results: string) => ["--sink", `jsonl:${results}`, "--idle-timeout", "2s", "--exit-when-idle", "3s", "--checkpoint-interval", "1s"];

describe("17.8 transactional producers upstream", () => {
  test("17.8 partitions ending in transaction markers are caught up: the worker goes idle, exits, and its final windows equal the oracle", async () => {
    const topic = await uniqueTopic("fetch-seams-txn", 3);
    const conn = await testConnection("fetch-seams-txn");
    const values = orders("txn", 20);
    const record = (i: number, partition: number) => ({ partition, key: values[i]!.key, value: values[i]!.value, timestamp: values[i]!.createdAtMs });
    // Every partition ends in a marker: 0 in an abort marker, 1 and 2 in commit markers.
    const plan = {
      transactions: [
        { outcome: "commit", records: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((i) => record(i, i % 3)) },
        { outcome: "commit", records: [12, 13, 14, 15].map((i) => record(i, 1 + (i % 2))) },
        { outcome: "abort", records: [16, 17, 18, 19].map((i) => record(i, 0)) },
      ],
    };
    const producer = Bun.spawn([join(repoRoot, ".venv", "bin", "python"), join(repoRoot, "test", "support", "transactional_produce.py"), conn.brokers.join(","), topic, `txn-${topic}`], {
      stdin: new TextEncoder().encode(JSON.stringify(plan)),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(producer.stdout).text(), new Response(producer.stderr).text(), producer.exited]);
    expect({ code, err: code === 0 ? "" : err }).toEqual({ code: 0, err: "" });
    const delivered: { transaction: number; partition: number; offset: number; timestamp: number; outcome: string }[] = out.trim().split("\n").map((l) => JSON.parse(l));
    expect(delivered).toHaveLength(20);

    // The oracle's input: the committed records, at the offsets the broker gave them.
    const committed = new Map<number, TopicRecord[]>([[0, []], [1, []], [2, []]]);
    for (const d of delivered.filter((d) => d.outcome === "commit")) {
      const r = plan.transactions[d.transaction]!.records.find((x) => x.timestamp === d.timestamp)!;
      committed.get(d.partition)!.push({ partition: d.partition, offset: BigInt(d.offset), key: r.key, value: Buffer.from(r.value), headers: new Map(), timestampMs: d.timestamp });
    }
    for (const list of committed.values()) list.sort((a, b) => Number(a.offset - b.offset));
    const oracle = oracleForTopic(committed, DEFAULT_AGGREGATOR_SETTINGS);

    const results = join(scratch, "txn.jsonl");
    const worker = startWorker("workers/aggregate.ts", workerArgs(results), {
      KAFKA_BROKERS: conn.brokers.join(","),
      ORDERS_TOPIC: topic,
      DLQ_TOPIC: `${topic}-dlq`,
      LATE_TOPIC: `${topic}-late`,
      AGGREGATE_GROUP: topic,
      KAFKA_SESSION_TIMEOUT: "6s",
    });
    // It used to stay at "lag 1" on every partition forever: bounded here, and it must exit by itself.
    const exit = await exitWithin(worker, 40_000);
    expect({ exit, log: exit === 0 ? "" : worker.log().slice(-2000) }).toEqual({ exit: 0, log: "" });
    expect(totals(worker.log())).toEqual({ records: 16, counted: 16, late: 0, duplicates: 0, invalid: 0 });
    expect(checkResultsAgainstOracle(await readResults(results), oracle)).toEqual([]);
  }, 60_000);
});

describe("on a cluster of its own (brokers taken down and logs damaged)", () => {
  const node1 = new LocalBroker({ onProgress: (line) => console.error(`[fetch-seams broker] ${line}`) });
  let conn: KafkaConnection;

  beforeAll(async () => {
    await node1.start();
    conn = node1.connection("fetch-seams");
    // The group coordinators' topic, on node 1, before a second broker could get some of its partitions.
    await createTopics(conn, [{ name: "warm-up", leader: 1 }]);
    const consumer = createConsumer(conn, { role: "warm-up", groupId: "warm-up" });
    try {
      await consumer.listCommittedOffsets({ topics: [{ topic: "warm-up", partitions: [0] }] });
    } finally {
      await consumer.close(true);
    }
  }, 90_000);
  afterAll(() => node1.stop({ removeData: true }));

  describe("17.11 record batches corrupted in the broker's log", () => {
    const topic = "corrupt";
    const fatalTopic = "beyond-2-53";
    /** Per partition: what was done to its second batch (offsets 5-9), and that batch's bytes as the broker now serves them. */
    const damage = new Map<number, { problem: CorruptBatch["problem"]; lastOffset: number; bytes: Uint8Array }>();
    const produced = new Map<number, { key: string; value: string; createdAtMs: number }[]>();

    beforeAll(async () => {
      await createTopics(conn, [
        { name: topic, leaders: [1, 1, 1, 1, 1] },
        { name: `${topic}-dlq`, leader: 1 },
        { name: `${topic}-late`, leader: 1 },
        { name: fatalTopic, leader: 1 },
        { name: `${fatalTopic}-dlq`, leader: 1 },
        { name: `${fatalTopic}-late`, leader: 1 },
      ]);
      // Three sends of 5 records per partition: three lz4 batches each, offsets 0-4, 5-9 and 10-14.
      const values = orders("corrupt", 75);
      for (let p = 0; p < 5; p++) produced.set(p, values.slice(p * 15, p * 15 + 15));
      for (let send_ = 0; send_ < 3; send_++) {
        const batch = [...produced].flatMap(([partition, list]) => list.slice(send_ * 5, send_ * 5 + 5).map((o) => ({ ...o, partition })));
        await send(conn, topic, batch);
      }
      const fatal = orders("fatal", 20);
      for (let send_ = 0; send_ < 4; send_++) await send(conn, fatalTopic, fatal.slice(send_ * 5, send_ * 5 + 5).map((o) => ({ ...o, partition: 0 })));

      await node1.stop(); // a clean shutdown: the restart loads the segments without recovering them
      const edit = (name: string, partition: number, change: (bytes: Uint8Array, view: DataView, starts: number[]) => void) => {
        const path = join(node1.dataDir, "log", `${name}-${partition}`, "00000000000000000000.log");
        const bytes = new Uint8Array(readFileSync(path));
        const view = new DataView(bytes.buffer);
        const starts = batchStarts(bytes);
        expect(starts).toHaveLength(name === topic ? 3 : 4);
        change(bytes, view, starts);
        writeFileSync(path, bytes);
        return bytes.slice(starts[1]!, starts[2]!);
      };
      const fixCrc = (bytes: Uint8Array, view: DataView, start: number, end: number) => view.setUint32(start + 17, crc32cOf(bytes.subarray(start + 21, end)));
      // 0: a bit flipped in the records (CRC mismatch).
      damage.set(0, { problem: "crc_mismatch", lastOffset: 9, bytes: edit(topic, 0, (b, _v, s) => (b[s[1]! + 100]! ^= 0x04)) });
      // 1: codec 5 (CRC made to match, so only the codec is wrong).
      damage.set(1, { problem: "unknown_codec", lastOffset: 9, bytes: edit(topic, 1, (b, v, s) => ((b[s[1]! + 22] = (b[s[1]! + 22]! & ~0b111) | 5), fixCrc(b, v, s[1]!, s[2]!))) });
      // 2: message format v1 (an entry of the old format names only its own offset).
      damage.set(2, { problem: "unsupported_format", lastOffset: 5, bytes: edit(topic, 2, (b, _v, s) => (b[s[1]! + 16] = 1)) });
      // 3: an lz4 block that does not decompress (its frame's magic number damaged; CRC made to match).
      damage.set(3, { problem: "decompression_failed", lastOffset: 9, bytes: edit(topic, 3, (b, v, s) => ((b[s[1]! + 61]! ^= 0xff), fixCrc(b, v, s[1]!, s[2]!))) });
      // Partition 4 is intact. In the other topic, the third batch claims an offset beyond 2^53.
      edit(fatalTopic, 0, (_b, v, s) => v.setBigInt64(s[2]!, 2n ** 53n + 10n));
      await node1.start();
    }, 120_000);

    test("17.11 GroupFetcher reports each corrupt batch (CRC mismatch, codec 5, format v1, failed decompression) and moves past it; the rest is read whole", async () => {
      const consumer = createConsumer(conn, { role: "fetcher", groupId: `fetcher-${crypto.randomUUID()}` });
      try {
        const reported: [number, number, number, string][] = [];
        const fetcher = new GroupFetcher(consumer, topic, { onCorruptBatch: (partition, b) => void reported.push([partition, b.firstOffset, b.lastOffset, b.problem]) });
        const positions = new Map([0, 1, 2, 3, 4].map((p) => [p, 0n] as [number, bigint]));
        const read = new Map<number, number[]>();
        for (let round = 0; [...positions.values()].some((at) => at < 15n); round++) {
          if (round > 50) throw new Error(`no progress: ${[...positions]}`);
          const fetched = await fetcher.fetchRanges(positions, (partition, offset) => void (read.get(partition) ?? read.set(partition, []).get(partition)!).push(offset));
          for (const [partition, next] of fetched.nextPositions) positions.set(partition, next);
        }
        expect(reported.sort((a, b) => a[0] - b[0])).toEqual([...damage].map(([p, d]) => [p, 5, d.lastOffset, d.problem]));
        const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
        for (let p = 0; p < 4; p++) expect({ p, offsets: read.get(p) }).toEqual({ p, offsets: [...range(0, 4), ...range(10, 14)] });
        expect(read.get(4)).toEqual(range(0, 14));

        // Without the option, a corrupt batch fails the round naming topic, partition and offset (what fetchOnce callers had before).
        const strict = new GroupFetcher(consumer, topic);
        await expect(strict.fetchRanges(new Map([[0, 5n]]), () => {})).rejects.toThrow(/^corrupt\/0 from offset 5: record batch at offset 5 is corrupt: CRC-32C/);
      } finally {
        await consumer.close(true);
      }
    }, 60_000);

    test("17.11 the aggregator forwards each corrupt batch's bytes to the DLQ with its reason and offsets, counts it, and finishes every partition", async () => {
      const results = join(scratch, "corrupt.jsonl");
      const worker = startWorker("workers/aggregate.ts", workerArgs(results), {
        ...node1.workerEnv(),
        ORDERS_TOPIC: topic,
        DLQ_TOPIC: `${topic}-dlq`,
        LATE_TOPIC: `${topic}-late`,
        AGGREGATE_GROUP: topic,
        KAFKA_SESSION_TIMEOUT: "6s",
      });
      // It used to retry the first corrupt batch every 500 ms forever.
      const exit = await exitWithin(worker, 40_000);
      expect({ exit, log: exit === 0 ? "" : worker.log().slice(-3000) }).toEqual({ exit: 0, log: "" });
      expect(totals(worker.log())).toEqual({ records: 59, counted: 55, late: 0, duplicates: 0, invalid: 4 });

      const dead = (await readTopic(conn, `${topic}-dlq`)).get(0)!;
      expect(
        dead
          .map((r) => ({
            reason: r.headers.get("reason"),
            topic: r.headers.get("source-topic"),
            partition: Number(r.headers.get("source-partition")),
            offset: r.headers.get("source-offset"),
            first: r.headers.get("source-first-offset"),
            last: r.headers.get("source-last-offset"),
            detail: r.headers.get("detail")!.startsWith("record batch at offset 5 is corrupt: "),
            value: [...r.value],
          }))
          .sort((a, b) => a.partition - b.partition),
      ).toEqual(
        [...damage].map(([partition, d]) => ({ reason: "corrupt_batch", topic, partition, offset: "5", first: "5", last: String(d.lastOffset), detail: true, value: [...d.bytes] })),
      );

      // The windows hold every record outside the corrupt batches, as the oracle counts them.
      const intact = new Map<number, TopicRecord[]>();
      for (const [partition, list] of produced) {
        intact.set(
          partition,
          list
            .map((o, offset) => ({ partition, offset: BigInt(offset), key: o.key, value: Buffer.from(o.value), headers: new Map(), timestampMs: o.createdAtMs }))
            .filter((r) => !damage.has(partition) || r.offset < 5n || r.offset > 9n),
        );
      }
      expect(checkResultsAgainstOracle(await readResults(results), oracleForTopic(intact, DEFAULT_AGGREGATOR_SETTINGS))).toEqual([]);
    }, 60_000);

    test("17.11 the lake writer skips each corrupt batch with one line and a count, and writes every other event exactly once", async () => {
      const lakeDir = join(scratch, "corrupt-lake");
      const worker = startWorker("workers/lake-writer.ts", ["--flush-interval", "500ms", "--exit-when-idle", "3s"], {
        ...node1.workerEnv(),
        ORDERS_TOPIC: topic,
        LAKE_URI: lakeDir,
        LAKE_GROUP: `${topic}-lake`,
        KAFKA_SESSION_TIMEOUT: "6s",
      });
      const exit = await exitWithin(worker, 40_000);
      expect({ exit, log: exit === 0 ? "" : worker.log().slice(-3000) }).toEqual({ exit: 0, log: "" });
      const skipped = worker.log().split("\n").filter((line) => line.includes("skipped a corrupt record batch"));
      expect(skipped).toHaveLength(damage.size);
      expect(worker.log()).toContain(`${damage.size} corrupt batches skipped`);
      const { rows } = await readLake(new FileLakeStore(lakeDir));
      const got = rows.map((r) => `${r.kafka_partition}@${r.kafka_offset}`).sort();
      const want = [...produced]
        .flatMap(([partition, list]) => list.map((_, offset) => ({ partition, offset })))
        .filter(({ partition, offset }) => !damage.has(partition) || offset < 5 || offset > 9)
        .map(({ partition, offset }) => `${partition}@${offset}`)
        .sort();
      expect(got).toEqual(want);
    }, 60_000);

    test("17.11 an offset beyond 2^53 stops the worker with one line naming topic, partition and offset, and what to do", async () => {
      const worker = startWorker("workers/aggregate.ts", workerArgs(join(scratch, "fatal.jsonl")), {
        ...node1.workerEnv(),
        ORDERS_TOPIC: fatalTopic,
        DLQ_TOPIC: `${fatalTopic}-dlq`,
        LATE_TOPIC: `${fatalTopic}-late`,
        AGGREGATE_GROUP: fatalTopic,
        KAFKA_SESSION_TIMEOUT: "6s",
      });
      // It used to retry every 500 ms forever.
      expect(await exitWithin(worker, 30_000)).toBe(1);
      const errors = worker.log().split("\n").filter((line) => line.startsWith("error:") || line.startsWith("  caused by"));
      expect(errors).toEqual([
        `error: the aggregator stopped on an error: ${fatalTopic}/0: record batch at offset 9007199254741002 is unreadable: offsets at or beyond 2^53 cannot be represented here. ` +
          "Nothing after offset 9007199254741002 of this partition can be read or skipped; inspect its log segment (kafka-dump-log.sh --deep-iteration) and repair or rebuild the partition, then restart.",
      ]);
      expect(worker.log()).not.toContain("fetch failed, retrying");
    }, 60_000);
  });

  test("17.10 a partition whose broker is down is neither idle nor caught up, and the partition whose broker is up goes on", async () => {
    await using node2 = new SecondBroker(node1);
    await node2.start();
    const topic = "leaderless";
    await createTopics(conn, [
      { name: topic, leaders: [1, 2] },
      { name: `${topic}-dlq`, leader: 1 },
      { name: `${topic}-late`, leader: 1 },
    ]);
    const events = orders("leaderless", 10);
    await send(conn, topic, events.map((o, i) => ({ ...o, partition: i < 5 ? 0 : 1 })));

    const results = join(scratch, "leaderless.jsonl");
    // An idle timeout long enough that partition 1, read at the same moment as partition 0, cannot
    // go idle before its broker is down. The test ends with the outage: node 2 could rejoin only
    // after node 1's controller lets its old registration lapse (broker.session.timeout.ms, 30 s);
    // that a partition read again waits a whole idle timeout is the engine's (its own tests).
    const args = ["--sink", `jsonl:${results}`, "--idle-timeout", "8s", "--exit-when-idle", "3s", "--checkpoint-interval", "1s"];
    const worker = startWorker("workers/aggregate.ts", args, {
      ...node1.workerEnv(),
      ORDERS_TOPIC: topic,
      DLQ_TOPIC: `${topic}-dlq`,
      LATE_TOPIC: `${topic}-late`,
      AGGREGATE_GROUP: topic,
      KAFKA_SESSION_TIMEOUT: "6s",
      STATE_STORE: "file",
      CHECKPOINT_DIR: join(scratch, "leaderless-checkpoints"),
    });
    let exit: number | null;
    try {
      const results_ = () => resultsOf(results);
      const hasWindow = async (partition: number, final: boolean) => (await results_()).some((r) => r.partition === partition && (!final || r.final));
      await waitFor("both partitions' records in the results", async () => (await hasWindow(0, false)) && (await hasWindow(1, false)));

      await node2.stop(); // a controlled shutdown: partition 1 has no leader now
      // Partition 0 is served, caught up and quiet: it goes idle and its window is final. The
      // worker used to stop reading every partition while one had no leader.
      await waitFor("partition 0's window final (partition 0 idle)", () => hasWindow(0, true));
      // Partition 1, read to its end as long and as quiet, was not read since: not idle (it used
      // to close in the same tick), and not caught up (the worker does not exit when idle).
      expect({ partition1Final: await hasWindow(1, true), running: worker.log().includes("stopping (--exit-when-idle)") }).toEqual({ partition1Final: false, running: false });
      await worker.waitForLog(new RegExp(`${topic}/1 not served: `), 10_000);
      // The progress line once partition 0's watermark follows the clock: partition 1's is where its last event left it.
      const clock = (ms: number) => new Date(ms - DEFAULT_AGGREGATOR_SETTINGS.watermarkDelayMs).toISOString().slice(11, 19);
      const watermarks = () => [...worker.log().matchAll(/watermarks 0:(\d\d:\d\d:\d\d)(?:\/lag \d+)? 1:(\d\d:\d\d:\d\d)/g)].map((m) => [m[1], m[2]]);
      await waitFor("a progress line with partition 0 idle", () => watermarks().some(([w0]) => w0 !== clock(events[4]!.createdAtMs)), 10_000);
      expect(new Set(watermarks().map(([, w1]) => w1))).toEqual(new Set([clock(events[9]!.createdAtMs)]));
    } finally {
      worker.kill("SIGTERM");
      exit = await exitWithin(worker, 30_000);
    }
    expect({ exit, log: exit === 0 ? "" : worker.log().slice(-3000) }).toEqual({ exit: 0, log: "" });
    expect(totals(worker.log())).toEqual({ records: 10, counted: 10, late: 0, duplicates: 0, invalid: 0 });
    // Partition 0's window is final and as the oracle has it; partition 1's stays open.
    const partition0 = events.slice(0, 5).map((o, offset) => ({ partition: 0, offset: BigInt(offset), key: o.key, value: Buffer.from(o.value), headers: new Map(), timestampMs: o.createdAtMs }));
    const oracle = oracleForTopic(new Map([[0, partition0]]), DEFAULT_AGGREGATOR_SETTINGS);
    const emitted = await readResults(results);
    expect(checkResultsAgainstOracle(emitted.filter((r) => r.partition === 0), oracle)).toEqual([]);
    expect(emitted.filter((r) => r.partition === 1 && r.final)).toEqual([]);
  }, 90_000);
});

describe("17.8, 17.10 and 17.11 in the engine: what the feed reports decides lag, idleness and the DLQ", () => {
  const T0 = Date.UTC(2026, 10, 28, 10, 0, 0);
  function setup() {
    let now = T0 + 3_600_000;
    const written: WindowResult[] = [];
    const forwarded: ForwardRecord[] = [];
    const engine = new AggregatorEngine({
      topic: "orders",
      dlqTopic: "orders.dlq",
      lateTopic: "orders.late",
      clock: { now: () => now },
      sinks: [
        {
          name: "memory",
          write: (r) => {
            written.push(...r);
            return Promise.resolve();
          },
          writeMetrics: () => Promise.resolve(),
          flush: () => Promise.resolve(),
          close: () => Promise.resolve(),
        },
      ],
      forwarder: { send: (r) => void forwarded.push(r), flush: () => Promise.resolve() },
      stateStore: (c) => new SnapshotStore(new MemoryCheckpointStore(), c),
      idleTimeoutMs: 5_000,
    });
    const resolve = { offsetAt: () => Promise.resolve(0n), hasCommittedOffset: () => Promise.resolve(false) };
    return { engine, written, forwarded, resolve, advance: (ms: number) => (now += ms) };
  }
  const order = (partition: number, i: number) =>
    new TextEncoder().encode(
      encodeOrderEvent({
        schema_version: 1,
        event_id: `e-${partition}-${i}`,
        order_id: `o-${partition}-${i}`,
        user_id: `u-${i}`,
        created_at: new Date(T0 + i * 1_000).toISOString(),
        items: [{ sku: "SKU-1", category: "books", qty: 1, unit_price_minor: 1000 }],
        discount_minor: 0,
        total: { amount_minor: 1000, currency: "USD" },
        total_usd_cents: 1000,
        country: "US",
        payment_method: "card",
        channel: "web",
        status: "paid",
      }),
    );

  test("17.8 setEndOffset() counts lag from the fetch position: a commit marker after the last record leaves no lag", async () => {
    const { engine, resolve } = setup();
    await engine.assign([0], resolve);
    engine.process(0, 0n, "u-0", order(0, 0));
    engine.process(0, 1n, "u-1", order(0, 1));
    engine.setEndOffset(0, 3n, 3n); // offset 2 is the commit marker; the fetch moved past it
    expect(engine.caughtUp()).toBe(true);
    expect(engine.metrics(0).partitions.map((p) => p.lag)).toEqual([0n]);
  });

  test("17.10 a partition the broker did not serve is not idle and not caught up, while a served one goes idle", async () => {
    const { engine, written, resolve, advance } = setup();
    await engine.assign([0, 1], resolve);
    engine.process(0, 0n, "u-0", order(0, 0));
    engine.process(1, 0n, "u-1", order(1, 0));
    for (let second = 0; second < 6; second++) {
      advance(1_000);
      engine.setEndOffset(0, 1n, 1n); // served: nothing new
      engine.noteUnread([1]); // no leader, or an error code for it
      await engine.tick();
    }
    expect(written.filter((r) => r.final).map((r) => r.partition)).toEqual([0]);
    expect(engine.caughtUp()).toBe(false);
  });

  test("17.11 skipCorruptBatch() forwards the batch's bytes with its reason and offsets, counts it once, and moves the partition past it", async () => {
    const { engine, forwarded, resolve } = setup();
    await engine.assign([3], resolve);
    const bytes = new Uint8Array([1, 2, 3, 4]);
    const batch = { firstOffset: 5, lastOffset: 9, detail: "record batch at offset 5 is corrupt: CRC-32C 1 does not match the batch's 2", bytes };
    engine.skipCorruptBatch(3, batch);
    engine.skipCorruptBatch(3, batch); // read again (a replay): not forwarded twice
    expect(forwarded).toEqual([
      {
        topic: "orders.dlq",
        key: undefined,
        value: new Uint8Array([1, 2, 3, 4]),
        headers: {
          reason: "corrupt_batch",
          detail: batch.detail,
          "source-first-offset": "5",
          "source-last-offset": "9",
          "source-topic": "orders",
          "source-partition": "3",
          "source-offset": "5",
        },
      },
    ]);
    expect(forwarded[0]!.value).not.toBe(bytes);
    expect({ invalid: engine.totals.invalid, byReason: engine.invalidByReason.get("corrupt_batch"), next: engine.nextOffset(3) }).toEqual({ invalid: 1, byReason: 1, next: 10n });
  });
});

/** Creates topics with one replica each, on the given broker(s): `leader` for one partition, `leaders` one per partition. */
async function createTopics(conn: KafkaConnection, topics: { name: string; leader?: number; leaders?: number[] }[]): Promise<void> {
  const admin = createAdmin(conn);
  try {
    for (const t of topics) {
      const leaders = t.leaders ?? [t.leader ?? 1];
      await admin.createTopics({ topics: [{ topic: t.name, assignments: leaders.map((broker, partition) => ({ partition, brokers: [broker] })) }] });
    }
    await waitFor("the topics' leaders", async () => {
      const metadata = await admin.metadata({ topics: topics.map((t) => t.name), forceUpdate: true }).catch(() => undefined);
      return metadata !== undefined && topics.every((t) => metadata.topics.get(t.name)?.partitions.every((p) => p.leader >= 0));
    });
  } finally {
    await admin.close();
  }
}

/** One producer send (one batch per partition), each record stamped with its created_at. */
async function send(conn: KafkaConnection, topic: string, records: { partition: number; key: string; value: string; createdAtMs: number }[]): Promise<void> {
  const producer = createProducer(conn, { role: "fetch-seams" });
  try {
    await producer.send({ messages: records.map((r) => ({ topic, partition: r.partition, key: r.key, value: Buffer.from(r.value), timestamp: BigInt(r.createdAtMs) })) });
  } finally {
    await producer.close();
  }
}

/** The partition's leader as the cluster reports it now; -1 for none. */
async function leaderOf(conn: KafkaConnection, topic: string, partition: number): Promise<number> {
  const admin = createAdmin(conn);
  try {
    const metadata = await admin.metadata({ topics: [topic], forceUpdate: true });
    return metadata.topics.get(topic)?.partitions[partition]?.leader ?? -1;
  } catch {
    return -1;
  } finally {
    await admin.close();
  }
}

/** Where each batch of a log segment starts. */
function batchStarts(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const starts: number[] = [];
  for (let at = 0; at + 12 <= bytes.length; at += 12 + view.getInt32(at + 8)) starts.push(at);
  return starts;
}
