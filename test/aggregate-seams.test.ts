/**
 * The aggregator where the pipeline meets clocks, outages and other producers (issue 17): a real
 * broker, records written with the Kafka timestamps a real client would give them, and
 * workers/aggregate.ts as a real process. Each test is named after the item it proves.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createProducer } from "../lib/kafka/client.ts";
import { Simulator } from "../lib/event/simulator.ts";
import type { OrderEvent } from "../lib/event/order-event.ts";
import { DEFAULT_AGGREGATOR_SETTINGS } from "../lib/window/partition-aggregator.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { checkResultsAgainstOracle, oracleForTopic, oracleTotal, readResults, readTopic, repoRoot, startWorker } from "./support/pipeline-harness.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-aggregate-seams-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Valid orders from the simulator, to be re-timed: created_at and event_id are set per record. */
function orders(count: number): OrderEvent[] {
  const simulator = new Simulator({ seed: 17, startMs: Date.UTC(2026, 0, 1) });
  const out: OrderEvent[] = [];
  while (out.length < count) {
    const record = simulator.next();
    if (record.kind === "valid") out.push(JSON.parse(new TextDecoder().decode(record.value)));
  }
  return out;
}

interface Timed {
  createdAtMs: number;
  /** The record's Kafka timestamp (CreateTime). */
  timestampMs: number;
}

/** Writes one order per entry to partition 0 of a new topic, with the given created_at and Kafka timestamp. */
async function setup(name: string, timed: Timed[]) {
  const topic = await uniqueTopic(name, 1);
  const dlq = await uniqueTopic(`${name}-dlq`, 1);
  const late = await uniqueTopic(`${name}-late`, 1);
  const conn = await testConnection(name);
  const producer = createProducer(conn, { role: "seams" });
  try {
    const bodies = orders(timed.length);
    await producer.send({
      messages: timed.map((t, i) => ({
        topic,
        partition: 0,
        key: bodies[i]!.user_id,
        value: Buffer.from(JSON.stringify({ ...bodies[i]!, event_id: `${name}-${i}`, created_at: new Date(t.createdAtMs).toISOString() })),
        timestamp: BigInt(t.timestampMs),
      })),
    });
  } finally {
    await producer.close();
  }
  const results = join(scratch, `${name}.jsonl`);
  const env = {
    KAFKA_BROKERS: conn.brokers.join(","),
    ORDERS_TOPIC: topic,
    DLQ_TOPIC: dlq,
    LATE_TOPIC: late,
    AGGREGATE_GROUP: name,
    KAFKA_SESSION_TIMEOUT: "6s",
  };
  const args = ["--sink", `jsonl:${results}`, "--idle-timeout", "2s", "--exit-when-idle", "3s", "--checkpoint-interval", "1s"];
  return { topic, dlq, late, conn, env, args, results };
}

