/**
 * Every panel of the provisioned dashboard, run as Grafana would run it — macros expanded by
 * lib/hot/grafana-influxql.ts, the interval Grafana would pick — against InfluxDB 1.6.7 holding what
 * the real aggregator wrote, and checked against numbers computed here from the aggregator's own
 * emissions and from the raw `pipeline` points.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { calculateIntervalMs, dashboardVariables, expandInfluxqlMacros, listPanelQueries, type PanelQuery } from "../lib/hot/grafana-influxql.ts";
import { windowResultLines } from "../lib/hot/influx-points.ts";
import type { WindowResult } from "../lib/window/window-aggregate.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { produceSimulated, readResults, repoRoot, startWorker } from "./support/pipeline-harness.ts";
import { InfluxDb1 } from "./support/timeseries.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-panels-test-"));
const influx = new InfluxDb1();
const DB = "panels";
let finals: WindowResult[] = [];
let range = { fromMs: 0, toMs: 0 };

beforeAll(async () => {
  await influx.start();
  await influx.query(`CREATE DATABASE ${DB}`);
  const topic = await uniqueTopic("panels", 3);
  const conn = await testConnection("panels");
  // 15 s of wall time, so the 10-second counter panels see at least two buckets per partition.
  const producing = produceSimulated(conn, topic, 15_000, {
    seed: 31,
    startMs: Date.now() - 2 * 3_600_000,
    ratePerS: 20,
    lateFraction: 0.05,
    outOfOrderFraction: 0.2,
    duplicateFraction: 0.02,
    malformedFraction: 0.02,
  }, { perSecond: 1_000 });
  const jsonl = join(scratch, "results.jsonl");
  const worker = startWorker(
    "workers/aggregate.ts",
    ["--sink", `jsonl:${jsonl},influx`, "--idle-timeout", "3s", "--exit-when-idle", "4s", "--emit-interval", "500ms", "--checkpoint-interval", "1s"],
    {
      KAFKA_BROKERS: conn.brokers.join(","),
      ORDERS_TOPIC: topic,
      DLQ_TOPIC: `${topic}.dlq`,
      LATE_TOPIC: `${topic}.late`,
      CHECKPOINT_DIR: join(scratch, "checkpoints"),
      AGGREGATE_GROUP: "panels",
      INFLUX_URL: influx.url,
      INFLUX_API: "v1",
      INFLUX_DB: DB,
    },
  );
  await producing;
  expect(await worker.exited).toBe(0);
  const last = new Map<string, WindowResult>();
  for (const r of await readResults(jsonl)) last.set(`${r.partition}/${r.windowStartMs}`, r);
  finals = [...last.values()];
  expect(finals.every((r) => r.final)).toBe(true);
  range = { fromMs: Math.min(...finals.map((r) => r.windowStartMs)) - 60_000, toMs: Date.now() + 60_000 };
}, 120_000);

afterAll(async () => {
  await influx[Symbol.asyncDispose]();
  rmSync(scratch, { recursive: true, force: true });
});

const dashboard = JSON.parse(readFileSync(join(repoRoot, "infra/grafana/dashboards/orderpulse.json"), "utf8"));
const queries = listPanelQueries(dashboard);
const panel = (id: number, refId = "A") => queries.find((q) => q.panelId === id && q.refId === refId)!;

/** Runs a panel query as Grafana would (1000 data points) and returns {series key → [[time, ...values]]}. */
async function runPanel(q: PanelQuery): Promise<{ intervalMs: number; series: Map<string, number[][]> }> {
  const intervalMs = calculateIntervalMs(range, { maxDataPoints: 1_000, ...(q.minInterval ? { minInterval: q.minInterval } : {}) });
  const expanded = expandInfluxqlMacros(q.query, { ...range, intervalMs, variables: dashboardVariables(dashboard) });
  expect(expanded).not.toContain("$");
  const series = new Map<string, number[][]>();
  for (const s of await influx.query(expanded, DB)) {
    series.set(Object.values(s.tags ?? {}).join(",") || s.name, s.values as number[][]);
  }
  return { intervalMs, series };
}

