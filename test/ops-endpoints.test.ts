/**
 * The workers' /metrics, /healthz and /readyz as operators use them, against real processes: a
 * real scraper (VictoriaMetrics, `-promscrape.config`) scrapes the aggregator and the lake writer
 * while they drain a seeded topic, and what it stored must equal what the topic holds, counted
 * here by the validator and the test oracle; a SIGSTOPped aggregator fails a probe with a
 * timeout, as compose's does; an aggregator whose InfluxDB is down stops fetching and answers
 * /readyz with 503 and the reason after its stall time, and 200 again once InfluxDB is back; the
 * producer and the compactor report what they did while they run.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateLakeEvent } from "../lib/lake/schema.ts";
import { DEFAULT_AGGREGATOR_SETTINGS } from "../lib/window/partition-aggregator.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { oracleForTopic, produceSimulated, readTopic, startWorker, type WorkerProcess } from "./support/pipeline-harness.ts";
import { InfluxDb1, VictoriaMetrics } from "./support/timeseries.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-ops-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Waits for the worker's "metrics at URL/metrics" line; the worker was given port 0. */
async function metricsUrl(worker: WorkerProcess): Promise<string> {
  await worker.waitForLog(/metrics at http:\/\/\S+\/metrics/);
  return /metrics at (http:\/\/\S+)\/metrics/.exec(worker.log())![1]!;
}

/** One sample's value from a /metrics text, or undefined. */
function sampleOf(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const got = await probe();
      if (got !== undefined) return got;
    } catch (error) {
      last = error;
    }
    await Bun.sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** A probe as a health check runs it: one GET with a timeout; the status, or "timeout". */
async function probe(url: string, timeoutMs = 1_000): Promise<number | "timeout"> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })).status;
  } catch {
    return "timeout";
  }
}

/** An aggregator's environment on `topic`, its state in files under the scratch directory. */
function aggregatorEnv(conn: { brokers: string[] }, topic: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    KAFKA_BROKERS: conn.brokers.join(","),
    ORDERS_TOPIC: topic,
    DLQ_TOPIC: `${topic}.dlq`,
    LATE_TOPIC: `${topic}.late`,
    STATE_STORE: "file",
    CHECKPOINT_DIR: join(scratch, "checkpoints"),
    AGGREGATE_GROUP: `${topic}-agg`,
    ...extra,
  };
}

function recentStream(seed: number) {
  return {
    seed,
    startMs: Date.now() - 2 * 3_600_000,
    ratePerS: 1,
    dailyCurve: false,
    lateFraction: 0.05,
    outOfOrderFraction: 0.2,
    duplicateFraction: 0.02,
    malformedFraction: 0.03,
  };
}

