/**
 * Sustained throughput of one producer process (workers/produce.ts --max) into Kafka.
 *
 *   bun run bench/produce.ts [--count N] [--runs R] [-- extra producer flags]
 *
 * Starts its own LocalBroker unless KAFKA_BROKERS is set, writes to a fresh 6-partition topic per
 * run, and prints events/s as the producer's own summary measures it (from the first record to
 * the last acknowledgement, excluding process start-up and catalog building).
 */
import { parseArgs } from "node:util";
import { cpus } from "node:os";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { benchBroker } from "./support/bench-broker.ts";

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  options: { count: { type: "string", default: "1000000" }, runs: { type: "string", default: "3" } },
  allowPositionals: true,
});
const count = Number(values.count);
const runs = Number(values.runs);
const repoRoot = resolve(import.meta.dirname, "..");

const broker = await benchBroker();
const brokers = broker.conn.brokers;

const rates: number[] = [];
try {
  for (let run = 1; run <= runs; run++) {
    const summaryPath = join(mkdtempSync(join(tmpdir(), "orderpulse-bench-")), "summary.json");
    const topic = `bench-produce-${Date.now()}-${run}`;
    const args = ["run", join(repoRoot, "workers/produce.ts"), "--seed", "1", "--max", "--flat", "--count", String(count), "--topic", topic, "--progress-every", "1h", "--summary-json", summaryPath, ...positionals];
    const proc = Bun.spawn(["bun", ...args], { env: { ...process.env, KAFKA_BROKERS: brokers.join(",") }, stdout: "inherit", stderr: "pipe" });
    const stderr = await new Response(proc.stderr).text();
    if ((await proc.exited) !== 0) throw new Error(`producer failed:\n${stderr}`);
    const summary = JSON.parse(readFileSync(summaryPath, "utf8")) as {
      sent: number;
      elapsed_ms: number;
      events_per_s: number;
      cpu_ms?: { sending_thread: number; generator_thread: number | null; process: number };
    };
    rates.push(summary.events_per_s);
    // CPU per event is steadier than events/s when other work shares the cores.
    const perEvent = (ms: number) => ((ms * 1000) / summary.sent).toFixed(1);
    const c = summary.cpu_ms;
    const cpu = c
      ? `; CPU µs/event: sending thread ${perEvent(c.sending_thread)}, generator thread ${c.generator_thread === null ? "-" : perEvent(c.generator_thread)} (incl. start-up), process ${perEvent(c.process)}`
      : "";
    console.log(`run ${run}: ${summary.sent.toLocaleString("en-US")} events in ${(summary.elapsed_ms / 1000).toFixed(2)} s = ${summary.events_per_s.toLocaleString("en-US")} events/s${cpu}`);
  }
} finally {
  await broker.stop();
}
const sorted = [...rates].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)]!;
console.log(
  `producer throughput: median ${median.toLocaleString("en-US")} events/s over ${runs} runs of ${count.toLocaleString("en-US")} ` +
    `(${cpus().length} cores, broker ${broker.description}, extra flags: ${positionals.join(" ") || "none"})`,
);