/** Expected per-window sums over partitions, keyed by window start. */
function sumByWindow(pick: (r: WindowResult) => Record<string, number>): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const r of finals) {
    for (const [key, value] of Object.entries(pick(r))) {
      const byTime = out.get(key) ?? new Map<number, number>();
      byTime.set(r.windowStartMs, (byTime.get(r.windowStartMs) ?? 0) + value);
      out.set(key, byTime);
    }
  }
  return out;
}

function expectSeries(actual: number[][] | undefined, expected: Map<number, number>, column = 1) {
  expect(actual).toBeDefined();
  const got = new Map(actual!.map((row) => [row[0]!, row[column]!]));
  expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [t, want] of expected) expect(got.get(t)!).toBeCloseTo(want, 6);
}

/** The targets that draw only the windows still open; every window here is final by now. */
const openTargets = (q: PanelQuery) => q.refId === "B" && q.query.includes(`"final" = false`);

test("every panel query runs on InfluxDB 1.6.7 and returns data", async () => {
  expect(queries.length).toBeGreaterThanOrEqual(15);
  for (const q of queries.filter((x) => !openTargets(x))) {
    const { series } = await runPanel(q);
    expect({ panel: q.title, refId: q.refId, series: series.size > 0 }).toEqual({ panel: q.title, refId: q.refId, series: true });
  }
}, 60_000);

test("revenue, orders and average order value per minute are the final windows' sums over partitions", async () => {
  const revenue = await runPanel(panel(1));
  expect(revenue.intervalMs).toBe(60_000);
  expectSeries(revenue.series.get("order_window"), sumByWindow((r) => ({ all: Number(r.revenueUsdCents) / 100 })).get("all")!);
  const orders = await runPanel(panel(2));
  expectSeries(orders.series.get("order_window"), sumByWindow((r) => ({ all: r.orders })).get("all")!);
  const aov = await runPanel(panel(3));
  const cents = sumByWindow((r) => ({ all: Number(r.revenueUsdCents) })).get("all")!;
  const count = sumByWindow((r) => ({ all: r.orders })).get("all")!;
  expectSeries(aov.series.get("order_window"), new Map([...cents].map(([t, c]) => [t, c / 100 / count.get(t)!])));
});

test("revenue by category and by country are the final windows' breakdowns summed over partitions", async () => {
  for (const [id, pick] of [
    [4, (r: WindowResult) => r.byCategory],
    [5, (r: WindowResult) => r.byCountry],
  ] as const) {
    const { series } = await runPanel(panel(id));
    const expected = sumByWindow((r) => Object.fromEntries(Object.entries(pick(r)).map(([k, v]) => [k, Number(v.revenueUsdCents) / 100])));
    expect([...series.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [key, byTime] of expected) expectSeries(series.get(key), byTime);
  }
});

/** The raw `pipeline` points per partition, ascending in time. */
async function pipelinePoints(field: string): Promise<Map<string, [number, number][]>> {
  const rows = await influx.query(`SELECT "${field}" FROM "pipeline" WHERE time >= ${range.fromMs}ms AND time <= ${range.toMs}ms GROUP BY "partition"`, DB);
  return new Map(rows.map((s) => [s.tags!.partition!, (s.values as [number, number][]).filter((v) => v[1] !== null)]));
}

/**
 * What `SELECT sum(x) FROM (SELECT non_negative_derivative(last(field), unit) ... GROUP BY time(i),
 * partition) GROUP BY time(i)` means, computed independently: per partition, the last value in
 * each bucket, the change per `unitMs` between consecutive non-empty buckets (negative changes
 * dropped), summed over partitions per bucket.
 */
function counterRate(points: Map<string, [number, number][]>, intervalMs: number, unitMs: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const list of points.values()) {
    const lastInBucket = new Map<number, number>();
    for (const [t, v] of list) lastInBucket.set(Math.floor(t / intervalMs) * intervalMs, v);
    const buckets = [...lastInBucket].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < buckets.length; i++) {
      const [t, v] = buckets[i]!;
      const [t0, v0] = buckets[i - 1]!;
      const rate = ((v - v0) * unitMs) / (t - t0);
      if (rate >= 0) out.set(t, (out.get(t) ?? 0) + rate);
    }
  }
  return out;
}