test("VictoriaMetrics scrapes the aggregator's and the lake writer's /metrics, and stores exactly what they processed", async () => {
  const topic = await uniqueTopic("ops-scrape", 3);
  const conn = await testConnection("ops-scrape");
  await produceSimulated(conn, topic, 3_000, recentStream(31));
  const aggregator = startWorker("workers/aggregate.ts", ["--sink", `jsonl:${join(scratch, `${topic}.jsonl`)}`, "--metrics-port", "0"], aggregatorEnv(conn, topic));
  const lakeWriter = startWorker("workers/lake-writer.ts", ["--flush-interval", "1s", "--metrics-port", "0"], {
    KAFKA_BROKERS: conn.brokers.join(","),
    ORDERS_TOPIC: topic,
    LAKE_URI: join(scratch, `${topic}-lake`),
    LAKE_GROUP: `${topic}-lake`,
  });
  try {
    const targets = { aggregate: await metricsUrl(aggregator), "lake-writer": await metricsUrl(lakeWriter) };
    const config = join(scratch, "scrape.yaml");
    writeFileSync(
      config,
      `global:\n  scrape_interval: 1s\nscrape_configs:\n` +
        Object.entries(targets)
          .map(([job, url]) => `  - job_name: ${job}\n    static_configs:\n      - targets: ["${new URL(url).host}"]\n`)
          .join(""),
    );
    await using vm = new VictoriaMetrics({ scrapeConfig: config });
    await vm.start();

    // What the topic holds, counted here: the validator for the lake, the oracle for the windows.
    const records = await readTopic(conn, topic);
    let total = 0;
    let valid = 0;
    for (const list of records.values()) {
      total += list.length;
      for (const r of list) if (validateLakeEvent(r.value).ok) valid += 1;
    }
    const oracle = { counted: 0, late: 0, duplicates: 0 };
    for (const p of oracleForTopic(records, DEFAULT_AGGREGATOR_SETTINGS)) {
      oracle.counted += p.counted;
      oracle.late += p.late;
      oracle.duplicates += p.duplicates;
    }
    const expected = {
      'orderpulse_records_read_total{job="aggregate"}': total,
      'orderpulse_events_total{job="aggregate",outcome="counted"}': oracle.counted,
      'orderpulse_events_total{job="aggregate",outcome="late"}': oracle.late,
      'orderpulse_events_total{job="aggregate",outcome="duplicate"}': oracle.duplicates,
      'orderpulse_events_total{job="aggregate",outcome="invalid"}': total - oracle.counted - oracle.late - oracle.duplicates,
      'orderpulse_assigned_partitions{job="aggregate"}': 3,
      'orderpulse_records_read_total{job="lake-writer"}': total,
      'orderpulse_lake_rows_total{job="lake-writer",outcome="valid"}': valid,
      'orderpulse_lake_rows_total{job="lake-writer",outcome="invalid"}': total - valid,
      'orderpulse_assigned_partitions{job="lake-writer"}': 3,
    };
    expect(expected['orderpulse_events_total{job="aggregate",outcome="late"}']).toBeGreaterThan(0);
    expect(expected['orderpulse_events_total{job="aggregate",outcome="invalid"}']).toBeGreaterThan(0);

    // The newest stored sample of each series, once every one equals what the topic holds.
    const latest = async (selector: string) => {
      const series = await vm.export(selector);
      if (series.length !== 1) return undefined;
      const { values, timestamps } = series[0]!;
      return values[timestamps.indexOf(Math.max(...timestamps))];
    };
    const stored = await until("the scraped values to reach the topic's counts", async () => {
      const got: Record<string, number | undefined> = {};
      for (const selector of Object.keys(expected)) got[selector] = await latest(selector);
      return Object.entries(expected).every(([k, v]) => got[k] === v) ? got : undefined;
    }).catch(async (error) => {
      const got: Record<string, number | undefined> = {};
      for (const selector of Object.keys(expected)) got[selector] = await latest(selector);
      expect(got).toEqual(expected);
      throw error;
    });
    expect(stored).toEqual(expected);

    // The per-partition lag, the process gauges and the latency histogram are scraped too; the
    // commit age once the lake writer committed (its rows count when read, before the commit).
    const gauges = [
      'orderpulse_consumer_lag_records{job="aggregate",partition="0"}',
      'orderpulse_consumer_lag_records{job="lake-writer",partition="2"}',
      'orderpulse_process_resident_memory_bytes{job="lake-writer"}',
      'orderpulse_event_loop_delay_seconds{job="aggregate"}',
      'orderpulse_emission_latency_seconds_count{job="aggregate"}',
      'orderpulse_lake_commit_age_seconds{job="lake-writer"}',
    ];
    const seriesOf = async () => Object.fromEntries(await Promise.all(gauges.map(async (g) => [g, (await vm.export(g)).length] as const)));
    await until("every gauge and the histogram to be scraped", async () => (Object.values(await seriesOf()).every((n) => n === 1) ? true : undefined)).catch(async () => {
      expect(await seriesOf()).toEqual(Object.fromEntries(gauges.map((g) => [g, 1])));
    });
    // Caught up: lag 0 at a fetch after the last record; sampled latencies by then.
    const settled = async () => ({
      lag: await latest('orderpulse_consumer_lag_records{job="aggregate",partition="0"}'),
      latencySamples: ((await latest('orderpulse_emission_latency_seconds_count{job="aggregate"}')) ?? 0) > 0,
    });
    await until("the aggregator's lag to be scraped at 0, with sampled latencies", async () => {
      const now = await settled();
      return now.lag === 0 && now.latencySamples ? true : undefined;
    }).catch(async () => expect(await settled()).toEqual({ lag: 0, latencySamples: true }));

    // Both answer their probes: alive and ready (caught up, lag 0).
    for (const url of Object.values(targets)) {
      expect({ url, healthz: await probe(`${url}/healthz`), readyz: await probe(`${url}/readyz`) }).toEqual({ url, healthz: 200, readyz: 200 });
    }
    const unknown = await fetch(`${targets.aggregate}/nope`);
    expect({ status: unknown.status, body: await unknown.text() }).toEqual({ status: 404, body: "not found: GET /metrics (Prometheus text format), /healthz (liveness), /readyz (readiness)\n" });
  } finally {
    aggregator.kill();
    lakeWriter.kill();
    await Promise.all([aggregator.exited, lakeWriter.exited]);
  }
}, 120_000);

