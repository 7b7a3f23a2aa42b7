/**
 * The Spark Structured Streaming baseline (the original design), run from Bun.
 *
 *   bun run bench/baseline-spark/run.ts drain   --brokers H:P --topic T
 *   bun run bench/baseline-spark/run.ts latency --brokers H:P --topic T --duration 60 [--produce-rate 20000]
 *
 * Runs setup.sh (idempotent: a venv with pinned PySpark, the Kafka connector in the Ivy cache),
 * then job.py with the venv's Python, SPARK_HOME from the installed pyspark and JAVA_HOME from the
 * machine. Spark's log goes to a file (its path is printed); the job's one JSON result line goes
 * to stdout. In latency mode `--produce-rate R` also creates the topic (`--partitions`, default
 * 12) and starts `workers/produce.ts --rate R --flat` once Spark's query has pinned its `latest`
 * offsets; without it, the caller produces (see `onReady` of runSparkBaseline()).
 */
import { spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync, realpathSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

const here = import.meta.dirname;
const repoRoot = resolve(here, "../..");
const venvPython = join(here, ".venv", "bin", "python");

export type SparkBaselineMode = "drain" | "latency";

export interface SparkBaselineOptions {
  /** Bootstrap brokers, `host:port[,host:port...]`. */
  brokers: string;
  topic: string;
  /** latency: seconds measured from the first event the query sees. Default 60. */
  durationS?: number;
  /** spark.sql.shuffle.partitions. Default 2 (one per core of local[2]); see README. */
  shufflePartitions?: number;
  /** Where Spark's own output goes. Default bench/baseline-spark/logs/<mode>-<time>.log. */
  logPath?: string;
  /** latency: called once, when the query has pinned its `latest` offsets; start producing here. */
  onReady?: () => void | Promise<void>;
  /** Progress lines (setup, the job's own lines). Default: stderr. */
  onProgress?: (line: string) => void;
}

interface CommonResult {
  spark: string;
  master: string;
  shuffle_partitions: number;
  startup_seconds: number;
  cpu_percent: number;
  peak_rss_mb: number;
  batches: number;
  /** The path of Spark's log. */
  log: string;
}

export interface SparkDrainResult extends CommonResult {
  mode: "drain";
  events: number;
  seconds: number;
  events_per_s: number;
  windows: number;
  counted: number;
  revenue_usd_cents: number;
}

export interface SparkLatencyResult extends CommonResult {
  mode: "latency";
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  mean_ms: number;
  p99_upper_ms: number;
  samples: number;
  batch_ms_p50: number;
  batch_ms_max: number;
  /** The same, without the batches emitted in the first 10 s after the first events arrived. */
  steady_p50_ms: number;
  steady_p99_ms: number;
  steady_max_ms: number;
  steady_mean_ms: number;
  steady_p99_upper_ms: number;
  steady_samples: number;
  steady_batches: number;
  steady_batch_ms_p50: number;
  steady_batch_ms_max: number;
  seconds: number;
}

export type SparkBaselineResult = SparkDrainResult | SparkLatencyResult;

/** The pins in versions.env (KEY=value lines). */
export function readPins(): Record<string, string> {
  const pins: Record<string, string> = {};
  for (const line of readFileSync(join(here, "versions.env"), "utf8").split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) pins[m[1]!] = m[2]!;
  }
  return pins;
}

/** Runs setup.sh (fast when already set up); rejects with its output when it fails. */
export async function ensureSparkSetup(onProgress: (line: string) => void = defaultProgress): Promise<void> {
  const setup = Bun.spawn(["bash", join(here, "setup.sh")], { stdout: "pipe", stderr: "pipe" });
  let output = "";
  await Promise.all([
    forEachLine(setup.stdout, (line) => {
      output += `${line}\n`;
      onProgress(line);
    }),
    forEachLine(setup.stderr, (line) => {
      output += `${line}\n`;
    }),
  ]);
  const code = await setup.exited;
  if (code !== 0) throw new Error(`bench/baseline-spark/setup.sh failed (exit ${code}):\n${output.slice(-4000)}`);
}