test("late, invalid and throughput panels are the per-partition counter rates summed", async () => {
  const lateInvalid = await runPanel(panel(6));
  expect(lateInvalid.intervalMs).toBe(10_000);
  expectSeries(lateInvalid.series.get("pipeline"), counterRate(await pipelinePoints("late"), 10_000, 60_000), 1);
  expectSeries(lateInvalid.series.get("pipeline"), counterRate(await pipelinePoints("invalid"), 10_000, 60_000), 2);
  const throughput = await runPanel(panel(8));
  const expected = counterRate(await pipelinePoints("events"), 10_000, 1_000);
  expectSeries(throughput.series.get("pipeline"), expected);
  expect(Math.max(...expected.values())).toBeGreaterThan(0);
});

test("watermark delay is the worst partition's, consumer lag the sum of each partition's last", async () => {
  const delay = await runPanel(panel(7, "A"));
  const delayPoints = await pipelinePoints("watermark_delay_ms");
  const maxByBucket = new Map<number, number>();
  for (const list of delayPoints.values()) {
    for (const [t, v] of list) {
      const bucket = Math.floor(t / 10_000) * 10_000;
      maxByBucket.set(bucket, Math.max(maxByBucket.get(bucket) ?? -Infinity, v));
    }
  }
  expectSeries(delay.series.get("pipeline"), maxByBucket);
  const lag = await runPanel(panel(7, "B"));
  const lagByBucket = new Map<number, number>();
  for (const list of (await pipelinePoints("consumer_lag")).values()) {
    const lastInBucket = new Map<number, number>();
    for (const [t, v] of list) lastInBucket.set(Math.floor(t / 10_000) * 10_000, v);
    for (const [t, v] of lastInBucket) lagByBucket.set(t, (lagByBucket.get(t) ?? 0) + v);
  }
  expectSeries(lag.series.get("pipeline"), lagByBucket);
});

test("every alert rule's query runs on InfluxDB 1.6.7 over its relative range and returns data", async () => {
  const alerting = Bun.YAML.parse(readFileSync(join(repoRoot, "infra/grafana/provisioning/alerting/orderpulse-alerts.yaml"), "utf8")) as {
    groups: { rules: { uid: string; data: { refId: string; datasourceUid: string; relativeTimeRange?: { from: number }; model: { query?: string } }[] }[] }[];
  };
  const steps = alerting.groups.flatMap((g) => g.rules.flatMap((r) => r.data.filter((d) => d.model.query !== undefined).map((d) => ({ uid: r.uid, ...d }))));
  expect(steps.length).toBeGreaterThanOrEqual(6);
  // The metrics points are written at wall-clock time; window results at their window's start.
  const newestWindowEndMs = Math.max(...finals.map((r) => r.windowEndMs));
  for (const step of steps) {
    const toMs = step.model.query!.includes('"order_window"') ? newestWindowEndMs : Date.now();
    const expanded = expandInfluxqlMacros(step.model.query!, { fromMs: toMs - step.relativeTimeRange!.from * 1000, toMs, intervalMs: 60_000 });
    expect(expanded).not.toContain("$");
    const rows = (await influx.query(expanded, DB)).flatMap((s) => s.values);
    expect({ uid: step.uid, refId: step.refId, rows: rows.length > 0 }).toEqual({ uid: step.uid, refId: step.refId, rows: true });
  }
});