test("a SIGSTOPped aggregator fails its readiness probe at once (a timeout), and is ready again after SIGCONT", async () => {
  const topic = await uniqueTopic("ops-sigstop", 2);
  const conn = await testConnection("ops-sigstop");
  await produceSimulated(conn, topic, 200, recentStream(32));
  const producing = new AbortController();
  const aggregator = startWorker("workers/aggregate.ts", ["--sink", `jsonl:${join(scratch, `${topic}.jsonl`)}`, "--metrics-port", "0"], aggregatorEnv(conn, topic, { READY_STALL_TIMEOUT: "3s" }));
  let produced: Promise<void> | undefined;
  try {
    const url = await metricsUrl(aggregator);
    await until("/readyz to answer 200", async () => ((await probe(`${url}/readyz`)) === 200 ? true : undefined));
    // Records keep coming while it is stopped: lag that nothing processes.
    produced = produceSimulated(conn, topic, 1_000_000, { ...recentStream(33), startMs: Date.now() - 60_000 }, { perSecond: 100, signal: producing.signal });
    aggregator.kill("SIGSTOP");
    // The first probe after the stop: no answer within a health check's timeout, so the check fails.
    expect(await probe(`${url}/readyz`)).toBe("timeout");
    expect(await probe(`${url}/healthz`)).toBe("timeout");
    aggregator.kill("SIGCONT");
    const before = sampleOf(await (await fetch(`${url}/metrics`)).text(), "orderpulse_records_read_total")!;
    await until("the aggregator to process again and answer 200", async () => {
      const read = sampleOf(await (await fetch(`${url}/metrics`)).text(), "orderpulse_records_read_total")!;
      return read > before && (await probe(`${url}/readyz`)) === 200 ? true : undefined;
    });
  } finally {
    producing.abort();
    await produced;
    aggregator.kill("SIGCONT");
    aggregator.kill();
    await aggregator.exited;
  }
}, 90_000);

