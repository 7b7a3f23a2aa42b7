/**
 * `bun run scripts/delta-spark/run.ts [--events N]`: Apache Spark with Delta Lake reads the lake's
 * Delta table and answers the original demo's batch query, `groupBy("user_id").sum(...)`, which
 * must equal our own reader's answer, user by user (issue 19). Kept out of CI: PySpark is a
 * ~400 MB download and a Spark start takes tens of seconds.
 *
 * The table is built on local disk by the lake cores (lib/lake/delta-writer.ts: two writers, the
 * partitions moving between them mid-stream; lib/lake/delta-compactor.ts), and the compactor runs
 * again while Spark starts and reads. Installs pyspark and delta-spark (pinned) into `.venv` when
 * missing; delta-spark's jars come through Spark's own spark.jars.packages from Maven Central
 * (Ivy settings of bench/baseline-spark). delta-spark 4.4.0, not 4.4.1: the registry serves no
 * io.delta:delta-spark_4.1_2.13:4.4.1 jar. Prints progress on stderr and the comparison on stdout.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Simulator } from "../../lib/event/simulator.ts";
import { DeltaCompactor } from "../../lib/lake/delta-compactor.ts";
import { loadSnapshot } from "../../lib/lake/delta-snapshot.ts";
import { DeltaLakeWriter } from "../../lib/lake/delta-writer.ts";
import { FileLakeStore } from "../../lib/lake/file-store.ts";
import { decodeLakeFile } from "../../lib/lake/schema.ts";

const PYSPARK_VERSION = "4.1.1";
const DELTA_SPARK_VERSION = "4.4.0";
const repoRoot = resolve(import.meta.dirname, "..", "..");
const python = join(repoRoot, ".venv", "bin", "python");
const say = (line: string) => console.error(`[delta-spark] ${line}`);

const { values } = parseArgs({ args: Bun.argv.slice(2), options: { events: { type: "string", default: "60000" }, help: { type: "boolean", short: "h" } } });
if (values.help) {
  console.log("Usage: bun run scripts/delta-spark/run.ts [--events N]\n\nBuilds a Delta table of N simulated events (default 60000) with the lake's cores and checks that\nSpark with Delta Lake answers groupBy(\"user_id\") exactly as our reader does.");
  process.exit(0);
}
const events = Number(values.events);
if (!Number.isSafeInteger(events) || events < 1) {
  console.error(`--events: give a whole number of events, got ${values.events}\nRun with --help for usage.`);
  process.exit(2);
}

await ensurePySpark();
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-delta-spark-"));
try {
  const root = join(scratch, "orders");
  const store = new FileLakeStore(root);
  say(`building a table of ${events.toLocaleString("en-US")} events in ${root}`);
  const startMs = Date.UTC(2026, 11, 1, 8);
  const clock = { now: () => Date.UTC(2026, 11, 2) };
  const a = new DeltaLakeWriter(store, { topic: "orders", clock });
  const b = new DeltaLakeWriter(store, { topic: "orders", clock });
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
  const compactor = new DeltaCompactor(store, { clock, targetBytes: 512 * 1024, checkpointInterval: 10 });
  say(`compacting; table version ${(await loadSnapshot(store)).version}`);
  await compactor.runOnce();
  // More appends, so the compactor has work while Spark reads.
  for (let i = events; i < events + 8_000; i++) {
    const r = sim.next();
    const p = i % 4;
    (p >= 2 ? b : a).add(p, BigInt(Math.floor(i / 4)), r.value, r.emittedAtMs);
    if (i % 2_000 === 1_999) await Promise.all([a.flush(), b.flush()]);
  }
  say("Spark with Delta Lake: groupBy(\"user_id\"), with the compactor running meanwhile");
  const spark = runSpark(root);
  const compacting = compactor.runOnce();
  const [answer, compaction] = await Promise.all([spark, compacting]);
  say(`the compactor committed ${compaction.compactions} compaction(s) while Spark read (now version ${compaction.version})`);

  // Our reader at the version Spark read.
  const snapshot = await loadSnapshot(store, answer.version);
  const ours = new Map<string, [number, bigint]>();
  let rows = 0;
  for (const path of snapshot.files.keys()) {
    for (const row of await decodeLakeFile((await store.read(path))!)) {
      rows += 1;
      const [orders, revenue] = ours.get(row.user_id) ?? [0, 0n];
      ours.set(row.user_id, [orders + 1, revenue + row.total_usd_cents]);
    }
  }
  const differences: string[] = [];
  for (const [user, [orders, revenue]] of ours) {
    const theirs = answer.per_user[user];
    if (!theirs || theirs[0] !== orders || BigInt(theirs[1]) !== revenue) differences.push(`${user}: ours ${orders} orders ${revenue}, Spark's ${theirs ? `${theirs[0]} orders ${theirs[1]}` : "none"}`);
  }
  for (const user of Object.keys(answer.per_user)) if (!ours.has(user)) differences.push(`${user}: only Spark has it`);
  console.log(`| table version read | rows (ours / Spark) | users (ours / Spark) | users that differ | Spark query |`);
  console.log(`| ---: | ---: | ---: | ---: | ---: |`);
  console.log(`| ${answer.version} | ${rows} / ${answer.rows} | ${ours.size} / ${answer.users} | ${differences.length} | ${answer.seconds} s |`);
  for (const d of differences.slice(0, 20)) console.log(`- ${d}`);
  process.exitCode = differences.length === 0 && rows === answer.rows ? 0 : 1;
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

async function runSpark(path: string): Promise<SparkAnswer> {
  const child = Bun.spawn([python, join(import.meta.dirname, "query.py"), path, join(repoRoot, "bench", "baseline-spark", "ivysettings.xml")], { stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  if (code !== 0) throw new Error(`Spark's query failed (exit ${code}):\n${err.split("\n").slice(-30).join("\n")}`);
  return JSON.parse(out.trim().split("\n").at(-1)!) as SparkAnswer;
}

async function ensurePySpark(): Promise<void> {
  const check = Bun.spawnSync([python, "-c", "import pyspark, delta, importlib.metadata as m; print(pyspark.__version__, m.version('delta-spark'))"]);
  if (check.exitCode === 0 && check.stdout.toString().trim() === `${PYSPARK_VERSION} ${DELTA_SPARK_VERSION}`) return;
  say(`installing pyspark ${PYSPARK_VERSION} and delta-spark ${DELTA_SPARK_VERSION} into .venv (about 400 MB, once)`);
  const pip = Bun.spawnSync([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", `pyspark==${PYSPARK_VERSION}`, `delta-spark==${DELTA_SPARK_VERSION}`], { stdout: "inherit", stderr: "inherit" });
  if (pip.exitCode !== 0) throw new Error("pip could not install pyspark and delta-spark into .venv; run `bash scripts/setup.sh` first (it makes .venv)");
}
