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
import { createAdmin, createProducer } from "../lib/kafka.ts";
import { DEFAULT_AGGREGATOR_SETTINGS } from "../lib/partition-aggregator.ts";
import { Prng } from "../lib/prng.ts";
import { REJECT_REASONS } from "../lib/validate-order.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { checkResultsAgainstOracle, oracleForTopic, oracleTotal, produceSimulated, readResults, readTopic, startWorker } from "./support/pipeline-harness.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-malformed-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const BURST = 100_000;

/** A canonical-looking order whose fields are then broken one way or another. */
function validLooking(i: number, createdAt: string): Record<string, unknown> {
  return {
    schema_version: 1,
    event_id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    order_id: `o-bad-${i}`,
    user_id: `u-bad-${i % 997}`,
    created_at: createdAt,
    items: [{ sku: "SKU-000001", category: "books", qty: 1, unit_price_minor: 1000 }],
    discount_minor: 0,
    total: { amount_minor: 1000, currency: "USD" },
    total_usd_cents: 1000,
    country: "US",
    payment_method: "card",
    channel: "web",
    status: "paid",
  };
}

/** Message i of the burst: one of many kinds of bad input, each a Buffer (or null: no value). */
function malformed(i: number, prng: Prng, nowMs: number): { key: string | undefined; value: Buffer | undefined } {
  const key = i % 50 === 0 ? "" : `u-bad-${i % 997}`;
  const at = new Date(nowMs - 3_600_000).toISOString();
  switch (i % 14) {
    case 0:
      return { key, value: Buffer.from(Array.from({ length: prng.int(1, 300) }, () => prng.int(0, 255))) };
    case 1:
      return { key, value: Buffer.from(`${"[".repeat(100_000)}${"]".repeat(100_000)}`) };
    case 2:
      return { key, value: Buffer.from(JSON.stringify({ ...validLooking(i, at), total_usd_cents: "1000" })) };
    case 3:
      return { key, value: Buffer.from(JSON.stringify(validLooking(i, at)).replace('"total_usd_cents":1000', '"total_usd_cents":NaN')) };
    case 4:
      return { key, value: Buffer.from(JSON.stringify(validLooking(i, at)).replace('"discount_minor":0', '"discount_minor":Infinity')) };
    case 5:
      return { key, value: Buffer.from(JSON.stringify(validLooking(i, at)).replace('"discount_minor":0', '"discount_minor":1e999')) };
    case 6:
      return { key, value: Buffer.from(JSON.stringify(validLooking(i, new Date(nowMs - 30 * 86_400_000).toISOString()))) };
    case 7:
      return { key, value: Buffer.from(JSON.stringify(validLooking(i, new Date(nowMs + 3 * 86_400_000).toISOString()))) };
    case 8: {
      const bytes = Buffer.from(JSON.stringify(validLooking(i, at)));
      bytes[bytes.indexOf("books")] = 0xff; // invalid UTF-8 inside a string
      return { key, value: bytes };
    }
    case 9:
      return { key, value: Buffer.from(JSON.stringify({ ...validLooking(i, at), items: [{ sku: "x", category: "books", qty: -1, unit_price_minor: 1000 }] })) };
    case 10:
      return { key, value: Buffer.from(JSON.stringify({ ...validLooking(i, at), total: { amount_minor: 1000, currency: "XYZ" } })) };
    case 11:
      return { key, value: undefined };
    case 12:
      return { key, value: Buffer.from("") };
    default:
      return { key: undefined, value: Buffer.from(JSON.stringify([validLooking(i, at)])) };
  }
}

test("a burst of 100,000 malformed messages, one of them 10 MB, all reach the DLQ with a reason; valid results are untouched", async () => {
  const topic = await uniqueTopic("malformed", 3);
  const dlq = await uniqueTopic("malformed-dlq", 1);
  const conn = await testConnection("malformed");
  // Topics take 1 MB messages by default; let both take the 10 MB one.
  const admin = createAdmin(conn);
  await admin.alterConfigs({
    resources: [topic, dlq].map((name) => ({ resourceType: 2, resourceName: name, configs: [{ name: "max.message.bytes", value: String(16 * 1024 * 1024) }] })),
  });
  await admin.close();

  const nowMs = Date.now();
  await produceSimulated(conn, topic, 6_000, { seed: 41, startMs: nowMs - 2 * 3_600_000, ratePerS: 40, outOfOrderFraction: 0.2, duplicateFraction: 0.02 });
  const producer = createProducer(conn, { role: "malformed" });
  const prng = new Prng(41);
  for (let start = 0; start < BURST; start += 500) {
    const messages = [];
    for (let i = start; i < start + 500; i++) {
      const { key, value } = malformed(i, prng, nowMs);
      messages.push({ topic, key, value });
    }
    await producer.send({ messages });
  }
  await producer.send({ messages: [{ topic, key: "u-huge", value: Buffer.alloc(10 * 1024 * 1024, 0x7b) }] });
  await producer.close();
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
  const huge = dead.find((r) => r.key === "u-huge");
  expect({ bytes: huge?.value.length, reason: huge?.headers.get("reason") }).toEqual({ bytes: 10 * 1024 * 1024, reason: "too_large" });
  const reasons = new Map<string, number>();
  for (const r of dead) reasons.set(r.headers.get("reason")!, (reasons.get(r.headers.get("reason")!) ?? 0) + 1);
  console.log(`[malformed] DLQ reasons: ${JSON.stringify(Object.fromEntries(reasons))}`);
}, 240_000);
