/**
 * The InfluxDB sink where the hot path meets a server that is away, refuses points for good, or
 * refuses everything (issue 17): a real InfluxDB 1.6.7, and for the checkpoint ordering the real
 * aggregator process on a real broker.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InfluxSink, InfluxWriteError } from "../lib/hot/influx-sink.ts";
import type { WindowResult } from "../lib/window/window-aggregate.ts";
import { DEFAULT_AGGREGATOR_SETTINGS } from "../lib/window/partition-aggregator.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { oracleForTopic, produceSimulated, readTopic, startWorker } from "./support/pipeline-harness.ts";
import { InfluxDb1 } from "./support/timeseries.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-influx-seams-"));
const influx = new InfluxDb1();
beforeAll(() => influx.start(), 60_000);
afterAll(async () => {
  await influx[Symbol.asyncDispose]();
  rmSync(scratch, { recursive: true, force: true });
});

/** A final window result of `orders` orders of 250 cents from the US. */
function result(partition: number, windowStartMs: number, orders: number): WindowResult {
  const cents = (n: number) => BigInt(n);
  return {
    partition,
    windowStartMs,
    windowEndMs: windowStartMs + 60_000,
    orders,
    revenueUsdCents: cents(250 * orders),
    items: orders,
    customers: orders,
    byCategory: {},
    byCountry: { US: { orders, revenueUsdCents: cents(250 * orders), items: orders } },
    final: true,
    emittedAtMs: windowStartMs + 60_000,
  };
}

/** (partition, window start, orders) of every stored `order_window` point. */
async function storedWindows(db: string): Promise<string[]> {
  const series = await influx.query('SELECT "orders" FROM "order_window" GROUP BY "partition"', db);
  return series.flatMap((s) => s.values.map((v) => `${s.tags!.partition}/${v[0]}: ${v[1]}`)).sort();
}