test("the no-emissions rule's query counts the window results of its range, and returns nothing where there are none", async () => {
  const alerting = Bun.YAML.parse(readFileSync(join(repoRoot, "infra/grafana/provisioning/alerting/orderpulse-alerts.yaml"), "utf8")) as {
    groups: { rules: { uid: string; data: { model: { query?: string } }[] }[] }[];
  };
  const query = alerting.groups[0]!.rules.find((r) => r.uid === "orderpulse-no-emissions")!.data[0]!.model.query!;
  const newestWindowEndMs = Math.max(...finals.map((r) => r.windowEndMs));
  const count = async (toMs: number) =>
    (await influx.query(expandInfluxqlMacros(query, { fromMs: toMs - 300_000, toMs, intervalMs: 60_000 }), DB)).flatMap((s) => s.values).reduce((n, row) => n + Number(row[1]), 0);
  // Every partition's result of each window in the range: one point per partition and window.
  const inRange = finals.filter((r) => r.windowStartMs >= newestWindowEndMs - 300_000 && r.windowStartMs <= newestWindowEndMs).length;
  expect(await count(newestWindowEndMs)).toBe(inRange);
  // A quiet hour before the stream began: no results, so the rule fires (no data is alerting).
  expect(await count(Math.min(...finals.map((r) => r.windowStartMs)) - 3_600_000)).toBe(0);
});

test("the window variable's query lists the window tags the aggregator wrote", async () => {
  const variable = (dashboard.templating.list as { name: string; query: string }[]).find((v) => v.name === "window")!;
  const rows = (await influx.query(variable.query, DB)).flatMap((series) => series.values.map((row) => row[1]));
  expect(rows).toEqual(["1m"]);
});

test("the open-window series hold exactly the windows not yet final, and the all-windows series holds them too", async () => {
  // Every window of the run is final now: none is open.
  for (const id of [1, 2]) expect((await runPanel(panel(id, "B"))).series.size).toBe(0);
  // Two open results of partition 0 at a window of their own, written as the aggregator writes them, under a window tag of their own.
  const startMs = range.toMs - 30_000 - ((range.toMs - 30_000) % 60_000);
  const open = (partition: number, orders: number) => ({
    partition, windowStartMs: startMs, windowEndMs: startMs + 60_000, orders, revenueUsdCents: BigInt(orders) * 1_250n, items: orders, customers: orders,
    byCategory: {}, byCountry: {}, final: false, emittedAtMs: Date.now(),
  });
  const lines = [...windowResultLines(open(0, 3), "open-test"), ...windowResultLines(open(1, 4), "open-test")].join("\n");
  const written = await fetch(`${influx.url}/write?db=${DB}&precision=ms`, { method: "POST", body: lines });
  expect(written.status).toBe(204);
  const variables = { window: "open-test" };
  const run = async (q: PanelQuery) => {
    const expanded = expandInfluxqlMacros(q.query, { ...range, intervalMs: 60_000, variables });
    return (await influx.query(expanded, DB)).flatMap((series) => series.values as number[][]);
  };
  expect(await run(panel(1, "B"))).toEqual([[startMs, 7 * 12.5]]);
  expect(await run(panel(1, "A"))).toEqual([[startMs, 7 * 12.5]]);
  expect(await run(panel(2, "B"))).toEqual([[startMs, 7]]);
});

test("the KPI panels: revenue and orders summed over the windows, late and invalid as a share of the records read, from each partition's counters", async () => {
  const one = async (id: number) => {
    const { series } = await runPanel(panel(id));
    expect(series.size).toBe(1);
    const rows = [...series.values()][0]!;
    expect(rows.length).toBe(1);
    return rows[0]![1]!;
  };
  expect(await one(9)).toBeCloseTo(finals.reduce((n, r) => n + Number(r.revenueUsdCents), 0) / 100, 6);
  expect(await one(10)).toBe(finals.reduce((n, r) => n + r.orders, 0));
  // From the raw points: each partition's counter at its last point minus at its first in the range.
  const raw = await influx.query(`SELECT "late", "invalid", "events" FROM "pipeline" WHERE time >= ${range.fromMs}ms AND time <= ${range.toMs}ms GROUP BY "partition"`, DB);
  const spread = (column: string) =>
    raw.reduce((n, s) => {
      const i = s.columns.indexOf(column);
      const values = s.values.map((row) => Number(row[i]));
      return n + Math.max(...values) - Math.min(...values);
    }, 0);
  expect(spread("late")).toBeGreaterThan(0);
  expect(await one(11)).toBeCloseTo((spread("late") / spread("events")) * 100, 9);
  expect(await one(12)).toBeCloseTo((spread("invalid") / spread("events")) * 100, 9);
});
