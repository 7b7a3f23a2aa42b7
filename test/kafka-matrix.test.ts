/**
 * The broker matrix (issue 18): the producer, the aggregator, the lake writer and
 * workers/tail.ts as real processes against each Apache Kafka release in `ORDERPULSE_KAFKA_MATRIX`
 * (comma-separated; default the oldest and the newest we support, 3.3.2 and 4.1.1, which CI runs
 * every time). `bun run scripts/kafka-matrix.ts` runs all four: 3.3.2, 3.6.2, 3.9.1 and 4.1.1.
 *
 * Per release, on a broker of its own: the producer creates and writes the orders topic (late,
 * out-of-order, duplicate and malformed events among them); librdkafka adds a committed and an
 * aborted transaction; the independent reader is librdkafka (read_committed). The aggregator's
 * final windows equal the oracle's over those records and its DLQ holds every invalid one; the
 * lake holds exactly the valid ones; tail prints every committed record once.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Simulator } from "../lib/event/simulator.ts";
import type { OrderEvent } from "../lib/event/order-event.ts";
import { kafkaVersion, LocalBroker, SUPPORTED_KAFKA_RELEASES } from "../lib/kafka/local-broker.ts";
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { readLake } from "../lib/lake/reader.ts";
import { DEFAULT_AGGREGATOR_SETTINGS } from "../lib/window/partition-aggregator.ts";
import { produceWithLibrdkafka, type ReadRecord, readCommitted, valueBytes } from "./support/librdkafka.ts";
import { validRecords } from "./support/lake-invariants.ts";
import { checkResultsAgainstOracle, oracleForTopic, oracleTotal, readResults, repoRoot, startWorker, type TopicRecord, validateAsLogged } from "./support/pipeline-harness.ts";
import { runProducer } from "./produce-harness.ts";

const releases = (process.env.ORDERPULSE_KAFKA_MATRIX || `${SUPPORTED_KAFKA_RELEASES[0]},${SUPPORTED_KAFKA_RELEASES.at(-1)}`).split(",").map((v) => v.trim()).filter(Boolean);

test("the matrix's newest release is the one the local broker runs by default", () => {
  expect(kafkaVersion()).toBe(String(SUPPORTED_KAFKA_RELEASES.at(-1)));
});

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-kafka-matrix-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const PARTITIONS = 3;
const simulator = new Simulator({ seed: 18, startMs: Date.UTC(2026, 0, 1) });

/** The simulator's next valid order event (the template of the transactional records). */
function validOrder(): OrderEvent {
  for (;;) {
    const r = simulator.next();
    if (r.kind === "valid") return JSON.parse(new TextDecoder().decode(r.value)) as OrderEvent;
  }
}
const EVENTS = 6_000;

