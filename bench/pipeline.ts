/**
 * The benchmark of issue 9 in one command: the pipeline against Spark Structured Streaming and
 * against the machine's limit, measured in the same run, one step after the other.
 *
 *   bun run bench/pipeline.ts [--events 5000000] [--partitions 12] [--rate 20000] [--latency-duration 60s] [--skip-spark] [--pairs 3] [--live 20000]
 *
 * 1. raw limit: the fastest plain consume of the topic with our Kafka client, and TextDecoder +
 *    JSON.parse alone over the same bytes (a 500,000-record sample held in memory);
 * 2. our aggregator: backlog drain with one worker and with two, CPU % and peak RSS; latency
 *    (created_at to emission) at a steady `--rate`;
 * 3. the baseline, the original design: bench/baseline-spark (PySpark, local[2]), drain and latency;
 * 4. the lake writer against the aggregator on the same topic: `--pairs` pairs of drains, the
 *    aggregator's (one worker) and bench/lake.ts --topic's (the writer, then the compactor), in
 *    alternating order (A W, W A, A W, …), so that a machine whose speed drifts during the run
 *    weighs on both alike; the figures are medians, the ratio the median of the pairs' ratios;
 * 5. with `--live R`: the aggregator on live traffic at R events/s until its state plateaus, then
 *    SIGKILLed and restarted (bench/aggregate-live.ts).
 * Writes a markdown table to bench/results/pipeline-<date>.md and prints it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseDurationMs } from "../lib/runtime/config.ts";
import { GroupFetcher } from "../lib/kafka/group-fetcher.ts";
import { createConsumer, ensureTopics, type KafkaConnection } from "../lib/kafka/client.ts";
import { kafkaVersion, LocalBroker } from "../lib/kafka/local-broker.ts";
import { runSparkBaseline, type SparkDrainResult, type SparkLatencyResult } from "./baseline-spark/run.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    events: { type: "string", default: "5000000" },
    partitions: { type: "string", default: "12" },
    rate: { type: "string", default: "20000" },
    "latency-duration": { type: "string", default: "60s" },
    "skip-spark": { type: "boolean", default: false },
    /** Pairs of drains, aggregator and lake writer, that step 4 alternates (at least 1). */
    pairs: { type: "string", default: "3" },
    /** Also run bench/aggregate-live.ts at this rate (events/s): live traffic until the state plateaus, a SIGKILL, a restart (about 9 minutes). */
    live: { type: "string" },
  },
});
const events = Number(values.events);
const partitions = Number(values.partitions);
const rate = Number(values.rate);
const latencySeconds = parseDurationMs(values["latency-duration"]!) / 1000;
const pairs = Number(values.pairs);
if (!Number.isInteger(pairs) || pairs < 1) {
  console.error(`bench/pipeline.ts: --pairs must be a whole number of at least 1: got ${values.pairs}`);
  process.exit(2);
}
const repoRoot = resolve(import.meta.dirname, "..");
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-bench-pipeline-"));
const say = (line: string) => console.error(`[bench] ${line}`);
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const median = (list: number[]) => {
  const sorted = list.toSorted((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

interface Row {
  what: string;
  figure: string;
  note?: string;
}
const rows: Row[] = [];
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");

/** Runs a Bun script to completion; returns its stderr (and stdout), throwing with the tail on failure. */
async function runScript(args: string[], env: Record<string, string>): Promise<{ out: string; err: string; pid: number; cpuS: number; wallS: number }> {
  const started = performance.now();
  const child = Bun.spawn([process.execPath, "run", ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (code !== 0) throw new Error(`${args.join(" ")} failed (${code}):\n${err.slice(-3000)}`);
  const usage = child.resourceUsage();
  const cpuS = usage ? Number(usage.cpuTime.user + usage.cpuTime.system) / 1e6 : NaN;
  return { out, err, pid: child.pid, cpuS, wallS: (performance.now() - started) / 1000 };
}

const DRAIN = /drain: (\d+) records in ([\d.]+) s from first to last = (\d+) records\/s; peak rss (\d+) MB; first at (\S+), last at (\S+)/;

const broker = new LocalBroker({ heap: "1g", onProgress: say });
try {
  await broker.start();
  const conn: KafkaConnection = broker.connection("bench");
  const topic = `bench-${Date.now()}`;
  await ensureTopics(conn, [{ name: topic, partitions }]);
  const kafkaEnv = { KAFKA_BROKERS: broker.bootstrap, ORDERS_TOPIC: topic };

  // The fixed seeded stream: starts far enough back that all of it is within the validator's day.
  const streamStart = new Date(Date.now() - (events / 1000) * 1000 - 3_600_000).toISOString();
  say(`loading ${fmt(events)} events (seed 1) into ${topic} (${partitions} partitions); load ${load()}`);
  const loaded = await runScript(
    ["workers/produce.ts", "--max", "--seed", "1", "--start", streamStart, "--count", String(events), "--late-fraction", "0.02", "--out-of-order", "0.2", "--duplicate-fraction", "0.01", "--malformed-fraction", "0.005", "--progress-every", "30s"],
    kafkaEnv,
  );
  say(`loaded in ${loaded.wallS.toFixed(1)} s`);

  // 1. The raw limit.
  say(`raw consume; load ${load()}`);
  const consumer = createConsumer(conn, { role: "bench-raw", groupId: `bench-raw-${topic}` });
  const fetcher = new GroupFetcher(consumer, topic);
  await fetcher.join({ sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 });
  const positions = new Map<number, bigint>(fetcher.assigned().map((p) => [p, 0n]));
  const sample: Buffer[] = [];
  let read = 0;
  let bytes = 0;
  const rawStart = performance.now();
  while (read < events) {
    const fetched = await fetcher.fetchOnce(positions, (_p, _o, _k, value) => {
      read += 1;
      bytes += value?.length ?? 0;
      if (sample.length < 500_000 && value) sample.push(value);
    });
    for (const [p, next] of fetched.nextPositions) positions.set(p, next);
    if (fetched.records === 0 && [...fetched.highWatermarks].every(([p, hw]) => positions.get(p)! >= hw)) break;
  }
  const rawS = (performance.now() - rawStart) / 1000;
  await consumer.close(true);
  const rawRate = read / rawS;
  rows.push({ what: "raw consume (our Kafka client, fetch only)", figure: `${fmt(rawRate)} events/s, ${(bytes / rawS / 1e6).toFixed(1)} MB/s`, note: `${fmt(read)} events, ${(bytes / 1e6).toFixed(0)} MB` });
  const decoder = new TextDecoder();
  const parseStart = performance.now();
  let unparsable = 0;
  for (const value of sample) {
    try {
      JSON.parse(decoder.decode(value));
    } catch {
      unparsable += 1; // the stream's malformed share
    }
  }
  const parseRate = sample.length / ((performance.now() - parseStart) / 1000);
  rows.push({ what: "TextDecoder + JSON.parse alone", figure: `${fmt(parseRate)} events/s`, note: `${fmt(sample.length)}-record sample (${fmt(unparsable)} not JSON)` });
  sample.length = 0;

  // 2. The aggregator: one worker, then two.
  let drainRuns = 0;
  const drainRun = async (workers: number) => {
    say(`aggregator drain with ${workers} worker(s); load ${load()}`);
    // A group of its own each time: a group that drained the topic before would resume at its end.
    const group = `bench-agg${workers}-${++drainRuns}-${topic}`;
    const runs = await Promise.all(
      Array.from({ length: workers }, (_, i) =>
        runScript(["workers/aggregate.ts", "--sink", `jsonl:${join(scratch, `${group}-${i}.jsonl`)}`, "--exit-when-idle", "3s", "--idle-timeout", "2s"], {
          ...kafkaEnv,
          CHECKPOINT_DIR: join(scratch, `${group}-checkpoints`),
          AGGREGATE_GROUP: group,
        }),
      ),
    );
    const drains = runs.map((r) => DRAIN.exec(r.err));
    if (drains.some((d) => !d)) throw new Error(`no drain line:\n${runs.map((r) => r.err.slice(-1500)).join("\n")}`);
    const records = drains.reduce((n, d) => n + Number(d![1]), 0);
    const first = Math.min(...drains.map((d) => Date.parse(d![5]!)));
    const last = Math.max(...drains.map((d) => Date.parse(d![6]!)));
    const cpuS = runs.reduce((n, r) => n + r.cpuS, 0);
    const wallS = Math.max(...runs.map((r) => r.wallS));
    return {
      rate: records / ((last - first) / 1000),
      records,
      peakRssMb: Math.max(...drains.map((d) => Number(d![4]))),
      cpuPercent: (cpuS / wallS) * 100,
      perWorker: drains.map((d) => Number(d![3])),
    };
  };
  const one = await drainRun(1);
  rows.push({ what: "aggregator drain, 1 worker", figure: `${fmt(one.rate)} events/s`, note: `CPU ${one.cpuPercent.toFixed(0)} % (whole run, incl. start and idle exit), peak RSS ${one.peakRssMb} MB` });
  const two = await drainRun(2);
  rows.push({ what: "aggregator drain, 2 workers", figure: `${fmt(two.rate)} events/s`, note: `per worker ${two.perWorker.map(fmt).join(" + ")}; peak RSS ${two.peakRssMb} MB; Singles' Day 2020 peak: 583,000 orders/s` });

  say(`aggregator latency at ${fmt(rate)} events/s; load ${load()}`);
  const latency = await runScript(["bench/aggregate-latency.ts", "--rate", String(rate), "--duration", `${latencySeconds}s`], { KAFKA_BROKERS: broker.bootstrap });
  const lat = /at ([\d,]+) events\/s .*: p50 (\d+) ms, p99 (\d+) ms, max (\d+) ms over (\d+)/.exec(latency.out);
  if (!lat) throw new Error(`no latency line:\n${latency.out}\n${latency.err.slice(-2000)}`);
  rows.push({ what: `aggregator latency, created_at → emission, at ${lat[1]} events/s`, figure: `p50 ${lat[2]} ms, p99 ${lat[3]} ms`, note: `max ${lat[4]} ms over ${lat[5]} sampled events; emit interval 1 s` });

  // 3. Spark.
  let sparkDrain: SparkDrainResult | undefined;
  let sparkLatency: SparkLatencyResult | undefined;
  if (!values["skip-spark"]) {
    say(`Spark drain; load ${load()}`);
    sparkDrain = (await runSparkBaseline("drain", { brokers: broker.bootstrap, topic, onProgress: say })) as SparkDrainResult;
    rows.push({ what: "Spark Structured Streaming drain (local[2])", figure: `${fmt(sparkDrain.events_per_s)} events/s`, note: `${fmt(sparkDrain.events)} events in ${sparkDrain.seconds.toFixed(1)} s` });
    say(`Spark latency at ${fmt(rate)} events/s; load ${load()}`);
    const latencyTopic = `bench-spark-latency-${Date.now()}`;
    await ensureTopics(conn, [{ name: latencyTopic, partitions }]);
    let producing: Promise<unknown> | undefined;
    sparkLatency = (await runSparkBaseline("latency", {
      brokers: broker.bootstrap,
      topic: latencyTopic,
      durationS: latencySeconds,
      onProgress: say,
      onReady: () => {
        producing = runScript(["workers/produce.ts", "--rate", String(rate), "--flat", "--duration", `${latencySeconds + 15}s`, "--progress-every", "1h"], { KAFKA_BROKERS: broker.bootstrap, ORDERS_TOPIC: latencyTopic });
      },
    })) as SparkLatencyResult;
    await producing;
    rows.push({ what: `Spark latency, created_at → emission, at ${fmt(rate)} events/s`, figure: `p50 ${fmt(sparkLatency.p50_ms)} ms, p99 ${fmt(sparkLatency.p99_ms)} ms`, note: `micro-batch p50 ${fmt(sparkLatency.batch_ms_p50)} ms; see bench/baseline-spark/README.md` });
  }

  // 4. The lake writer beside the aggregator, alternated.
  const lakeRun = async () => {
    say(`lake writer and compactor; load ${load()}`);
    // The same topic the aggregator drained: the same events, side by side.
    // Kept in this run's scratch directory, removed with it at the end (see bench/lake.ts on --keep).
    const lake = await runScript(["bench/lake.ts", "--topic", topic, "--keep"], { KAFKA_BROKERS: broker.bootstrap, TMPDIR: scratch });
    const writer = /lake writer: ([\d,]+) records in ([\d.]+) s = ([\d,]+) records\/s/.exec(lake.out);
    const compaction = /compaction: .* = ([\d.]+) MB\/s/.exec(lake.out);
    const perEvent = /after the writer: .* ([\d.]+) bytes per event/.exec(lake.out);
    if (!writer || !compaction || !perEvent) throw new Error(`bench/lake.ts printed no writer, compaction or size line:\n${lake.out}`);
    return { rate: Number(writer[3]!.replaceAll(",", "")), compactionMBs: Number(compaction[1]), bytesPerEvent: Number(perEvent[1]) };
  };
  const aggregatorRates: number[] = [];
  const lakeRuns: Awaited<ReturnType<typeof lakeRun>>[] = [];
  for (let pair = 0; pair < pairs; pair++) {
    say(`pair ${pair + 1} of ${pairs}: ${pair % 2 === 0 ? "aggregator, then lake writer" : "lake writer, then aggregator"}`);
    const aggregator = async () => aggregatorRates.push((await drainRun(1)).rate);
    const lake = async () => lakeRuns.push(await lakeRun());
    if (pair % 2 === 0) {
      await aggregator();
      await lake();
    } else {
      await lake();
      await aggregator();
    }
  }
  const pairRatios = lakeRuns.map((l, i) => (l.rate / aggregatorRates[i]!) * 100);
  const list = (xs: number[], f: (x: number) => string) => xs.map(f).join(" · ");
  rows.push({ what: `aggregator drain, 1 worker, beside the lake writer (median of ${pairs})`, figure: `${fmt(median(aggregatorRates))} events/s`, note: `runs: ${list(aggregatorRates, fmt)}` });
  rows.push({
    what: `lake writer (median of ${pairs})`,
    figure: `${fmt(median(lakeRuns.map((l) => l.rate)))} events/s`,
    note: `runs: ${list(lakeRuns.map((l) => l.rate), fmt)}; ${median(lakeRuns.map((l) => l.bytesPerEvent)).toFixed(1)} bytes per event on disk`,
  });
  rows.push({ what: `compactor (median of ${pairs})`, figure: `${median(lakeRuns.map((l) => l.compactionMBs)).toFixed(1)} MB/s (input)`, note: `runs: ${list(lakeRuns.map((l) => l.compactionMBs), (x) => x.toFixed(1))}` });

  if (values.live) {
    say(`aggregator live at ${fmt(Number(values.live))} events/s until its state plateaus (about 9 minutes); load ${load()}`);
    const live = await runScript(["bench/aggregate-live.ts", "--rate", values.live], { KAFKA_BROKERS: broker.bootstrap });
    for (const m of live.out.matchAll(/^\| (.+?) \| (.+?) \|$/gm)) {
      if (m[1] !== "measure" && !m[1]!.startsWith("---")) rows.push({ what: `live at ${fmt(Number(values.live))} events/s: ${m[1]}`, figure: m[2]! });
    }
  }

  // Ratios.
  const ratios: Row[] = [
    { what: "aggregator (1 worker) / raw consume", figure: `${((one.rate / rawRate) * 100).toFixed(0)} %`, note: "target ≥ 50 %" },
    { what: "aggregator (1 worker) / TextDecoder + JSON.parse", figure: `${((one.rate / parseRate) * 100).toFixed(0)} %` },
    {
      what: `lake writer / aggregator (1 worker), median of ${pairs} alternated pairs`,
      figure: `${median(pairRatios).toFixed(0)} %`,
      note: `target ≥ 100 %; pairs: ${list(pairRatios, (r) => `${r.toFixed(0)} %`)}`,
    },
    { what: "compactor / 50 MB/s", figure: `${((median(lakeRuns.map((l) => l.compactionMBs)) / 50) * 100).toFixed(0)} %`, note: "target ≥ 100 %" },
  ];
  if (sparkDrain) ratios.push({ what: "aggregator drain / Spark drain", figure: `${(one.rate / sparkDrain.events_per_s).toFixed(1)}×`, note: "target ≥ 3×" });
  if (sparkLatency) ratios.push({ what: "aggregator p99 / Spark p99", figure: `${((Number(lat[3]) / sparkLatency.p99_ms) * 100).toFixed(1)} %`, note: "target ≤ 20 %" });
  ratios.push({ what: "2 workers / 583,000 events/s (Singles' Day 2020 peak)", figure: `${((two.rate / 583_000) * 100).toFixed(0)} %` });

  const cpuModel = /model name\s*:\s*(.+)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "?";
  const table = (list: Row[]) => ["| what | figure | note |", "| --- | ---: | --- |", ...list.map((r) => `| ${r.what} | ${r.figure} | ${r.note ?? ""} |`)].join("\n");
  const report = `# Pipeline benchmark, ${new Date().toISOString().slice(0, 10)}

Machine: ${cpus().length} cores (${cpuModel}), ${Math.round(totalmem() / 2 ** 30)} GiB; Bun ${Bun.version}; Kafka ${kafkaVersion()} (local, same machine, 1 GiB heap)${sparkDrain ? `; Spark ${sparkDrain.spark}` : ""}.
Stream: ${fmt(events)} seeded events (2 % late, 20 % out of order, 1 % duplicates, 0.5 % malformed) over ${partitions} partitions. Load average at the end: ${load()}.
Command: \`bun run bench/pipeline.ts --events ${events} --partitions ${partitions} --rate ${rate} --latency-duration ${latencySeconds}s${values["skip-spark"] ? " --skip-spark" : ""} --pairs ${pairs}${values.live ? ` --live ${values.live}` : ""}\`

## Figures

${table(rows)}

## Ratios

${table(ratios)}
`;
  const path = join(repoRoot, "bench", "results", `pipeline-${new Date().toISOString().slice(0, 10)}.md`);
  writeFileSync(path, report);
  console.log(report);
  say(`written to ${path}`);
} finally {
  await broker.stop({ removeData: true });
  rmSync(scratch, { recursive: true, force: true });
}
