/**
 * End-to-end latency of the aggregator at a steady rate: created_at (stamped by the producer at
 * the wall-clock moment it sends the event) to the emission that first includes the event.
 *
 *   bun run bench/aggregate-latency.ts [--rate 20000] [--duration 60s] [--emit-interval 1s]
 *
 * Starts a broker (unless KAFKA_BROKERS is set), an aggregator sampling every 10th counted
 * event, and the producer at `--rate` events/s (flat, paced to the wall clock); then stops the
 * aggregator and prints p50/p99 and the rate the producer really kept.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseDurationMs } from "../lib/runtime/config.ts";
import { ensureTopics } from "../lib/kafka/client.ts";
import { benchBroker } from "./support/bench-broker.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    rate: { type: "string", default: "20000" },
    duration: { type: "string", default: "60s" },
    "emit-interval": { type: "string", default: "1s" },
  },
});
const rate = Number(values.rate);
const durationMs = parseDurationMs(values.duration!);
const repoRoot = resolve(import.meta.dirname, "..");
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-bench-latency-"));

const broker = await benchBroker();
const conn = broker.conn;

try {
  const topic = `bench-latency-${Date.now()}`;
  await ensureTopics(conn, [{ name: topic, partitions: 6 }]);
  const env = { ...process.env, KAFKA_BROKERS: conn.brokers.join(","), ORDERS_TOPIC: topic };
  const aggregator = Bun.spawn(
    [process.execPath, "run", join(repoRoot, "workers/aggregate.ts"), "--sink", `jsonl:${join(scratch, "results.jsonl")}`, "--latency-sample", "10", "--emit-interval", values["emit-interval"]!],
    { env: { ...env, CHECKPOINT_DIR: join(scratch, "checkpoints"), AGGREGATE_GROUP: `bench-${topic}` }, stdout: "ignore", stderr: "pipe" },
  );
  // Steady state: the producer starts once the aggregator holds its partitions.
  let log = "";
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of aggregator.stderr) log += decoder.decode(chunk, { stream: true });
  })();
  while (!/assigned partitions \[0, 1, 2, 3, 4, 5\]/.test(log)) {
    if (aggregator.exitCode !== null) throw new Error(`the aggregator exited:\n${log}`);
    await Bun.sleep(50);
  }
  const summaryPath = join(scratch, "producer.json");
  console.error(`[bench] producing ${rate} events/s for ${durationMs / 1000} s`);
  const producer = Bun.spawn(
    [process.execPath, "run", join(repoRoot, "workers/produce.ts"), "--rate", String(rate), "--flat", "--duration", `${durationMs}ms`, "--progress-every", "10s", "--summary-json", summaryPath],
    { env, stdout: "ignore", stderr: "inherit" },
  );
  if ((await producer.exited) !== 0) throw new Error("the producer failed");
  await Bun.sleep(3_000); // let the last updates go out
  aggregator.kill("SIGTERM");
  await aggregator.exited;
  await reading;
  const latency = /latency created_at to emission: p50 (\d+) ms, p99 (\d+) ms, max (\d+) ms over (\d+) sampled events/.exec(log);
  if (!latency) throw new Error(`no latency line in the aggregator's log:\n${log.slice(-3000)}`);
  const summary = JSON.parse(readFileSync(summaryPath, "utf8")) as { sent: number; elapsed_ms: number };
  const kept = Math.round(summary.sent / (summary.elapsed_ms / 1000));
  console.log(
    `aggregator latency at ${kept.toLocaleString("en-US")} events/s (asked ${rate.toLocaleString("en-US")}), emit interval ${values["emit-interval"]}: ` +
      `p50 ${latency[1]} ms, p99 ${latency[2]} ms, max ${latency[3]} ms over ${latency[4]} sampled events ` +
      `(${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Bun ${Bun.version})`,
  );
} finally {
  await broker.stop();
  rmSync(scratch, { recursive: true, force: true });
}