for (const release of releases) {
  describe(`Apache Kafka ${release}`, () => {
    const broker = new LocalBroker({ version: release, onProgress: (line) => console.error(`[kafka ${release}] ${line}`) });
    const dir = join(scratch, release);
    const topic = `orders-${release.replaceAll(".", "-")}`;
    const dlq = `${topic}.dlq`;
    let env: Record<string, string>;
    /** The committed records of the topic, as librdkafka reads them, by partition in offset order. */
    let byPartition: Map<number, TopicRecord[]>;
    let committed: ReadRecord[];
    let aborted: Set<string>;

    beforeAll(async () => {
      await broker.start();
      env = { KAFKA_BROKERS: broker.bootstrap, ORDERS_TOPIC: topic, ORDERS_PARTITIONS: String(PARTITIONS), KAFKA_SESSION_TIMEOUT: "6s" };
    }, 120_000);
    afterAll(() => broker.stop({ removeData: true }));

    test("the producer creates the orders topic and writes every event it reports, exactly once", async () => {
      const run = await runProducer(
        [
          "--seed", `matrix-${release}`, "--max", "--count", String(EVENTS), "--rate", "20", "--start", new Date(Date.now() - 3 * 3_600_000).toISOString(),
          "--late-fraction", "0.03", "--out-of-order", "0.2", "--duplicate-fraction", "0.03", "--malformed-fraction", "0.02", "--progress-every", "1s",
        ],
        env,
      );
      expect({ code: run.exitCode, stderr: run.exitCode === 0 ? "" : run.stderr }).toEqual({ code: 0, stderr: "" });
      expect(run.summary?.sent).toBe(EVENTS);
      // A client we did not write adds a committed and an aborted transaction after the producer's records.
      const orders = Array.from({ length: 12 }, (_, i) => ({
        partition: i % PARTITIONS,
        key: `u-${i}`,
        value: JSON.stringify({ ...validOrder(), event_id: `txn-${i}`, created_at: new Date(Date.now() - 5 * 60_000).toISOString() }),
        headers: [],
      }));
      const transactions = await produceWithLibrdkafka(broker.bootstrap, topic, [
        { config: { "compression.type": "zstd" }, transaction: "commit", records: orders.slice(0, 6) },
        { config: { "compression.type": "gzip" }, transaction: "abort", records: orders.slice(6) },
      ]);
      aborted = new Set(transactions.filter((r) => r.step === 1).map((r) => `${r.partition}@${r.offset}`));
      expect(aborted.size).toBe(6);

      committed = await readCommitted(broker.bootstrap, topic, run.summary!.sent + 6);
      expect(committed.filter((r) => aborted.has(`${r.partition}@${r.offset}`))).toEqual([]);
      expect(committed.filter((r) => r.value?.includes('"txn-')).length).toBe(6);
      expect(new Set(committed.map((r) => r.partition))).toEqual(new Set([0, 1, 2]));
      byPartition = new Map(Array.from({ length: PARTITIONS }, (_, p) => [p, [] as TopicRecord[]]));
      for (const r of committed) {
        byPartition.get(r.partition)!.push({ partition: r.partition, offset: BigInt(r.offset), key: r.key ?? "", value: valueBytes(r), headers: new Map(), timestampMs: r.timestamp });
      }
      for (const list of byPartition.values()) list.sort((a, b) => Number(a.offset - b.offset));
    }, 120_000);

    test("the aggregator's final windows equal the oracle's, and its DLQ holds every invalid record", async () => {
      expect(byPartition).toBeDefined();
      const results = join(dir, "results.jsonl");
      const aggregator = startWorker("workers/aggregate.ts", ["--sink", `jsonl:${results}`, "--idle-timeout", "2s", "--exit-when-idle", "3s", "--checkpoint-interval", "1s"], {
        ...env,
        DLQ_TOPIC: dlq,
        LATE_TOPIC: `${topic}.late`,
        CHECKPOINT_DIR: join(dir, "checkpoints"),
        AGGREGATE_GROUP: `${topic}-agg`,
      });
      const code = await aggregator.exited;
      expect({ code, log: code === 0 ? "" : aggregator.log() }).toEqual({ code: 0, log: "" });
      const oracle = oracleForTopic(byPartition, DEFAULT_AGGREGATOR_SETTINGS);
      expect(checkResultsAgainstOracle(await readResults(results), oracle)).toEqual([]);
      expect(oracleTotal(oracle, "counted")).toBeGreaterThan(EVENTS * 0.8);
      expect(oracleTotal(oracle, "late")).toBeGreaterThan(0);
      expect(oracleTotal(oracle, "duplicates")).toBeGreaterThan(0);

      const invalid = new Set([...byPartition.values()].flat().filter((r) => !validateAsLogged(r).ok).map((r) => `${r.partition}@${r.offset}`));
      expect(invalid.size).toBe(oracleTotal(oracle, "invalid"));
      expect(invalid.size).toBeGreaterThan(0);
      const dead = await readCommitted(broker.bootstrap, dlq, invalid.size);
      const header = (r: ReadRecord, name: string) => r.headers.find(([n]) => n === name)?.[1];
      expect(new Set(dead.map((r) => `${header(r, "source-partition")}@${header(r, "source-offset")}`))).toEqual(invalid);
      expect(dead.filter((r) => !header(r, "reason"))).toEqual([]);
    }, 120_000);

    test("the lake writer keeps exactly the committed valid events, each once", async () => {
      expect(byPartition).toBeDefined();
      const lakeDir = join(dir, "lake");
      const writer = startWorker("workers/lake-writer.ts", ["--flush-interval", "500ms", "--exit-when-idle", "3s"], { ...env, LAKE_URI: lakeDir, LAKE_GROUP: `${topic}-lake` });
      const code = await writer.exited;
      expect({ code, log: code === 0 ? "" : writer.log() }).toEqual({ code: 0, log: "" });
      const { rows } = await readLake(new FileLakeStore(lakeDir));
      const want = validRecords(byPartition).map((r) => `${r.partition}@${r.offset}`).sort();
      expect(rows.map((r) => `${r.kafka_partition}@${r.kafka_offset}`).sort()).toEqual(want);
      expect(want.length).toBeGreaterThan(EVENTS * 0.9);
    }, 120_000);

    test("tail --from-beginning prints every committed record once and nothing of the aborted transaction", async () => {
      expect(committed).toBeDefined();
      const tail = Bun.spawn([process.execPath, "run", "workers/tail.ts", "--topic", topic, "--from-beginning"], {
        cwd: repoRoot,
        env: { ...process.env, ...env },
        stdout: "pipe",
        stderr: "pipe",
      });
      const printed = new Set<string>();
      let lines = 0;
      const decoder = new TextDecoder();
      let pending = "";
      const deadline = setTimeout(() => tail.kill("SIGTERM"), 60_000);
      for await (const chunk of tail.stdout) {
        pending += decoder.decode(chunk, { stream: true });
        const parts = pending.split("\n");
        pending = parts.pop()!;
        for (const line of parts) {
          lines += 1;
          printed.add(line.split(" ", 1)[0]!);
        }
        if (lines >= committed.length) {
          // Everything is there; wait a moment for anything extra (a duplicate, an aborted record), then stop.
          setTimeout(() => tail.kill("SIGTERM"), 1_500);
        }
      }
      clearTimeout(deadline);
      expect(await tail.exited).toBe(0);
      expect(lines).toBe(committed.length);
      expect(printed).toEqual(new Set(committed.map((r) => `${r.partition}@${r.offset}`)));
    }, 120_000);
  });
}
