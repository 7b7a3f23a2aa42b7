/**
 * The aggregator against a real broker: how fast one worker drains a pre-loaded backlog, and its
 * peak memory.
 *
 *   bun run bench/aggregate.ts [--events 2000000] [--partitions 6] [--compression lz4] [--rss-at 1000000] [--runs 1] [--profile DIR]
 *
 * Loads a seeded stream (the producer's simulator, with its usual mix of out-of-order, late,
 * duplicate and malformed events) into a fresh topic, then runs workers/aggregate.ts on it with a
 * JSON-lines sink until it has been idle for 3 s. Prints the drain rate (records from the first to
 * the last one read), the worker's resident memory and its peak so far when it had read `--rss-at`
 * records (from its first log line past that count, every few seconds), and its peak at the end. With `--runs N`, drains the same topic N times (a new group each time) and prints the
 * medians too: a peak RSS depends on when the garbage collector ran, and moves from run to run.
 * Starts its own broker unless KAFKA_BROKERS is set.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createProducer, ensureTopics } from "../lib/kafka/client.ts";
import { benchBroker } from "./support/bench-broker.ts";
import { Simulator } from "../lib/event/simulator.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    events: { type: "string", default: "2000000" },
    partitions: { type: "string", default: "6" },
    /** Codec of the backlog's batches; lz4 is what workers/produce.ts writes by default. */
    compression: { type: "string", default: "lz4" },
    "rss-at": { type: "string", default: "1000000" },
    /** Drain the loaded topic this many times, each worker in a new group: rates and peaks vary from run to run. */
    runs: { type: "string", default: "1" },
    /** Write the worker's CPU profile (Bun's markdown format) into this directory. */
    profile: { type: "string" },
  },
});
const events = Number(values.events);
const partitions = Number(values.partitions);
const rssAt = Number(values["rss-at"]);
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer: got ${values.runs}`);
const repoRoot = resolve(import.meta.dirname, "..");
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-bench-aggregate-"));

const broker = await benchBroker();
const conn = broker.conn;

try {
  const topic = `bench-aggregate-${Date.now()}`;
  await ensureTopics(conn, [{ name: topic, partitions }]);
  // Stream time runs at 200 orders/s, so 2 M events span under 3 hours of event time — inside the
  // validator's one-day past limit when the stream starts that long ago.
  const streamSpanMs = (events / 200) * 1000;
  const simulator = new Simulator({
    seed: 1,
    startMs: Date.now() - streamSpanMs - 3_600_000,
    ratePerS: 200,
    lateFraction: 0.02,
    outOfOrderFraction: 0.2,
    duplicateFraction: 0.01,
    malformedFraction: 0.005,
  });
  const compression = values.compression as "zstd" | "lz4" | "snappy" | "gzip" | "none";
  const producer = createProducer(conn, { role: "bench-load", compression });
  const loadStart = performance.now();
  const inFlight: Promise<unknown>[] = [];
  for (let sent = 0; sent < events; ) {
    const messages = [];
    for (let i = 0; i < 5_000 && sent < events; i++, sent++) {
      const r = simulator.next();
      messages.push({ topic, key: r.key, value: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength) });
    }
    inFlight.push(producer.send({ messages }));
    if (inFlight.length >= 8) await inFlight.shift();
    if (sent % 500_000 === 0) console.error(`[bench] loaded ${sent.toLocaleString("en-US")} events`);
  }
  await Promise.all(inFlight);
  await producer.close();
  console.error(`[bench] loaded ${events.toLocaleString("en-US")} events in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`);

  const machine = `${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Bun ${Bun.version}`;
  const results: Drain[] = [];
  for (let run = 1; run <= runs; run++) {
    const r = await drainOnce(topic, run);
    results.push(r);
    console.log(
      `aggregator drain${runs > 1 ? ` ${run}/${runs}` : ""}: ${r.records.toLocaleString("en-US")} records (${compression}) over ${partitions} partitions in ${r.seconds} s = ` +
        `${r.rate.toLocaleString("en-US")} records/s; at ${rssAt.toLocaleString("en-US")} records rss ${r.rssAtMark ?? "n/a"} MB, peak so far ${r.peakAtMark ?? "n/a"} MB; ` +
        `peak rss ${r.peakMb} MB; worker CPU ${r.cpuUs ?? "n/a"} µs/record; load ${loadavg().map((l) => l.toFixed(2)).join(" ")} (${machine})`,
    );
  }
  if (runs > 1) {
    const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(
      `aggregator drain, median of ${runs} runs over the same topic: ${median(results.map((r) => r.rate)).toLocaleString("en-US")} records/s; ` +
        `peak rss ${median(results.map((r) => r.peakMb))} MB (runs: ${results.map((r) => r.peakMb).join(", ")} MB)`,
    );
  }
} finally {
  await broker.stop();
  rmSync(scratch, { recursive: true, force: true });
}

interface Drain {
  records: number;
  seconds: string;
  rate: number;
  peakMb: number;
  /** The worker's resident memory, and its peak so far, in the first log line after `--rss-at` records. */
  rssAtMark: number | undefined;
  peakAtMark: number | undefined;
  cpuUs: string | undefined;
}

/** One worker, in a group and checkpoint directory of its own, from the topic's first record to its idle exit. */
async function drainOnce(topic: string, run: number): Promise<Drain> {
  const worker = Bun.spawn(
    [process.execPath, ...(values.profile ? ["--cpu-prof-md", `--cpu-prof-dir=${values.profile}`] : []), "run", join(repoRoot, "workers/aggregate.ts"), "--sink", `jsonl:${join(scratch, `results-${run}.jsonl`)}`, "--exit-when-idle", "3s", "--idle-timeout", "2s"],
    {
      env: { ...process.env, KAFKA_BROKERS: conn.brokers.join(","), ORDERS_TOPIC: topic, CHECKPOINT_DIR: join(scratch, `checkpoints-${run}`), AGGREGATE_GROUP: `bench-${topic}-${run}` },
      stdout: "ignore",
      stderr: "pipe",
    },
  );
  let log = "";
  let rssAtMark: number | undefined;
  let peakAtMark: number | undefined;
  let partial = "";
  const decoder = new TextDecoder();
  for await (const chunk of worker.stderr) {
    const text = partial + decoder.decode(chunk, { stream: true });
    log += text.slice(partial.length);
    const lines = text.split("\n");
    partial = lines.pop()!; // a line cut by the chunk's end: completed by the next chunk
    for (const line of lines) {
      const m = /records (\d+):.*rss (\d+) MB \(peak (\d+)\)/.exec(line);
      if (m && rssAtMark === undefined && Number(m[1]) >= rssAt) {
        rssAtMark = Number(m[2]);
        peakAtMark = Number(m[3]);
      }
      if (/events\/s|drain:|drain cpu:/.test(line)) console.error(line);
    }
  }
  if ((await worker.exited) !== 0) throw new Error(`the aggregator failed:\n${log.slice(-3000)}`);
  const drain = /drain: (\d+) records in ([\d.]+) s from first to last = (\d+) records\/s; peak rss (\d+) MB/.exec(log);
  if (!drain) throw new Error(`no drain line in the aggregator's log:\n${log.slice(-3000)}`);
  const [, records, seconds, rate, peak] = drain;
  const cpu = /drain cpu: ([\d.]+) µs\/record/.exec(log);
  return { records: Number(records), seconds: seconds!, rate: Number(rate), peakMb: Number(peak), rssAtMark, peakAtMark, cpuUs: cpu?.[1] };
}
