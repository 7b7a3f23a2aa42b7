/**
 * `bun run scripts/delta-spark/run.ts [--events N] [--reads N]`: Apache Spark with Delta Lake
 * reads the lake's Delta table and answers the original demo's batch query,
 * `groupBy("user_id").sum(...)`, again and again while lake writers append and the compactor
 * merges; each answer must equal our own reader's at the version Spark read, user by user
 * (issue 19). Kept out of CI: PySpark is a ~400 MB download and a Spark start takes tens of seconds.
 *
 * The table is built on local disk by the lake cores (lib/lake/writer.ts: two writers, the
 * partitions moving between them mid-stream; lib/lake/compactor.ts). While Spark reads, the
 * writers keep appending small files and the compactor keeps merging them (one commit each), so
 * Spark's reads pin versions made by both. Installs pyspark and delta-spark (pinned) into `.venv`
 * when missing; delta-spark's jars come through Spark's own spark.jars.packages from Maven
 * Central (Ivy settings of bench/baseline-spark). delta-spark 4.4.0, not 4.4.1: the registry
 * serves no io.delta:delta-spark_4.1_2.13:4.4.1 jar. Prints progress on stderr and the comparison
 * on stdout.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Simulator } from "../../lib/event/simulator.ts";
import { LakeCompactor } from "../../lib/lake/compactor.ts";
import { readCommit } from "../../lib/lake/delta-log.ts";
import { loadSnapshot } from "../../lib/lake/delta-snapshot.ts";
import { FileLakeStore } from "../../lib/lake/file-store.ts";
import { readLake } from "../../lib/lake/reader.ts";
import { LakeWriter } from "../../lib/lake/writer.ts";

const PYSPARK_VERSION = "4.1.1";
const DELTA_SPARK_VERSION = "4.4.0";
const repoRoot = resolve(import.meta.dirname, "..", "..");
const python = join(repoRoot, ".venv", "bin", "python");
const say = (line: string) => console.error(`[delta-spark] ${line}`);

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: { events: { type: "string", default: "60000" }, reads: { type: "string", default: "4" }, help: { type: "boolean", short: "h" } },
});
if (values.help) {
  console.log(
    "Usage: bun run scripts/delta-spark/run.ts [--events N] [--reads N]\n\nBuilds a Delta table of N simulated events (default 60000) with the lake's cores, then has Spark with\n" +
      "Delta Lake answer groupBy(\"user_id\") --reads times (default 4) while writers append and the compactor\nmerges, and checks each answer against our reader's at the version Spark read.",
  );
  process.exit(0);
}
const events = Number(values.events);
const reads = Number(values.reads);
for (const [flag, n] of [["events", events], ["reads", reads]] as const) {
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error(`--${flag}: give a whole number of at least 1, got ${values[flag]}\nRun with --help for usage.`);
    process.exit(2);
  }
}

await ensurePySpark();
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-delta-spark-"));
try {
  const root = join(scratch, "orders");
  const store = new FileLakeStore(root);
  say(`building a table of ${events.toLocaleString("en-US")} events in ${root}`);
  const startMs = Date.UTC(2026, 11, 1, 8);
  const clock = { now: () => Date.UTC(2026, 11, 2) };
  const a = new LakeWriter(store, { topic: "orders", clock });
  const b = new LakeWriter(store, { topic: "orders", clock });
  await a.assign([0, 1, 2, 3]);
  for (const p of [0, 1, 2, 3]) a.startAt(p, 0n);
  const sim = new Simulator({ seed: 19, startMs, ratePerS: 5, malformedFraction: 0.01 });
  for (let i = 0; i < events; i++) {
    if (i === Math.floor(events / 2)) {
      await a.flush();
      a.revoke([2, 3]);
      await b.assign([2, 3]);
    }
    const p = i % 4;
    const r = sim.next();
    (p >= 2 && i >= Math.floor(events / 2) ? b : a).add(p, BigInt(Math.floor(i / 4)), r.value, r.emittedAtMs);
    if (i % 5_000 === 4_999) await Promise.all([a.flush(), b.flush()]);
  }
  await Promise.all([a.flush(), b.flush()]);
  const compactor = new LakeCompactor(store, { clock, targetBytes: 512 * 1024, checkpointInterval: 10 });
  say(`compacting; table version ${(await loadSnapshot(store)).version}`);
  await compactor.runOnce();
  say(`Spark with Delta Lake: groupBy("user_id") ${reads} times, while the writers append and the compactor merges`);
  const spark = startSpark(root, reads);
  await spark.ready;
  // Appends of small files and merges of them, one after the other, until Spark has read enough.
  let sparkDone = false;
  const answers = spark.answers.finally(() => (sparkDone = true));
  let appended = 0;
  let merges = 0;
  for (let i = events; !sparkDone; i++) {
    const r = sim.next();
    const p = i % 4;
    (p >= 2 ? b : a).add(p, BigInt(Math.floor(i / 4)), r.value, r.emittedAtMs);
    appended += 1;
    if (appended % 500 === 0) await Promise.all([a.flush(), b.flush()]);
    if (appended % 2_000 === 0) merges += (await compactor.runOnce()).compactions;
  }
  await Promise.all([a.flush(), b.flush()]);
  const answered = await answers;
  say(`while Spark read: ${appended} events appended, ${merges} merges committed; table at version ${(await loadSnapshot(store)).version}`);

  // Our reader at each version Spark read.
  console.log(`| Spark read | table version | that version's commit | rows (ours / Spark) | users (ours / Spark) | users that differ | Spark query |`);
  console.log(`| ---: | ---: | --- | ---: | ---: | ---: | ---: |`);
  let failed = false;
  for (const [index, answer] of answered.entries()) {
    const ours = new Map<string, [number, bigint]>();
    const { rows } = await readLake(store, { version: answer.version });
    for (const row of rows) {
      const [orders, revenue] = ours.get(row.user_id) ?? [0, 0n];
      ours.set(row.user_id, [orders + 1, revenue + row.total_usd_cents]);
    }
    const differences: string[] = [];
    for (const [user, [orders, revenue]] of ours) {
      const theirs = answer.per_user[user];
      if (!theirs || theirs[0] !== orders || BigInt(theirs[1]) !== revenue) differences.push(`${user}: ours ${orders} orders ${revenue}, Spark's ${theirs ? `${theirs[0]} orders ${theirs[1]}` : "none"}`);
    }
    for (const user of Object.keys(answer.per_user)) if (!ours.has(user)) differences.push(`${user}: only Spark has it`);
    const operation = ((await readCommit(store, answer.version)) ?? []).flatMap((action) => ("commitInfo" in action ? [action.commitInfo.operation] : []))[0] ?? "?";
    console.log(`| ${index + 1} | ${answer.version} | ${operation} | ${rows.length} / ${answer.rows} | ${ours.size} / ${answer.users} | ${differences.length} | ${answer.seconds} s |`);
    for (const d of differences.slice(0, 20)) console.log(`- ${d}`);
    if (differences.length > 0 || rows.length !== answer.rows) failed = true;
  }
  if (new Set(answered.map((x) => x.version)).size < 2) say("every read pinned the same version: the table did not change between Spark's reads");
  process.exitCode = failed ? 1 : 0;
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

interface SparkAnswer {
  version: number;
  rows: number;
  users: number;
  seconds: number;
  per_user: Record<string, [number, string]>;
}

/** Starts query.py: `ready` once Spark is up (it prints "ready"), `answers` when all its reads are done. */
function startSpark(path: string, reads: number): { ready: Promise<void>; answers: Promise<SparkAnswer[]> } {
  const child = Bun.spawn([python, join(import.meta.dirname, "query.py"), path, join(repoRoot, "bench", "baseline-spark", "ivysettings.xml"), String(reads)], { stdout: "pipe", stderr: "pipe" });
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const answers = (async () => {
    const got: SparkAnswer[] = [];
    let buffered = "";
    const stderr = new Response(child.stderr).text();
    for await (const chunk of child.stdout) {
      buffered += new TextDecoder().decode(chunk);
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line === "ready") markReady();
        else if (line.startsWith("{")) {
          const answer = JSON.parse(line) as SparkAnswer;
          say(`Spark read version ${answer.version}: ${answer.rows} rows in ${answer.seconds} s`);
          got.push(answer);
        }
      }
    }
    const code = await child.exited;
    if (code !== 0) throw new Error(`Spark's query failed (exit ${code}):\n${(await stderr).split("\n").slice(-30).join("\n")}`);
    markReady();
    return got;
  })();
  return { ready: Promise.race([ready, answers.then(() => {})]), answers };
}

async function ensurePySpark(): Promise<void> {
  const check = Bun.spawnSync([python, "-c", "import pyspark, delta, importlib.metadata as m; print(pyspark.__version__, m.version('delta-spark'))"]);
  if (check.exitCode === 0 && check.stdout.toString().trim() === `${PYSPARK_VERSION} ${DELTA_SPARK_VERSION}`) return;
  say(`installing pyspark ${PYSPARK_VERSION} and delta-spark ${DELTA_SPARK_VERSION} into .venv (about 400 MB, once)`);
  const pip = Bun.spawnSync([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", `pyspark==${PYSPARK_VERSION}`, `delta-spark==${DELTA_SPARK_VERSION}`], { stdout: "inherit", stderr: "inherit" });
  if (pip.exitCode !== 0) throw new Error("pip could not install pyspark and delta-spark into .venv; run `bash scripts/setup.sh` first (it makes .venv)");
}
