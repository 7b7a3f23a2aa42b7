/**
 * The cold path live: how long after an event is appended to Kafka it is visible in a committed
 * snapshot of the lake's Delta table, with the producer paced at a steady rate, and the lake
 * writer's memory at its plateau.
 *
 *   bun run bench/lake-freshness.ts [--rate 50000] [--duration 5m] [--flush-interval 30s] [--partitions 12]
 *
 * Starts a broker (unless KAFKA_BROKERS is set), the lake writer (workers/lake-writer.ts, its
 * defaults but --flush-interval) on a local table, then the producer (workers/produce.ts --flat)
 * at --rate for --duration. Every second it reads the commits the writer made since the last
 * look; for each row a commit added, freshness = the commit's timestamp (commitInfo, the writer's
 * clock) minus the row's kafka_timestamp (the producer's CreateTime: when it appended the event;
 * one machine, one clock). It samples the writer's RSS (/proc) every second. At the end: the
 * producer's real rate, rows seen, freshness p50/p99/max, the writer's RSS at its plateau (the
 * last half of the run) and its peak, and the lag left when the producer stopped.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parquetReadObjects } from "hyparquet";
import { LAKE_COMPRESSORS } from "../lib/lake/compressors.ts";
import { ensureTopics } from "../lib/kafka/client.ts";
import { readCommit } from "../lib/lake/delta-log.ts";
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { parseDurationMs } from "../lib/runtime/config.ts";
import { benchBroker } from "./support/bench-broker.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    rate: { type: "string", default: "50000" },
    duration: { type: "string", default: "5m" },
    "flush-interval": { type: "string", default: "30s" },
    partitions: { type: "string", default: "12" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log("Usage: bun run bench/lake-freshness.ts [--rate 50000] [--duration 5m] [--flush-interval 30s] [--partitions 12]");
  process.exit(0);
}
const rate = Number(values.rate);
const durationMs = parseDurationMs(values.duration!);
const partitions = Number(values.partitions);
const repoRoot = resolve(import.meta.dirname, "..");
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-bench-freshness-"));
const lakeDir = join(scratch, "lake");
const say = (line: string) => console.error(`[bench] ${line}`);

const broker = await benchBroker();
const conn = broker.conn;
try {
  const topic = `bench-freshness-${Date.now()}`;
  await ensureTopics(conn, [{ name: topic, partitions }]);
  const env = { ...process.env, KAFKA_BROKERS: conn.brokers.join(","), ORDERS_TOPIC: topic };
  const writer = Bun.spawn([process.execPath, "run", join(repoRoot, "workers/lake-writer.ts"), "--flush-interval", values["flush-interval"]!], {
    env: { ...env, LAKE_URI: lakeDir, LAKE_GROUP: `bench-${topic}` },
    stdout: "ignore",
    stderr: "pipe",
  });
  let log = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of writer.stderr) log += decoder.decode(chunk, { stream: true });
  })();
  while (!/assigned partitions \[0/.test(log)) {
    if (writer.exitCode !== null) throw new Error(`the lake writer exited:\n${log}`);
    await Bun.sleep(50);
  }

  const store = new FileLakeStore(lakeDir);
  const freshness: number[] = [];
  const rss: { atMs: number; mb: number }[] = [];
  let nextVersion = 0;
  /** Reads the commits since the last look: each added row's freshness. */
  const look = async () => {
    for (;;) {
      const actions = await readCommit(store, nextVersion);
      if (actions === undefined) return;
      nextVersion += 1;
      const info = actions.find((a) => "commitInfo" in a) as { commitInfo: { timestamp: number; operation?: string } } | undefined;
      if (!info || info.commitInfo.operation !== "WRITE") continue;
      for (const action of actions) {
        if (!("add" in action)) continue;
        const bytes = (await store.read(action.add.path))!;
        const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
        for (const row of (await parquetReadObjects({ file, columns: ["kafka_timestamp"], compressors: LAKE_COMPRESSORS })) as { kafka_timestamp: Date | null }[]) {
          if (row.kafka_timestamp) freshness.push(info.commitInfo.timestamp - row.kafka_timestamp.getTime());
        }
      }
    }
  };
  const started = Date.now();
  const sampler = setInterval(() => {
    try {
      const status = readFileSync(`/proc/${writer.pid}/status`, "utf8");
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
      if (kb > 0) rss.push({ atMs: Date.now() - started, mb: kb / 1024 });
    } catch {
      // the writer is gone
    }
  }, 1_000);

  say(`producing ${rate} events/s for ${durationMs / 1000} s into ${partitions} partitions; the lake writer flushes every ${values["flush-interval"]}`);
  const summaryPath = join(scratch, "producer.json");
  const producer = Bun.spawn(
    [process.execPath, "run", join(repoRoot, "workers/produce.ts"), "--rate", String(rate), "--flat", "--duration", `${durationMs}ms`, "--progress-every", "30s", "--summary-json", summaryPath],
    { env, stdout: "ignore", stderr: "inherit" },
  );
  let producing = true;
  void producer.exited.then(() => (producing = false));
  while (producing) {
    await look();
    await Bun.sleep(1_000);
  }
  if ((await producer.exited) !== 0) throw new Error("the producer failed");
  const produced = JSON.parse(readFileSync(summaryPath, "utf8")) as { sent?: number; acked?: number; ratePerS?: number; seconds?: number };
  // The writer's last flush of the stream: one flush interval and a little more.
  const drainUntil = Date.now() + parseDurationMs(values["flush-interval"]!) + 10_000;
  while (Date.now() < drainUntil) {
    await look();
    await Bun.sleep(1_000);
  }
  clearInterval(sampler);
  writer.kill("SIGTERM");
  await writer.exited;

  const sorted = freshness.sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
  const plateau = rss.filter((s) => s.atMs >= durationMs / 2 && s.atMs <= durationMs);
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(`producer: ${JSON.stringify(produced)}`);
  console.log(`rows seen in committed snapshots: ${sorted.length}`);
  console.log(`freshness (Kafka append to committed snapshot): p50 ${s(pct(50))}, p99 ${s(pct(99))}, max ${s(sorted.at(-1) ?? NaN)}`);
  console.log(
    `lake writer RSS: plateau (second half) ${Math.round(Math.min(...plateau.map((x) => x.mb)))}-${Math.round(Math.max(...plateau.map((x) => x.mb)))} MB, ` +
      `peak ${Math.round(Math.max(...rss.map((x) => x.mb)))} MB`,
  );
  console.log(`writer log, last lines:\n${log.trim().split("\n").slice(-4).join("\n")}`);
  console.log(`(${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, broker ${broker.description})`);
} finally {
  await broker.stop();
  rmSync(scratch, { recursive: true, force: true });
}
