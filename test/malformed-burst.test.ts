/**
 * Bad input never crashes the aggregator and never vanishes: a burst of 100,000 malformed
 * messages of every kind (random bytes, a 10 MB value, deeply nested JSON, wrong types, NaN and
 * Infinity, far-past and far-future timestamps, invalid UTF-8, an empty key, no value at all),
 * mixed into a valid stream, all land in the DLQ with a reason while the valid events' results
 * equal the oracle's.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_AGGREGATOR_SETTINGS } from "../lib/window/partition-aggregator.ts";
import { REJECT_REASONS } from "../lib/event/validate-order.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { allowHugeMessages, HUGE_KEY, sendMalformedBurst } from "./support/malformed-burst.ts";
import { checkResultsAgainstOracle, oracleForTopic, oracleTotal, produceSimulated, readResults, readTopic, startWorker } from "./support/pipeline-harness.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-malformed-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const BURST = 100_000;

test("a burst of 100,000 malformed messages, one of them 10 MB, all reach the DLQ with a reason; valid results are untouched", async () => {
  const topic = await uniqueTopic("malformed", 3);
  const dlq = await uniqueTopic("malformed-dlq", 1);
  const conn = await testConnection("malformed");
  await allowHugeMessages(conn, [topic, dlq]);

  const nowMs = Date.now();
  await produceSimulated(conn, topic, 6_000, { seed: 41, startMs: nowMs - 2 * 3_600_000, ratePerS: 40, outOfOrderFraction: 0.2, duplicateFraction: 0.02 });
  await sendMalformedBurst(conn, topic, BURST, { seed: 41, nowMs });
  await produceSimulated(conn, topic, 6_000, { seed: 42, startMs: nowMs - 3_600_000, ratePerS: 40, outOfOrderFraction: 0.2 });

  const results = join(scratch, "results.jsonl");
  const worker = startWorker("workers/aggregate.ts", ["--sink", `jsonl:${results}`, "--idle-timeout", "3s", "--exit-when-idle", "4s"], {
    KAFKA_BROKERS: conn.brokers.join(","),
    ORDERS_TOPIC: topic,
    DLQ_TOPIC: dlq,
    LATE_TOPIC: `${topic}.late`,
    CHECKPOINT_DIR: join(scratch, "checkpoints"),
    AGGREGATE_GROUP: "malformed",
  });
  expect(await worker.exited).toBe(0);

  const records = await readTopic(conn, topic);
  const oracle = oracleForTopic(records, DEFAULT_AGGREGATOR_SETTINGS);
  expect(oracleTotal(oracle, "invalid")).toBe(BURST + 1);
  expect(checkResultsAgainstOracle(await readResults(results), oracle)).toEqual([]);

  const dead = [...(await readTopic(conn, dlq)).values()].flat();
  const positions = new Set(dead.map((r) => `${r.headers.get("source-partition")}@${r.headers.get("source-offset")}`));
  expect(positions.size).toBe(BURST + 1);
  expect(dead.filter((r) => !(REJECT_REASONS as readonly string[]).includes(r.headers.get("reason") ?? "")).length).toBe(0);
  const huge = dead.find((r) => r.key === HUGE_KEY);
  expect({ bytes: huge?.value.length, reason: huge?.headers.get("reason") }).toEqual({ bytes: 10 * 1024 * 1024, reason: "too_large" });
  const reasons = new Map<string, number>();
  for (const r of dead) reasons.set(r.headers.get("reason")!, (reasons.get(r.headers.get("reason")!) ?? 0) + 1);
  console.log(`[malformed] DLQ reasons: ${JSON.stringify(Object.fromEntries(reasons))}`);
}, 240_000);