/** Runs test/support/headers_roundtrip.py (librdkafka) with `args`, `input` on its stdin; resolves to its stdout. */
async function python(args: string[], input = ""): Promise<string> {
  const child = Bun.spawn([join(repoRoot, ".venv", "bin", "python"), join(repoRoot, "test", "support", "headers_roundtrip.py"), ...args], {
    stdin: new TextEncoder().encode(input),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, out, err] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  if (code !== 0) throw new Error(`headers_roundtrip.py ${args[0]} failed (exit ${code}); run \`bash scripts/setup.sh\` if confluent-kafka is missing:\n${err}`);
  return out;
}

/** The worker's closing totals line. */
function totals(log: string) {
  const m = /stopped; read (\d+) records: counted (\d+), late (\d+), duplicates (\d+), invalid (\d+)/.exec(log);
  if (!m) throw new Error(`no totals line in the worker's log:\n${log}`);
  const [records, counted, late, duplicates, invalid] = m.slice(1).map(Number);
  return { records, counted, late, duplicates, invalid };
}

describe("the aggregator at the seams", () => {
  test("17.2 one early event (a client clock minutes ahead) does not make the on-time events after it late", async () => {
    const base = Math.floor((Date.now() - 3_600_000) / 60_000) * 60_000;
    const timed: Timed[] = [];
    for (let i = 0; i < 10; i++) timed.push({ createdAtMs: base + 1_000 + i * 1_000, timestampMs: base + 1_000 + i * 1_000 });
    // Its created_at is 4 minutes ahead (within --max-future, so valid); its record was written now.
    timed.push({ createdAtMs: base + 11_000 + 4 * 60_000, timestampMs: base + 11_000 });
    // The rest of the traffic goes on in the current minute and the next.
    for (let i = 0; i < 90; i++) timed.push({ createdAtMs: base + 12_000 + i * 1_000, timestampMs: base + 12_000 + i * 1_000 });
    const run = await setup("seams-early-event", timed);

    const worker = startWorker("workers/aggregate.ts", run.args, run.env);
    expect(await worker.exited).toBe(0);
    expect(totals(worker.log())).toEqual({ records: 101, counted: 101, late: 0, duplicates: 0, invalid: 0 });
    const oracle = oracleForTopic(await readTopic(run.conn, run.topic), DEFAULT_AGGREGATOR_SETTINGS);
    expect(oracleTotal(oracle, "late")).toBe(0);
    expect(checkResultsAgainstOracle(await readResults(run.results), oracle)).toEqual([]);
    expect((await readTopic(run.conn, run.late)).get(0)).toEqual([]);
  }, 60_000);

  test("17.s3 a DLQ copy keeps the source record's headers (repeated keys, null values) and a tombstone stays a tombstone", async () => {
    const topic = await uniqueTopic("seams-dlq-headers", 1);
    const dlq = await uniqueTopic("seams-dlq-headers-dlq", 1);
    const conn = await testConnection("seams-dlq-headers");
    // Written by librdkafka, as a producer we did not write would.
    const records = [
      { key: "u-1", value: "{not json", headers: [["trace", "a"], ["trace", "b"], ["empty", null]] },
      { key: "u-2", value: null, headers: [["why", "delete"]] },
    ];
    await python(["produce", conn.brokers[0]!, topic], JSON.stringify(records));
    const worker = startWorker("workers/aggregate.ts", ["--sink", `jsonl:${join(scratch, "dlq-headers.jsonl")}`, "--idle-timeout", "2s", "--exit-when-idle", "3s"], {
      KAFKA_BROKERS: conn.brokers.join(","),
      ORDERS_TOPIC: topic,
      DLQ_TOPIC: dlq,
      LATE_TOPIC: `${topic}.late`,
      AGGREGATE_GROUP: "seams-dlq-headers",
      KAFKA_SESSION_TIMEOUT: "6s",
    });
    expect(await worker.exited).toBe(0);
    const dead = (await python(["read", conn.brokers[0]!, dlq, "2"])).trim().split("\n").map((line) => JSON.parse(line));
    const own = (headers: [string, string | null][]) => headers.filter(([name]) => !["reason", "detail", "source-topic", "source-partition", "source-offset"].includes(name));
    expect(dead.map((r) => ({ key: r.key, value: r.value, headers: own(r.headers), reason: r.headers.find(([n]: [string]) => n === "reason")?.[1] }))).toEqual([
      { key: "u-1", value: "{not json", headers: [["trace", "a"], ["trace", "b"], ["empty", null]], reason: "not_json" },
      { key: "u-2", value: null, headers: [["why", "delete"]], reason: "not_json" },
    ]);
  }, 60_000);

  test("17.3 time bounds are judged against each record's Kafka timestamp, not the worker's clock", async () => {
    const now = Date.now();
    const threeDaysAgo = Math.floor((now - 3 * 86_400_000) / 60_000) * 60_000;
    const timed: Timed[] = [];
    // A topic replayed days later: created_at days before the worker's clock, but just before its own record's timestamp. Valid.
    for (let i = 0; i < 20; i++) timed.push({ createdAtMs: threeDaysAgo + i * 1_000, timestampMs: threeDaysAgo + i * 1_000 + 500 });
    // created_at 10 minutes after its record was written (beyond --max-future 5 min): invalid,
    // however close to the worker's clock it happens to be when it is read.
    timed.push({ createdAtMs: now, timestampMs: now - 10 * 60_000 });
    const run = await setup("seams-log-time", timed);

    const worker = startWorker("workers/aggregate.ts", run.args, run.env);
    expect(await worker.exited).toBe(0);
    expect(totals(worker.log())).toEqual({ records: 21, counted: 20, late: 0, duplicates: 0, invalid: 1 });
    const dead = (await readTopic(run.conn, run.dlq)).get(0)!;
    expect(dead.map((r) => [r.headers.get("source-offset"), r.headers.get("reason")])).toEqual([["20", "future_timestamp"]]);
    const oracle = oracleForTopic(await readTopic(run.conn, run.topic), DEFAULT_AGGREGATOR_SETTINGS);
    expect(checkResultsAgainstOracle(await readResults(run.results), oracle)).toEqual([]);
  }, 60_000);
});