/** Resolves to "timeout" if `promise` has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  return Promise.race([promise, Bun.sleep(ms).then(() => "timeout" as const)]);
}

describe("the InfluxDB sink at the seams", () => {
  test("17.12 points the server refuses for good (beyond the retention policy) are dropped and counted, and the rest is written", async () => {
    await influx.query('CREATE DATABASE "seams_rp" WITH DURATION 1h');
    const lines: string[] = [];
    const sink = new InfluxSink({ api: "v1", url: influx.url, db: "seams_rp" }, { window: "1m", log: (line) => lines.push(line) });
    const now = Math.floor(Date.now() / 60_000) * 60_000;
    const twoDaysAgo = now - 2 * 86_400_000;
    // A replay of old windows next to current ones.
    await sink.write([result(0, twoDaysAgo, 3), result(0, now - 60_000, 5)]);
    expect(await within(sink.flush(), 20_000)).toBeUndefined();
    expect(sink.rejectedPoints).toBe(2); // the old window's point and its by-country point
    expect(lines.join("\n")).toMatch(/refused 2 of 4 points for good.*points beyond retention policy/);
    expect(await storedWindows("seams_rp")).toEqual([`0/${now - 60_000}: 5`]);
    await sink.close();
  }, 60_000);

  test("17.12 a permanent refusal (no such database) fails flush() with the server's answer instead of retrying forever", async () => {
    const sink = new InfluxSink({ api: "v1", url: influx.url, db: "seams_missing" }, { window: "1m" });
    await sink.write([result(0, Date.now(), 1)]);
    const outcome = await within(
      sink.flush().then(
        () => "resolved",
        (error: unknown) => error,
      ),
      20_000,
    );
    expect(outcome).toBeInstanceOf(InfluxWriteError);
    expect(String(outcome)).toMatch(/refused a write for good \(HTTP 404 .*database not found.*\); check the database/);
    await sink.close();
  }, 60_000);

  test("17.12 the aggregator stops with one clear line when InfluxDB refuses its writes for good", async () => {
    const topic = await uniqueTopic("seams-influx-permanent", 1);
    const conn = await testConnection("seams-influx-permanent");
    await produceSimulated(conn, topic, 500, { seed: 5, startMs: Date.now() - 3_600_000, ratePerS: 20 });
    const worker = startWorker("workers/aggregate.ts", ["--sink", "influx", "--checkpoint-interval", "1s"], {
      KAFKA_BROKERS: conn.brokers.join(","),
      ORDERS_TOPIC: topic,
      DLQ_TOPIC: `${topic}.dlq`,
      LATE_TOPIC: `${topic}.late`,
      AGGREGATE_GROUP: "seams-influx-permanent",
      INFLUX_URL: influx.url,
      INFLUX_API: "v1",
      INFLUX_DB: "seams_no_such_db",
    });
    expect(await within(worker.exited, 40_000)).toBe(1);
    const errors = worker.log().split("\n").filter((line) => line.startsWith("error:"));
    expect(errors).toEqual([expect.stringMatching(/refused a write for good \(HTTP 404 .*database not found/)]);
  }, 60_000);

  test("17.5 a revoked partition's queued results are dropped, so they cannot land after the new owner's", async () => {
    await influx.query("CREATE DATABASE seams_revoke");
    await influx.stop();
    try {
      const sink = new InfluxSink({ api: "v1", url: influx.url, db: "seams_revoke" }, { window: "1m", maxRetryDelayMs: 200 });
      const start = Math.floor(Date.now() / 60_000) * 60_000;
      await sink.write([result(0, start, 1), result(1, start, 7), result(2, start, 2)]);
      await sink.revoke([1]);
      await influx.start();
      expect(await within(sink.flush(), 20_000)).toBeUndefined();
      expect(sink.revokedLines).toBe(2);
      expect(await storedWindows("seams_revoke")).toEqual([`0/${start}: 1`, `2/${start}: 2`]);
      await sink.close();
    } finally {
      await influx.start();
    }
  }, 60_000);

  test("17.1 a stop while InfluxDB is away never saves a checkpoint past results it did not acknowledge", async () => {
    await influx.query("CREATE DATABASE seams_stop");
    const topic = await uniqueTopic("seams-influx-stop", 2);
    const conn = await testConnection("seams-influx-stop");
    await produceSimulated(conn, topic, 2_000, { seed: 6, startMs: Date.now() - 3_600_000, ratePerS: 5 });
    const env = {
      KAFKA_BROKERS: conn.brokers.join(","),
      ORDERS_TOPIC: topic,
      DLQ_TOPIC: `${topic}.dlq`,
      LATE_TOPIC: `${topic}.late`,
      AGGREGATE_GROUP: "seams-influx-stop",
      INFLUX_URL: influx.url,
      INFLUX_API: "v1",
      INFLUX_DB: "seams_stop",
    };
    await influx.stop();
    let first;
    try {
      first = startWorker("workers/aggregate.ts", ["--sink", "influx", "--checkpoint-interval", "500ms", "--idle-timeout", "1s", "--shutdown-timeout", "2s"], env);
      await first.waitForLog(/cannot write to InfluxDB 1\.x API/, 30_000);
      // Let a periodic checkpoint start waiting on the sink, then stop.
      await first.waitForLog(/records 2000:/, 30_000);
      first.kill("SIGTERM");
      expect(await within(first.exited, 30_000)).toBe(1);
      expect(first.log()).toMatch(/the last checkpoint did not finish within 2000 ms \(the sinks did not take the last results/);
    } finally {
      await influx.start();
    }
    // The restart resumes from a checkpoint that covers only acknowledged results, so every
    // window reaches InfluxDB with the oracle's numbers.
    const second = startWorker("workers/aggregate.ts", ["--sink", "influx", "--checkpoint-interval", "500ms", "--idle-timeout", "1s", "--exit-when-idle", "3s"], env);
    expect(await within(second.exited, 60_000)).toBe(0);
    const oracle = oracleForTopic(await readTopic(conn, topic), DEFAULT_AGGREGATOR_SETTINGS);
    const want = oracle.flatMap((p) => p.windows.map((w) => `${w.partition}/${w.windowStartMs}: ${w.orders}`)).sort();
    expect(want.length).toBeGreaterThan(10);
    expect(await storedWindows("seams_stop")).toEqual(want);
  }, 120_000);
});
