/**
 * `bun run pipeline`: the whole pipeline on this machine, no Docker. Starts a local Kafka broker
 * (unless KAFKA_BROKERS names one), creates the topics, runs each worker as its own Bun process,
 * and on Ctrl-C stops the workers (SIGTERM, so they flush and checkpoint) and then the broker.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { kafkaSettings, topicSettings } from "../lib/runtime/config.ts";
import { parseCommand } from "../lib/runtime/cli.ts";
import { FORWARD_TOPIC_CONFIG } from "../lib/consume/kafka-forwarder.ts";
import { connectionFromConfig, describeConnection, ensureTopics, type KafkaConnection } from "../lib/kafka/client.ts";
import { LocalBroker, localBrokerSettings } from "../lib/kafka/local-broker.ts";
import { log, runMain } from "../lib/runtime/worker-runtime.ts";
import { UsageError } from "../lib/runtime/flag-values.ts";
import { influxSettings, influxTarget } from "../lib/hot/influx-config.ts";
import { describeTarget } from "../lib/hot/influx-sink.ts";
import { readFileSync } from "node:fs";

const command = {
  usage: "bun run pipeline [--rate N] [--duration SECONDS]",
  summary:
    "Runs orderpulse locally, each process of its own:\n" +
    "  kafka        a local Kafka broker (a JVM; KAFKA_PORT, KAFKA_DATA_DIR), unless KAFKA_BROKERS is set\n" +
    "  produce      simulated order events into ORDERS_TOPIC (workers/produce.ts --rate)\n" +
    "  aggregate    the windowed aggregator, printing its live table (workers/aggregate.ts)\n" +
    "  lake-writer  every valid event into the lake at LAKE_URI (workers/lake-writer.ts)\n" +
    "  compact      the lake's compactor, every minute (workers/compact.ts --interval 1m)\n" +
    "Ctrl-C stops everything cleanly. Creates ORDERS_TOPIC, DLQ_TOPIC and LATE_TOPIC when missing\n" +
    "(README: Topics orderpulse creates).",
  flags: {
    rate: { type: "string", value: "N", describe: "orders per second the producer sends (default 20)" },
    duration: { type: "string", value: "SECONDS", describe: "stop by itself after this many seconds (default: run until Ctrl-C)" },
  },
  settings: { ...kafkaSettings, ...topicSettings, ...localBrokerSettings, ...influxSettings },
} as const;

interface WorkerSpec {
  name: string;
  script: string;
  args: string[];
  /** The worker whose stdout is the pipeline's display; the others' stdout goes to the log. */
  display?: boolean;
}

const repoRoot = resolve(import.meta.dirname, "..");