test("an aggregator whose InfluxDB is down stops fetching and answers /readyz 503 with the reason after its stall time, and 200 when InfluxDB is back", async () => {
  await using influx = new InfluxDb1();
  await influx.start();
  await influx.query("CREATE DATABASE ops");
  const topic = await uniqueTopic("ops-stall", 2);
  const conn = await testConnection("ops-stall");
  const producing = new AbortController();
  const produced = produceSimulated(conn, topic, 1_000_000, { ...recentStream(34), startMs: Date.now() - 60_000 }, { perSecond: 200, signal: producing.signal });
  const aggregator = startWorker(
    "workers/aggregate.ts",
    ["--sink", "influx", "--influx-buffer", "100", "--emit-interval", "200ms", "--metrics-port", "0"],
    aggregatorEnv(conn, topic, { READY_STALL_TIMEOUT: "3s", INFLUX_URL: influx.url, INFLUX_API: "v1", INFLUX_DB: "ops" }),
  );
  try {
    const url = await metricsUrl(aggregator);
    await until("/readyz to answer 200", async () => ((await probe(`${url}/readyz`)) === 200 ? true : undefined));
    await influx.stop();
    const stoppedAt = Date.now();
    const answer = await until("/readyz to answer 503", async () => {
      const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
      return response.status === 503 ? ((await response.json()) as { status: string; reason: string }) : undefined;
    });
    const tookMs = Date.now() - stoppedAt;
    expect(answer.status).toBe("not ready");
    expect(answer.reason).toMatch(/^no fetch answered for \d+\.\d s$/);
    // Within the stall time after the buffer filled, and a little for the timers.
    expect(tookMs).toBeLessThan(15_000);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const buffered = /^orderpulse_sink_buffered_lines\{sink="influx:[^"]*"\} (\d+)$/m.exec(metrics);
    expect({ buffered: Number(buffered?.[1]) >= 100, metrics: buffered ? "" : metrics }).toEqual({ buffered: true, metrics: "" });
    expect(Number(/^orderpulse_sink_failed_writes_total\{sink="influx:[^"]*"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    await influx.start();
    await until("/readyz to answer 200 again", async () => ((await probe(`${url}/readyz`)) === 200 ? true : undefined));
  } finally {
    producing.abort();
    await produced;
    aggregator.kill();
    await aggregator.exited;
  }
}, 120_000);

test("the producer and the compactor serve /metrics and /readyz too: records acknowledged by kind, passes finished", async () => {
  const topic = await uniqueTopic("ops-produce", 2);
  const conn = await testConnection("ops-produce");
  const lakeDir = join(scratch, `${topic}-lake`);
  const producer = startWorker("workers/produce.ts", ["--rate", "200", "--count", "1000000", "--malformed-fraction", "0.1", "--seed", "35", "--metrics-port", "0", "--progress-every", "1s"], {
    KAFKA_BROKERS: conn.brokers.join(","),
    ORDERS_TOPIC: topic,
  });
  const lakeWriter = startWorker("workers/lake-writer.ts", ["--flush-interval", "500ms"], { KAFKA_BROKERS: conn.brokers.join(","), ORDERS_TOPIC: topic, LAKE_URI: lakeDir, LAKE_GROUP: `${topic}-lake` });
  const compactor = startWorker("workers/compact.ts", ["--interval", "1s", "--close-after", "0s", "--metrics-port", "0"], { LAKE_URI: lakeDir });
  try {
    const producerUrl = await metricsUrl(producer);
    const compactorUrl = await metricsUrl(compactor);
    const kinds = (text: string) =>
      Object.fromEntries([...text.matchAll(/^orderpulse_produced_records_total\{kind="(\w+)"\} (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
    const seen = await until("the producer to report valid and malformed records acknowledged", async () => {
      const k = kinds(await (await fetch(`${producerUrl}/metrics`)).text());
      return k.valid! > 100 && k.malformed! > 0 ? k : undefined;
    });
    expect(Object.keys(seen).sort()).toEqual(["duplicate", "late", "malformed", "valid"]);
    expect(await probe(`${producerUrl}/readyz`)).toBe(200);
    const passes = await until("the compactor to finish a pass that merged files", async () => {
      const text = await (await fetch(`${compactorUrl}/metrics`)).text();
      const ok = sampleOf(text, 'orderpulse_compaction_passes_total{result="ok"}')!;
      return ok > 0 && sampleOf(text, "orderpulse_compaction_merges_total")! > 0 ? ok : undefined;
    });
    expect(passes).toBeGreaterThan(0);
    expect(await probe(`${compactorUrl}/readyz`)).toBe(200);
  } finally {
    for (const w of [producer, lakeWriter, compactor]) w.kill();
    await Promise.all([producer.exited, lakeWriter.exited, compactor.exited]);
  }
}, 90_000);
