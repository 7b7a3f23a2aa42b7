/**
 * Topics written by a producer we did not write (issue 18): librdkafka (the confluent-kafka
 * package, as Confluent's clients, kcat and many services use it) with every codec, records with
 * headers, null keys and tombstones, and one committed and one aborted transaction — read by the
 * real aggregator and lake writer on a real broker, and held to an independent computation from
 * the committed records as librdkafka itself reads them back.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Simulator } from "../lib/event/simulator.ts";
import type { OrderEvent } from "../lib/event/order-event.ts";
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { readLake } from "../lib/lake/reader.ts";
import { DEFAULT_AGGREGATOR_SETTINGS } from "../lib/window/partition-aggregator.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { validRecords } from "./support/lake-invariants.ts";
import { type PlannedRecord, type PlanStep, produceWithLibrdkafka, readCommitted, valueBytes } from "./support/librdkafka.ts";
import { checkResultsAgainstOracle, oracleForTopic, oracleTotal, readResults, startWorker, type TopicRecord, validateAsLogged } from "./support/pipeline-harness.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-librdkafka-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const PARTITIONS = 3;
const CODECS = ["none", "gzip", "snappy", "lz4", "zstd"] as const;

test("records written by librdkafka — every codec, headers, null keys, tombstones, a committed and an aborted transaction — give the independent computation's windows, DLQ and lake", async () => {
  const topic = await uniqueTopic("librdkafka-interop", PARTITIONS);
  const dlq = await uniqueTopic("librdkafka-interop-dlq", 1);
  const conn = await testConnection("librdkafka-interop");
  const bootstrap = conn.brokers[0]!;

  // Valid orders from the simulator with ids of their own, created from ten minutes ago on, 300 ms
  // apart: within --max-past of the time librdkafka stamps on each record (when it is produced),
  // and old enough that the worker's idle watermark closes every window before it exits.
  const simulator = new Simulator({ seed: 18, startMs: Date.UTC(2026, 0, 1) });
  const nowMs = Date.now();
  let made = 0;
  const order = (): string => {
    for (;;) {
      const r = simulator.next();
      if (r.kind !== "valid") continue;
      const event = JSON.parse(new TextDecoder().decode(r.value)) as OrderEvent;
      const i = made++;
      return JSON.stringify({ ...event, event_id: `rdk-${i}`, created_at: new Date(nowMs - 600_000 + i * 300).toISOString() });
    }
  };
  const records = (count: number, shape: (i: number) => Partial<PlannedRecord> = () => ({})): PlannedRecord[] =>
    Array.from({ length: count }, (_, i) => ({ partition: i % PARTITIONS, key: `u-${i % 7}`, value: order(), headers: [], ...shape(i) }));

  const plan: PlanStep[] = [
    // One producer per codec: some records with headers (a repeated key and a null value among
    // them), some with null keys, and invalid ones.
    ...CODECS.map((codec) => ({
      config: { "compression.type": codec },
      transaction: null,
      records: records(40, (i) => ({
        ...(i % 5 === 0 ? { headers: [["trace", `t-${i}`], ["trace", "again"], ["empty", null]] as [string, string | null][] } : {}),
        ...(i % 4 === 1 ? { key: null } : {}),
        ...(i % 13 === 7 ? { value: `{"not json ${codec} ${i}` } : {}),
      })),
    })),
    // Tombstones: a key and no value.
    { config: {}, transaction: null, records: records(3, () => ({ value: null })) },
    { config: { "compression.type": "lz4" }, transaction: "commit", records: records(20) },
    { config: { "compression.type": "zstd" }, transaction: "abort", records: records(20) },
  ];
  const produced = await produceWithLibrdkafka(bootstrap, topic, plan);
  expect(produced).toHaveLength(CODECS.length * 40 + 3 + 20 + 20);
  const aborted = new Set(produced.filter((r) => r.step === plan.length - 1).map((r) => `${r.partition}@${r.offset}`));

  // The independent computation: what librdkafka reads back (read_committed), through the oracle.
  const committedCount = produced.length - aborted.size;
  const committed = await readCommitted(bootstrap, topic, committedCount);
  expect(committed.filter((r) => aborted.has(`${r.partition}@${r.offset}`))).toEqual([]);
  const byPartition = new Map<number, TopicRecord[]>(Array.from({ length: PARTITIONS }, (_, p) => [p, []]));
  for (const r of committed) {
    byPartition.get(r.partition)!.push({
      partition: r.partition,
      offset: BigInt(r.offset),
      key: r.key ?? "",
      value: valueBytes(r),
      headers: new Map(),
      timestampMs: r.timestamp,
    });
  }
  for (const list of byPartition.values()) list.sort((a, b) => Number(a.offset - b.offset));
  const oracle = oracleForTopic(byPartition, DEFAULT_AGGREGATOR_SETTINGS);
  const invalid = new Set([...byPartition.values()].flat().filter((r) => !validateAsLogged(r).ok).map((r) => `${r.partition}@${r.offset}`));
  expect(oracleTotal(oracle, "invalid")).toBe(invalid.size);
  expect(invalid.size).toBeGreaterThanOrEqual(3 + CODECS.length * 3);

  // The aggregator.
  const results = join(scratch, "results.jsonl");
  const aggregator = startWorker("workers/aggregate.ts", ["--sink", `jsonl:${results}`, "--idle-timeout", "2s", "--exit-when-idle", "3s", "--checkpoint-interval", "1s"], {
    KAFKA_BROKERS: conn.brokers.join(","),
    ORDERS_TOPIC: topic,
    DLQ_TOPIC: dlq,
    LATE_TOPIC: `${topic}.late`,
    AGGREGATE_GROUP: `${topic}-agg`,
    KAFKA_SESSION_TIMEOUT: "6s",
  });
  // The lake writer, at the same time (each is its own group).
  const lakeDir = join(scratch, "lake");
  const lakeWriter = startWorker("workers/lake-writer.ts", ["--flush-interval", "500ms", "--exit-when-idle", "3s"], {
    KAFKA_BROKERS: conn.brokers.join(","),
    ORDERS_TOPIC: topic,
    LAKE_URI: lakeDir,
    LAKE_GROUP: `${topic}-lake`,
    KAFKA_SESSION_TIMEOUT: "6s",
  });
  const [aggregated, written] = await Promise.all([aggregator.exited, lakeWriter.exited]);
  expect({ aggregated, written, log: aggregated || written ? aggregator.log() + lakeWriter.log() : "" }).toEqual({ aggregated: 0, written: 0, log: "" });

  // Windows: the oracle's, final.
  expect(checkResultsAgainstOracle(await readResults(results), oracle)).toEqual([]);
  expect(oracleTotal(oracle, "counted")).toBeGreaterThan(150);

  // DLQ: every invalid committed record (tombstones included, still tombstones), each once, with a reason; nothing of the aborted transaction.
  const dead = await readCommitted(bootstrap, dlq, invalid.size);
  const header = (r: (typeof dead)[number], name: string) => r.headers.find(([n]) => n === name)?.[1];
  expect(new Set(dead.map((r) => `${header(r, "source-partition")}@${header(r, "source-offset")}`))).toEqual(invalid);
  expect(dead.filter((r) => !header(r, "reason"))).toEqual([]);
  expect(dead.filter((r) => r.value === null).map((r) => header(r, "reason"))).toEqual(["not_json", "not_json", "not_json"]);

  // Lake: exactly the committed valid events, each once.
  const { rows } = await readLake(new FileLakeStore(lakeDir));
  const want = validRecords(byPartition).map((r) => `${r.partition}@${r.offset}`).sort();
  expect(rows.map((r) => `${r.kafka_partition}@${r.kafka_offset}`).sort()).toEqual(want);
  expect(want.some((k) => aborted.has(k))).toBe(false);
}, 120_000);