runMain(async (signal) => {
  const parsed = parseCommand(command, Bun.argv.slice(2), process.env);
  if (parsed.kind !== "run") return parsed;
  const { config, flags } = parsed;
  const rate = positiveNumber(flags.rate ?? "20", "--rate");
  const durationS = flags.duration === undefined ? undefined : positiveNumber(flags.duration, "--duration");

  // Checked before anything starts, so a missing token fails in one line, not in a worker.
  const hotPath = influxTarget(config, (path) => readFileSync(path, "utf8"));
  log(
    "pipeline",
    hotPath
      ? `hot path: window metrics to ${describeTarget(hotPath)}, and the console`
      : "hot path: the console only (set INFLUX_URL, and INFLUX_TOKEN for InfluxDB 2.x, to write to InfluxDB)",
  );

  let broker: LocalBroker | undefined;
  let conn: KafkaConnection = connectionFromConfig(config);
  if (!process.env.KAFKA_BROKERS) {
    if (config.KAFKA_SECURITY_PROTOCOL !== "PLAINTEXT") {
      throw new UsageError(
        `KAFKA_SECURITY_PROTOCOL=${config.KAFKA_SECURITY_PROTOCOL}, but the local broker speaks PLAINTEXT; set KAFKA_BROKERS to a broker configured for it`,
      );
    }
    broker = new LocalBroker({
      dataDir: config.KAFKA_DATA_DIR,
      port: config.KAFKA_PORT,
      heap: config.KAFKA_HEAP,
      version: config.KAFKA_VERSION,
      onProgress: (line) => log("pipeline", line),
    });
    await broker.start();
    conn = { ...conn, brokers: [broker.bootstrap] };
  }
  log("pipeline", `Kafka at ${describeConnection(conn)}`);

  const created = await ensureTopics(conn, [
    { name: config.ORDERS_TOPIC, partitions: config.ORDERS_PARTITIONS, replicas: -1 },
    { name: config.DLQ_TOPIC, partitions: 1, configs: FORWARD_TOPIC_CONFIG, replicas: -1 },
    { name: config.LATE_TOPIC, partitions: 1, configs: FORWARD_TOPIC_CONFIG, replicas: -1 },
  ]);
  log("pipeline", created.length > 0 ? `created topics ${created.join(", ")}` : "topics exist");

  const workers: WorkerSpec[] = [
    {
      name: "produce",
      script: "workers/produce.ts",
      // A few of each fault, so the late, duplicate and invalid counters move while you watch.
      args: ["--rate", String(rate), "--late-fraction", "0.02", "--out-of-order", "0.1", "--duplicate-fraction", "0.01", "--malformed-fraction", "0.005"],
    },
    // Its default sinks: the console, plus InfluxDB when INFLUX_URL is set.
    { name: "aggregate", script: "workers/aggregate.ts", args: [], display: true },
    // The cold path: the lake's Delta table at LAKE_URI (docs/lake.md).
    { name: "lake-writer", script: "workers/lake-writer.ts", args: [] },
    { name: "compact", script: "workers/compact.ts", args: ["--interval", "1m"] },
  ];
  const env = { ...process.env, KAFKA_BROKERS: conn.brokers.join(",") };
  const running = workers.map((spec) => startWorker(spec, env));

  const stopReason = await Promise.race([
    new Promise<string>((r) => signal.addEventListener("abort", () => r("stop requested"), { once: true })),
    ...running.map((w) => w.exited.then((code) => `worker ${w.spec.name} exited with code ${code}`)),
    ...(durationS === undefined ? [] : [Bun.sleep(durationS * 1000).then(() => `ran for ${durationS} s`)]),
  ]);
  log("pipeline", `${stopReason}; stopping workers`);
  const codes = await Promise.all(running.map((w) => w.stop()));
  if (broker) {
    log("pipeline", "stopping Kafka");
    await broker.stop();
  }
  const failed = running.filter((w, i) => codes[i] !== 0 && codes[i] !== null);
  if (failed.length > 0) {
    throw new Error(`worker(s) ${failed.map((w) => w.spec.name).join(", ")} failed; their last log lines are above`);
  }
  log("pipeline", "stopped");
});

function positiveNumber(raw: string, flag: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`${flag} must be a positive number: got ${JSON.stringify(raw)}`);
  return value;
}

function startWorker(spec: WorkerSpec, env: Record<string, string | undefined>) {
  // Its own process group: a terminal's Ctrl-C reaches only the pipeline, which then stops each
  // worker with one SIGTERM (a worker takes a second signal as "exit without cleanup").
  const child: ChildProcess = spawn(process.execPath, ["run", spec.script, ...spec.args], {
    cwd: repoRoot,
    env: { ...env, ORDERPULSE_PARENT_PID: String(process.pid) },
    stdio: ["ignore", spec.display ? "inherit" : "pipe", "pipe"],
    detached: true,
  });
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on("line", (line) => process.stderr.write(`${line}\n`));
  }
  const exited = new Promise<number | null>((r) => child.once("exit", (code, sig) => r(code ?? (sig ? 128 : null))));
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });
  return {
    spec,
    exited,
    /** SIGTERM, then SIGKILL after 20 s; resolves with the exit code. */
    async stop(): Promise<number | null> {
      if (exitCode !== undefined) return exitCode;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
