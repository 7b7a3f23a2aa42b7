/**
 * SIGTERM stops a worker within a bounded time, after it made everything it read durable: the
 * aggregator's final checkpoint covers every record up to the end of the topic, and the lake
 * writer's committed offsets do too. (The producer's and compactor's SIGTERM behaviour is tested
 * in their own suites.)
 */
import { newestCheckpointFile } from "../lib/window/file-checkpoint-store.ts";
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { replayChangelog } from "../lib/window/changelog.ts";
import { decodeCheckpoint } from "../lib/window/checkpoint.ts";
import { DEFAULT_AGGREGATOR_SETTINGS } from "../lib/window/partition-aggregator.ts";
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { readLake } from "../lib/lake/reader.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { produceSimulated, readTopic, startWorker } from "./support/pipeline-harness.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-graceful-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const STOP_WITHIN_MS = 15_000;

async function loadedTopic(name: string) {
  const topic = await uniqueTopic(name, 3);
  const conn = await testConnection(name);
  await produceSimulated(conn, topic, 3_000, { seed: 51, startMs: Date.now() - 2 * 3_600_000, ratePerS: 20, malformedFraction: 0.01 });
  const ends = new Map([...(await readTopic(conn, topic))].map(([p, list]) => [p, list.at(-1)!.offset + 1n]));
  return { topic, conn, ends };
}

/** Sends SIGTERM once `ready` is in the log and the worker has read everything; returns the exit code and how long the stop took. */
async function stop(worker: ReturnType<typeof startWorker>, ready: RegExp): Promise<{ code: number; stopMs: number }> {
  await worker.waitForLog(ready);
  const started = performance.now();
  worker.kill("SIGTERM");
  const code = await worker.exited;
  return { code, stopMs: performance.now() - started };
}

test("the aggregator stops on SIGTERM within 15 s, its final checkpoint (file store) covering every record read", async () => {
  const { topic, conn, ends } = await loadedTopic("graceful-agg");
  const checkpoints = join(scratch, "agg-checkpoints");
  const worker = startWorker("workers/aggregate.ts", ["--sink", `jsonl:${join(scratch, "agg.jsonl")}`, "--checkpoint-interval", "1h"], {
    KAFKA_BROKERS: conn.brokers.join(","),
    ORDERS_TOPIC: topic,
    DLQ_TOPIC: `${topic}.dlq`,
    LATE_TOPIC: `${topic}.late`,
    STATE_STORE: "file",
    CHECKPOINT_DIR: checkpoints,
    AGGREGATE_GROUP: "graceful-agg",
  });
  // The metrics line reports the records read; 3,000 means it has read the whole topic.
  const { code, stopMs } = await stop(worker, /records 3000:/);
  expect({ code, withinBound: stopMs < STOP_WITHIN_MS }).toEqual({ code: 0, withinBound: true });
  expect(worker.log()).toContain("stopping: final checkpoint");
  for (const [partition, end] of ends) {
    const bytes = readFileSync(newestCheckpointFile(join(checkpoints, "graceful-agg", topic, `partition-${partition}.ckpt`))!);
    const saved = decodeCheckpoint(new Uint8Array(bytes)).partitions[0]!;
    expect({ partition, nextOffset: saved.nextOffset }).toEqual({ partition, nextOffset: end });
  }
}, 90_000);

test("the aggregator stops on SIGTERM within 15 s, the state in its changelog topic covering every record read", async () => {
  const { topic, conn, ends } = await loadedTopic("graceful-agg-kafka");
  const worker = startWorker("workers/aggregate.ts", ["--sink", `jsonl:${join(scratch, "agg-kafka.jsonl")}`, "--checkpoint-interval", "1h"], {
    KAFKA_BROKERS: conn.brokers.join(","),
    ORDERS_TOPIC: topic,
    DLQ_TOPIC: `${topic}.dlq`,
    LATE_TOPIC: `${topic}.late`,
    AGGREGATE_GROUP: "graceful-agg-kafka",
  });
  const { code, stopMs } = await stop(worker, /records 3000:/);
  expect({ code, withinBound: stopMs < STOP_WITHIN_MS }).toEqual({ code: 0, withinBound: true });
  expect(worker.log()).toContain("stopping: final checkpoint");
  const changelog = await readTopic(conn, `graceful-agg-kafka-${topic}-changelog`);
  for (const [partition, end] of ends) {
    // The test reader gives a tombstone (null value) as empty bytes; no changelog record is empty otherwise.
    const records = (changelog.get(partition) ?? []).map((r) => ({ key: r.key, value: r.value && r.value.length > 0 ? r.value : null }));
    const saved = replayChangelog(records, { topic, partition, settings: DEFAULT_AGGREGATOR_SETTINGS }).snapshot!;
    expect({ partition, nextOffset: saved.nextOffset }).toEqual({ partition, nextOffset: end });
  }
}, 90_000);

test("the lake writer stops on SIGTERM within 15 s, having committed files for every record read", async () => {
  const { topic, conn, ends } = await loadedTopic("graceful-lake");
  const lake = join(scratch, "lake");
  // Nothing flushes on its own before the stop: the SIGTERM's final flush must write it all.
  const worker = startWorker("workers/lake-writer.ts", ["--flush-rows", "1000000", "--flush-interval", "1h"], {
    KAFKA_BROKERS: conn.brokers.join(","),
    ORDERS_TOPIC: topic,
    LAKE_URI: lake,
    LAKE_GROUP: "graceful-lake",
  });
  // Its progress line (every 5 s) reports the records read; 3,000 means the whole topic.
  const { code, stopMs } = await stop(worker, /records 3000:/);
  expect({ code, withinBound: stopMs < STOP_WITHIN_MS }).toEqual({ code: 0, withinBound: true });
  const committed = (await readLake(new FileLakeStore(lake), { topic })).nextOffsets;
  for (const [partition, end] of ends) expect({ partition, nextOffset: committed.get(partition) }).toEqual({ partition, nextOffset: end });
}, 90_000);
