/**
 * The cold path's figures: lake writer throughput, bytes per event on disk, compaction MB/s.
 *
 *   bun run bench/lake.ts [--count N] [--flush-rows N] [--topic NAME] [--keep]
 *
 * 1. Produces N simulated events (seeded, 2 % malformed) to a fresh 6-partition topic — on its
 *    own LocalBroker unless KAFKA_BROKERS is set — or, with --topic, takes a topic already
 *    loaded (bench/pipeline.ts passes the one its aggregator drained: the same events). Then
 *    drains that backlog with workers/lake-writer.ts as a real process, and prints the worker's
 *    own drain rate (first record read to last offsets committed; process start-up and the idle
 *    wait excluded).
 * 2. Bytes per event: the lake's data files over the valid events in it, as the writer left it.
 * 3. Compacts the same lake with workers/compact.ts --once (every hour closed) and prints its
 *    MB/s (input bytes over the pass's time) and bytes per event afterwards.
 *
 * With --keep the lake stays where it was written (under TMPDIR) for the caller to remove.
 * bench/pipeline.ts removes its lakes only after its last measurement: on an ext4 without a
 * journal (this machine's root file system), a file created within about 30 s of thousands of
 * deletions costs far more (the allocator skips each recently deleted inode), and a writer run
 * right after removing the previous run's lake measured 7–16 % slower (bench/results/lake.md).
 */
import { cpus, tmpdir } from "node:os";
import { mkdtempSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { ensureTopics } from "../lib/kafka/client.ts";
import { readLake } from "../lib/lake/reader.ts";
import { benchBroker } from "./support/bench-broker.ts";
import { produceSimulated } from "../test/support/pipeline-harness.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { count: { type: "string", default: "300000" }, "flush-rows": { type: "string", default: "100000" }, topic: { type: "string" }, keep: { type: "boolean", default: false } },
});
const count = Number(values.count);
const repoRoot = resolve(import.meta.dirname, "..");
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-bench-lake-"));
const lakeDir = join(scratch, "lake");

const broker = await benchBroker();
const brokers = broker.conn.brokers;

async function run(script: string, args: string[], env: Record<string, string>): Promise<string> {
  const proc = Bun.spawn(["bun", "run", join(repoRoot, script), ...args], { env: { ...process.env, ...env }, stdout: "ignore", stderr: "pipe" });
  const stderr = await new Response(proc.stderr).text();
  if ((await proc.exited) !== 0) throw new Error(`${script} failed:\n${stderr}`);
  return stderr;
}

async function lakeBytes(): Promise<{ files: number; bytes: number; rows: number }> {
  const store = new FileLakeStore(lakeDir);
  const { files, rows } = await readLake(store);
  let bytes = 0;
  for (const f of files) bytes += (await store.size(f)) ?? 0;
  return { files: files.length, bytes, rows: rows.length };
}

try {
  const conn = { brokers, clientId: "bench-lake" };
  const topic = values.topic ?? `bench-lake-${Date.now()}`;
  if (values.topic === undefined) {
    await ensureTopics(conn, [{ name: topic, partitions: 6 }]);
    const startMs = Date.now() - 6 * 3_600_000; // six hours ago: within the validator's day, every hour closed
    await produceSimulated(conn, topic, count, { seed: 1, startMs, ratePerS: 1_000, malformedFraction: 0.02 });
    console.log(`produced ${count.toLocaleString("en-US")} events to ${topic}`);
  } else {
    console.log(`draining topic ${topic} as it is`);
  }

  const writerLog = await run("workers/lake-writer.ts", ["--exit-when-idle", "2s", "--flush-rows", values["flush-rows"]!, "--flush-interval", "10s"], {
    KAFKA_BROKERS: brokers.join(","),
    ORDERS_TOPIC: topic,
    LAKE_URI: lakeDir,
    LAKE_GROUP: `bench-lake-${Date.now()}`,
  });
  const drain = /drain: (\d+) records in ([\d.]+) s .* = (\d+) records\/s; ([\d.]+) bytes per event written; peak rss (\d+) MB/.exec(writerLog);
  if (!drain) throw new Error(`no drain line in the lake writer's log:\n${writerLog}`);
  const written = await lakeBytes();
  console.log(writerLog.split("\n").filter((l) => l.includes("DEBUG")).join("\n"));
  console.log(`lake writer: ${Number(drain[1]).toLocaleString("en-US")} records in ${drain[2]} s = ${Number(drain[3]).toLocaleString("en-US")} records/s (peak rss ${drain[5]} MB)`);
  console.log(`on disk after the writer: ${written.files} files, ${(written.bytes / 1e6).toFixed(1)} MB, ${(written.bytes / written.rows).toFixed(1)} bytes per event`);

  const compactLog = await run("workers/compact.ts", ["--once", "--close-after", "0s", "--target-size", "64MB"], { LAKE_URI: lakeDir });
  const pass = /pass 1: (\d+) merges of (\d+) files \((\d+) rows, ([\d.]+) MB → ([\d.]+) MB\) in ([\d.]+) s = ([\d.]+) MB\/s/.exec(compactLog);
  const compacted = await lakeBytes();
  if (pass) {
    console.log(`compaction: ${pass[2]} files → ${pass[1]}, ${pass[4]} MB → ${pass[5]} MB in ${pass[6]} s = ${pass[7]} MB/s (input), ${(Number(pass[3]) / Number(pass[6])).toFixed(0)} rows/s`);
  } else {
    console.log(`compaction: nothing to merge (${compactLog.trim().split("\n").at(-1)})`);
  }
  console.log(`on disk after compaction: ${compacted.files} files, ${(compacted.bytes / 1e6).toFixed(1)} MB, ${(compacted.bytes / compacted.rows).toFixed(1)} bytes per event`);
  console.log(`(${cpus().length} cores, broker ${broker.description})`);
} finally {
  await broker.stop();
  if (values.keep) console.log(`lake kept in ${lakeDir}`);
  else rmSync(scratch, { recursive: true, force: true });
}
