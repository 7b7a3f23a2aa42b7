/**
 * The aggregator's DLQ and late topics at their seams with the broker: a burst of invalid
 * records whose forwarded batches exceed the DLQ's `max.message.bytes`, and one record that
 * exceeds it on its own, both land in the DLQ and the aggregator keeps running (issue 17, item 9).
 * The DLQ is pre-created with a 64 KiB limit (as someone else's topic could be), so the bursts stay small.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAdmin, type KafkaConnection } from "../lib/kafka/client.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { sendRandomBurst, setMaxMessageBytes } from "./support/malformed-burst.ts";
import { readTopic, startWorker, type TopicRecord } from "./support/pipeline-harness.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-forward-seams-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const DLQ_LIMIT = 64 * 1024;

/** A source topic of one partition, a DLQ pre-created with a 64 KiB limit, and a late topic left to the worker. */
async function setup(name: string) {
  const conn = await testConnection(name);
  const topic = await uniqueTopic(name, 1);
  const dlq = await uniqueTopic(`${name}-dlq`, 1);
  await setMaxMessageBytes(conn, [dlq], DLQ_LIMIT);
  return { conn, topic, dlq, late: `${topic}.late` };
}

/** Runs the aggregator over `topic` until it has been idle for 3 s; resolves with its exit code and log. */
async function runAggregator(run: { conn: KafkaConnection; topic: string; dlq: string; late: string }, name: string) {
  const worker = startWorker("workers/aggregate.ts", ["--sink", `jsonl:${join(scratch, `${name}.jsonl`)}`, "--idle-timeout", "2s", "--exit-when-idle", "3s", "--checkpoint-interval", "1s"], {
    KAFKA_BROKERS: run.conn.brokers.join(","),
    ORDERS_TOPIC: run.topic,
    DLQ_TOPIC: run.dlq,
    LATE_TOPIC: run.late,
    AGGREGATE_GROUP: name,
  });
  const code = await worker.exited;
  return { code, log: worker.log() };
}

/** The DLQ's records, by their source offset; fails on a source offset forwarded twice. */
async function dlqBySourceOffset(conn: KafkaConnection, dlq: string): Promise<Map<number, TopicRecord>> {
  const records = [...(await readTopic(conn, dlq)).values()].flat();
  const byOffset = new Map(records.map((r) => [Number(r.headers.get("source-offset")), r]));
  expect(byOffset.size).toBe(records.length);
  return byOffset;
}

async function topicConfig(conn: KafkaConnection, topic: string, names: string[]): Promise<Record<string, string | null | undefined>> {
  const admin = createAdmin(conn);
  try {
    const [described] = await admin.describeConfigs({ resources: [{ resourceType: 2, resourceName: topic, configurationKeys: names }] });
    return Object.fromEntries((described?.configs ?? []).map((c) => [c.name, c.value]));
  } finally {
    await admin.close();
  }
}

test("17.9 a burst of ~1 KB incompressible invalid records far over the DLQ's 64 KiB limit lands in the DLQ whole, each once, and the aggregator keeps running; the late topic it creates has explicit settings", async () => {
  const run = await setup("fwd-burst");
  const BURST = 1_200; // ~1.2 MB: one forwarder batch is ~1 MB, sixteen times the DLQ's limit
  const values = await sendRandomBurst(run.conn, run.topic, BURST, 1_024, { seed: 179 });

  const { code, log } = await runAggregator(run, "fwd-burst");
  expect({ code, log: code === 0 ? "" : log.slice(-2_000) }).toEqual({ code: 0, log: "" });

  const dead = await dlqBySourceOffset(run.conn, run.dlq);
  expect(dead.size).toBe(BURST);
  const differing = values.flatMap((value, offset) => {
    const r = dead.get(offset);
    return r && r.key === `k-${offset}` && r.value.equals(value) && !r.headers.has("truncated") ? [] : [offset];
  });
  expect(differing).toEqual([]);

  expect(await topicConfig(run.conn, run.late, ["cleanup.policy", "max.message.bytes", "retention.ms"])).toEqual({
    "cleanup.policy": "delete",
    "max.message.bytes": String(8 * 1024 * 1024),
    "retention.ms": String(14 * 86_400_000),
  });
}, 60_000);

test("17.9 a record larger than the DLQ's limit on its own is forwarded truncated, with its original size, between whole records, and the aggregator keeps running", async () => {
  const run = await setup("fwd-huge");
  const before = await sendRandomBurst(run.conn, run.topic, 20, 1_024, { seed: 1791, headers: (i) => ({ trace: `t-${i}` }) });
  const [huge] = await sendRandomBurst(run.conn, run.topic, 1, 200 * 1024, { seed: 1792 });
  const after = await sendRandomBurst(run.conn, run.topic, 20, 1_024, { seed: 1793 });

  const { code, log } = await runAggregator(run, "fwd-huge");
  expect({ code, log: code === 0 ? "" : log.slice(-2_000) }).toEqual({ code: 0, log: "" });

  const dead = await dlqBySourceOffset(run.conn, run.dlq);
  expect([...dead.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 41 }, (_, i) => i));
  const whole = [...before, undefined, ...after].flatMap((value, offset) => (value === undefined || dead.get(offset)?.value.equals(value) ? [] : [offset]));
  expect(whole).toEqual([]);
  expect(Array.from({ length: 20 }, (_, offset) => dead.get(offset)?.headers.get("trace"))).toEqual(Array.from({ length: 20 }, (_, i) => `t-${i}`));

  const cut = dead.get(20)!;
  expect({
    key: cut.key,
    reason: cut.headers.get("reason"),
    truncated: cut.headers.get("truncated"),
    originalBytes: cut.headers.get("original-value-bytes"),
    prefix: huge!.subarray(0, cut.value.length).equals(cut.value),
  }).toEqual({ key: "k-0", reason: "too_large", truncated: "value", originalBytes: String(200 * 1024), prefix: true });
  expect(cut.value.length).toBeGreaterThan(DLQ_LIMIT / 2);
  expect(cut.value.length).toBeLessThan(DLQ_LIMIT);
}, 60_000);
