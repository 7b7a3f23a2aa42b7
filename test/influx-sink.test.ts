/**
 * The hot path against real time-series servers: the aggregator (a real process, on a real
 * broker) writing through the InfluxDB 2.x API to VictoriaMetrics and through the 1.x API to
 * InfluxDB 1.6.7, including a 30-second outage of the server mid-run.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queryInfluxql, seriesRows } from "../lib/hot/influxql-client.ts";
import { InfluxSink } from "../lib/hot/influx-sink.ts";
import { DEFAULT_AGGREGATOR_SETTINGS } from "../lib/window/partition-aggregator.ts";
import { WindowAggregate } from "../lib/window/window-aggregate.ts";
import { centOrder, LARGEST_ORDER_USD_CENTS, largestOrder } from "./support/largest-order.ts";
import type { SimulatorOptions } from "../lib/event/simulator.ts";
import type { WindowResult } from "../lib/window/window-aggregate.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { checkResultsAgainstOracle, oracleForTopic, produceSimulated, readResults, readTopic, startWorker } from "./support/pipeline-harness.ts";
import { InfluxDb1, VictoriaMetrics } from "./support/timeseries.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-influx-test-"));
const vm = new VictoriaMetrics();
const influx = new InfluxDb1();
beforeAll(async () => {
  await Promise.all([vm.start(), influx.start()]);
}, 60_000);
afterAll(async () => {
  await vm[Symbol.asyncDispose]();
  await influx[Symbol.asyncDispose]();
  rmSync(scratch, { recursive: true, force: true });
});

function streamOptions(seed: number): SimulatorOptions {
  return {
    seed,
    startMs: Date.now() - 2 * 3_600_000,
    ratePerS: 20, // stream time: 4,800 records span 4 minutes
    lateFraction: 0.03,
    outOfOrderFraction: 0.2,
    duplicateFraction: 0.03,
    malformedFraction: 0.01,
  };
}

async function run(name: string, influxEnv: Record<string, string>, options: { count: number; perSecond?: number; seed: number; args?: string[] }) {
  const topic = await uniqueTopic(name, 3);
  const conn = await testConnection(name);
  const producing = produceSimulated(conn, topic, options.count, streamOptions(options.seed), options.perSecond ? { perSecond: options.perSecond } : {});
  const jsonl = join(scratch, `${name}.jsonl`);
  const worker = startWorker(
    "workers/aggregate.ts",
    ["--sink", `jsonl:${jsonl},influx`, "--idle-timeout", "3s", "--exit-when-idle", "4s", "--emit-interval", "200ms", "--checkpoint-interval", "1s", ...(options.args ?? [])],
    {
      KAFKA_BROKERS: conn.brokers.join(","),
      ORDERS_TOPIC: topic,
      DLQ_TOPIC: `${topic}.dlq`,
      LATE_TOPIC: `${topic}.late`,
      CHECKPOINT_DIR: join(scratch, name, "checkpoints"),
      AGGREGATE_GROUP: name,
      ...influxEnv,
    },
  );
  return { topic, conn, producing, worker, jsonl };
}

const FIELDS = ["orders", "revenue", "revenue_cents", "items", "customers", "final"] as const;

/** The samples one emission writes to `order_window`, as VictoriaMetrics names them. */
function windowSamples(r: WindowResult): string[] {
  const values: Record<(typeof FIELDS)[number], number> = {
    orders: r.orders,
    // VictoriaMetrics keeps every sample as a double: exact for the test's revenues, below 2^53.
    revenue: Number(r.revenueUsdCents) / 100,
    revenue_cents: Number(r.revenueUsdCents),
    items: r.items,
    customers: r.customers,
    final: r.final ? 1 : 0,
  };
  return FIELDS.map((f) => `order_window_${f}{partition="${r.partition}",window="1m"} ${r.windowStartMs} ${values[f]}`);
}