function javaHome(): string {
  if (process.env.JAVA_HOME) return process.env.JAVA_HOME;
  const java = Bun.which("java");
  if (!java) throw new Error("java not found on PATH and JAVA_HOME unset: install JDK 17+");
  return dirname(dirname(realpathSync(java))); // .../jvm/java-17-openjdk-amd64/bin/java
}

function sparkHome(): string {
  const r = spawnSync(venvPython, ["-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`cannot import pyspark from ${venvPython}: ${r.stderr}`);
  return r.stdout.trim();
}

/**
 * Runs job.py once and resolves with its result line. Rejects when the job exits non-zero or
 * prints no result, with the tail of Spark's log and the log's path.
 */
export async function runSparkBaseline(mode: SparkBaselineMode, options: SparkBaselineOptions): Promise<SparkBaselineResult> {
  const progress = options.onProgress ?? defaultProgress;
  await ensureSparkSetup(progress);
  const pins = readPins();
  const logPath = options.logPath ?? join(here, "logs", `${mode}-${new Date().toISOString().replace(/[:.]/g, "-")}.log`);
  mkdirSync(dirname(logPath), { recursive: true });
  const logFile = createWriteStream(logPath);
  const args = [join(here, "job.py"), mode, "--brokers", options.brokers, "--topic", options.topic];
  args.push("--shuffle-partitions", String(options.shufflePartitions ?? 2));
  if (mode === "latency") args.push("--duration", String(options.durationS ?? 60));
  progress(`running Spark ${pins.PYSPARK_VERSION} ${mode} on ${options.topic}; Spark's log: ${logPath}`);
  const job = Bun.spawn([venvPython, ...args], {
    cwd: here,
    env: {
      ...process.env,
      JAVA_HOME: javaHome(),
      SPARK_HOME: sparkHome(),
      PYSPARK_PYTHON: venvPython,
      SPARK_KAFKA_PACKAGE: pins.SPARK_KAFKA_PACKAGE!,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  let readyError: unknown;
  let stdout = "";
  await Promise.all([
    forEachLine(job.stderr, (line) => {
      logFile.write(`${line}\n`);
      // Spark may write to the same stream without a newline, so our marker can sit mid-line.
      const at = line.indexOf("[spark-baseline] ");
      if (at < 0) return;
      const own = line.slice(at);
      progress(own);
      if (own === "[spark-baseline] query running" && options.onReady) {
        Promise.resolve()
          .then(options.onReady)
          .catch((error) => {
            readyError = error;
            job.kill("SIGTERM");
          });
      }
    }),
    forEachLine(job.stdout, (line) => {
      logFile.write(`[stdout] ${line}\n`);
      stdout += `${line}\n`;
    }),
  ]);
  const code = await job.exited;
  await new Promise<void>((done) => logFile.end(done));
  if (readyError) throw new Error("the onReady callback failed", { cause: readyError });
  const resultLine = stdout.trim().split("\n").findLast((l) => l.startsWith("{"));
  if (code !== 0 || !resultLine) {
    const tail = (await readFile(logPath, "utf8")).split("\n").slice(-40).join("\n");
    throw new Error(`Spark baseline ${mode} failed (exit ${code}); last lines of ${logPath}:\n${tail}`);
  }
  return { ...(JSON.parse(resultLine) as Omit<SparkBaselineResult, "log">), log: logPath } as SparkBaselineResult;
}

function defaultProgress(line: string): void {
  console.error(line);
}

async function forEachLine(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  }
  if (pending) onLine(pending);
}

/** A producer paced at `rate` events/s into `topic`, started on demand; stop() ends it and reads its summary. */
function pacedProducer(brokers: string, topic: string, rate: number, durationS: number) {
  let child: ReturnType<typeof Bun.spawn> | undefined;
  let scratch: string | undefined;
  return {
    async start(): Promise<void> {
      scratch = await mkdtemp(join(tmpdir(), "orderpulse-spark-producer-"));
      console.error(`[spark-baseline] starting the producer: ${rate} events/s, flat, for ${durationS} s, into ${topic}`);
      child = Bun.spawn(
        [process.execPath, "run", join(repoRoot, "workers/produce.ts"), "--rate", String(rate), "--flat", "--duration", `${durationS}s`,
          "--topic", topic, "--progress-every", "10s", "--summary-json", join(scratch, "summary.json")],
        { env: { ...process.env, KAFKA_BROKERS: brokers }, stdout: "ignore", stderr: "inherit" },
      );
    },
    async stop(): Promise<{ sent: number; elapsed_ms: number } | undefined> {
      if (!child || !scratch) return undefined;
      if (child.exitCode === null) child.kill("SIGTERM");
      await child.exited;
      const path = join(scratch, "summary.json");
      const summary = existsSync(path) ? (JSON.parse(await readFile(path, "utf8")) as { sent: number; elapsed_ms: number }) : undefined;
      await rm(scratch, { recursive: true, force: true });
      return summary;
    },
  };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Bun.argv.slice(2),
    allowPositionals: true,
    options: {
      brokers: { type: "string" },
      topic: { type: "string" },
      duration: { type: "string", default: "60" },
      "shuffle-partitions": { type: "string", default: "2" },
      "produce-rate": { type: "string" },
      partitions: { type: "string", default: "12" },
      log: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const mode = positionals[0];
  if (values.help || (mode !== "drain" && mode !== "latency") || !values.brokers || !values.topic) {
    console.error(
      "usage: bun run bench/baseline-spark/run.ts drain --brokers H:P --topic T [--shuffle-partitions 2] [--log PATH]\n" +
        "       bun run bench/baseline-spark/run.ts latency --brokers H:P --topic T [--duration 60] [--produce-rate R [--partitions 12]]",
    );
    process.exit(values.help ? 0 : 2);
  }
  const durationS = Number(values.duration);
  if (!(durationS > 0)) throw new RangeError(`--duration must be a positive number of seconds: got ${values.duration}`);
  const rate = values["produce-rate"] === undefined ? undefined : Number(values["produce-rate"]);
  if (rate !== undefined && !(rate > 0)) throw new RangeError(`--produce-rate must be a positive number: got ${values["produce-rate"]}`);
  let producer: ReturnType<typeof pacedProducer> | undefined;
  try {
    if (mode === "latency" && rate !== undefined) {
      // The topic must exist with its partitions before Spark subscribes, or the broker may
      // auto-create it with one.
      const { ensureTopics } = await import("../../lib/kafka/client.ts");
      await ensureTopics({ brokers: values.brokers.split(","), clientId: "spark-baseline" }, [
        { name: values.topic, partitions: Number(values.partitions) },
      ]);
      // Spark measures for durationS from the first event it sees, which comes some seconds after
      // the producer starts; the producer is stopped when Spark is done, this is only a bound.
      producer = pacedProducer(values.brokers, values.topic, rate, durationS + 60);
    }
    const result = await runSparkBaseline(mode, {
      brokers: values.brokers,
      topic: values.topic,
      durationS,
      shufflePartitions: Number(values["shuffle-partitions"]),
      logPath: values.log,
      onReady: producer ? () => producer!.start() : undefined,
    });
    const summary = await producer?.stop();
    if (summary) console.error(`[spark-baseline] producer kept ${Math.round(summary.sent / (summary.elapsed_ms / 1000))} events/s (${summary.sent} sent)`);
    console.log(JSON.stringify(result));
  } catch (error) {
    await producer?.stop();
    console.error(`spark baseline failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