describe("InfluxDB sink", () => {
  test("2.x API into VictoriaMetrics: the stored samples are the aggregator's emissions, one for one", async () => {
    const r = await run("influx-v2-vm", { INFLUX_URL: vm.url, INFLUX_API: "v2", INFLUX_ORG: "shop", INFLUX_BUCKET: "orders", INFLUX_TOKEN: "test-token-3f9a" }, { count: 4_800, perSecond: 2_400, seed: 21 });
    await r.producing;
    expect(await r.worker.exited).toBe(0);
    expect(r.worker.log()).not.toContain("test-token-3f9a");

    const emitted = await readResults(r.jsonl);
    expect(emitted.filter((e) => !e.final).length).toBeGreaterThan(0); // updates as well as finals
    const expected = emitted.flatMap(windowSamples).sort();
    const stored = (await vm.export('{__name__=~"order_window_(orders|revenue|revenue_cents|items|customers|final)"}'))
      .flatMap((series) => {
        const { __name__: name, db: _db, ...labels } = series.metric;
        const labelText = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}="${v}"`).join(",");
        return series.timestamps.map((t, i) => `${name}{${labelText}} ${t} ${series.values[i]}`);
      })
      .sort();
    expect(stored).toEqual(expected);

    // Category and country breakdowns: one sample per emitted key and field.
    const categorySamples = (await vm.export('{__name__="order_window_by_category_revenue_cents"}')).reduce((n, s) => n + s.values.length, 0);
    expect(categorySamples).toBe(emitted.reduce((n, e) => n + Object.keys(e.byCategory).length, 0));
    // The worker's own metrics, per partition.
    const lag = await vm.export('{__name__="pipeline_consumer_lag"}');
    expect(lag.map((s) => s.metric.partition).sort()).toEqual(["0", "1", "2"]);
  }, 120_000);

  test("1.x API into InfluxDB 1.6.7: re-emitted windows overwrite, and the stored numbers are the final ones", async () => {
    await influx.query("CREATE DATABASE shop_v1");
    const r = await run("influx-v1", { INFLUX_URL: influx.url, INFLUX_API: "v1", INFLUX_DB: "shop_v1" }, { count: 4_800, perSecond: 2_400, seed: 22 });
    await r.producing;
    expect(await r.worker.exited).toBe(0);

    const emitted = await readResults(r.jsonl);
    const last = new Map(emitted.map((e) => [`${e.partition}/${e.windowStartMs}`, e]));
    expect(emitted.length).toBeGreaterThan(last.size); // windows were emitted more than once
    // Read as lib/hot/influxql-client.ts reads: revenue_cents exact (a bigint past 2^53), compared as a bigint.
    const v1 = { api: "v1", url: influx.url, db: "shop_v1" } as const;
    const stored = new Map<string, Record<string, unknown>>();
    for (const row of seriesRows(await queryInfluxql(v1, 'SELECT * FROM "order_window"'))) {
      stored.set(`${row.partition}/${row.time}`, { ...row, revenue_cents: BigInt(row.revenue_cents as number | bigint) });
    }
    expect(stored.size).toBe(last.size);
    for (const [key, e] of last) {
      expect({ key, ...stored.get(key) } as Record<string, unknown>).toEqual({
        key,
        time: e.windowStartMs,
        partition: String(e.partition),
        window: "1m",
        orders: e.orders,
        revenue: Number(e.revenueUsdCents) / 100,
        revenue_cents: e.revenueUsdCents,
        items: e.items,
        customers: e.customers,
        final: true,
      });
    }
    const byCountry = await queryInfluxql(v1, 'SELECT sum("revenue_cents") FROM "order_window_by_country" GROUP BY "partition"');
    const countryTotals = Object.fromEntries(byCountry.map((s) => [s.tags.partition, BigInt(s.values[0]![1] as number | bigint)]));
    const windowTotals: Record<string, bigint> = {};
    for (const e of last.values()) windowTotals[String(e.partition)] = (windowTotals[String(e.partition)] ?? 0n) + e.revenueUsdCents;
    expect(countryTotals).toEqual(windowTotals);
  }, 120_000);

  test("17.6 a window whose revenue is past 2^53 is stored in InfluxDB 1.6.7 and read back to the cent", async () => {
    await influx.query("CREATE DATABASE shop_big");
    const target = { api: "v1", url: influx.url, db: "shop_big" } as const;
    const windowStartMs = Date.UTC(2026, 10, 28, 10, 15);
    const window = new WindowAggregate(windowStartMs, windowStartMs + 60_000, 50);
    for (let i = 0; i < 100; i++) window.add(largestOrder(`big-${i}`, { country: i < 99 ? "GB" : "DE" }));
    window.add(centOrder("cent", 1, { country: "GB" }));
    const total = 100n * BigInt(LARGEST_ORDER_USD_CENTS) + 1n;
    const result = window.toResult(0, true, windowStartMs + 180_000);
    expect(result.revenueUsdCents).toBe(total);
    const sink = new InfluxSink(target, { window: "1m" });
    await sink.write([result]);
    await sink.flush();
    await sink.close();

    const [windowSeries] = await queryInfluxql(target, 'SELECT "revenue_cents", "revenue", "orders" FROM "order_window"');
    expect(windowSeries!.values).toEqual([[windowStartMs, total, Number(total) / 100, 101]]);
    const categories = await queryInfluxql(target, 'SELECT "revenue_cents" FROM "order_window_by_category" GROUP BY "category"');
    expect(Object.fromEntries(categories.map((s) => [s.tags.category, BigInt(s.values[0]![1] as number | bigint)]))).toEqual(
      Object.fromEntries(Object.entries(result.byCategory).map(([category, t]) => [category, t.revenueUsdCents])),
    );
    // The GB country total is past 2^53 as well; and InfluxDB's own sum over categories is exact.
    const [gb] = await queryInfluxql(target, `SELECT "revenue_cents" FROM "order_window_by_country" WHERE "country" = 'GB'`);
    expect(gb!.values[0]![1]).toBe(99n * BigInt(LARGEST_ORDER_USD_CENTS) + 1n);
    const [sum] = await queryInfluxql(target, 'SELECT sum("revenue_cents") FROM "order_window_by_category"');
    expect(sum!.values[0]![1]).toBe(total);
  });

  test("the server is down for 30 s mid-run: the stored final results still equal the oracle, nothing lost or doubled", async () => {
    await influx.query("CREATE DATABASE shop_outage");
    const r = await run("influx-outage", { INFLUX_URL: influx.url, INFLUX_API: "v1", INFLUX_DB: "shop_outage" }, { count: 9_600, perSecond: 200, seed: 23, args: ["--influx-buffer", "500"] });
    await r.worker.waitForLog(/assigned partitions/);
    await Bun.sleep(5_000);
    await influx.stop();
    await r.worker.waitForLog(/cannot write to InfluxDB 1\.x API/);
    await r.worker.waitForLog(/pausing all partitions: sink influx/);
    await Bun.sleep(30_000);
    await influx.start();
    await r.worker.waitForLog(/writing to InfluxDB 1\.x API .* again/);
    await r.producing;
    expect(await r.worker.exited).toBe(0);
    expect(r.worker.log()).toContain("resuming: the sinks have room again");

    const oracle = oracleForTopic(await readTopic(r.conn, r.topic), DEFAULT_AGGREGATOR_SETTINGS);
    expect(checkResultsAgainstOracle(await readResults(r.jsonl), oracle)).toEqual([]);
    const rows = await influx.query('SELECT "orders", "revenue_cents", "items", "customers", "final" FROM "order_window" GROUP BY "partition"', "shop_outage");
    const stored = rows.flatMap((s) => s.values.map((v) => `${s.tags!.partition}/${v[0]}: ${v.slice(1).join(" ")}`)).sort();
    const want = oracle.flatMap((p) => p.windows.map((w) => `${w.partition}/${w.windowStartMs}: ${w.orders} ${w.revenueUsdCents} ${w.items} ${w.customers} true`)).sort();
    expect(stored).toEqual(want);
  }, 180_000);
});
