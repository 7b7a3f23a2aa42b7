/**
 * `bun run workers/lake-writer.ts`: the cold path. Reads `orders` in its own consumer group and
 * writes every valid event to the lake's Delta table at LAKE_URI (a directory or s3://bucket/prefix),
 * partitioned by event hour (`dt=YYYY-MM-DD/hour=HH/`), exactly once across crashes. The logic is
 * lib/lake/writer.ts, the fetch-and-flush loop lib/consume/run-lake-writer.ts; this file reads the
 * configuration and builds the clients.
 *
 * Offsets: the table is the source of truth (each flush's Delta commit carries, per Kafka
 * partition, a txn action with the last offset it covers; a second txn fences a writer that lost
 * the partition). The consumer group only assigns partitions; the worker fetches from exactly the
 * table's offsets (lib/kafka/group-fetcher.ts) and commits them to the group after each flush, for
 * lag tools only.
 */
import { newLakeWriterProgress, runLakeWriter } from "../lib/consume/run-lake-writer.ts";
import { connectionFromConfig, createConsumer, describeConnection, waitForBroker } from "../lib/kafka/client.ts";
import { checkLakeWritable, lakeSettings, openLakeStore, untilLakeAnswers } from "../lib/lake/open-store.ts";
import { EncoderThread } from "../lib/lake/encoder-thread.ts";
import { LakeWriter } from "../lib/lake/writer.ts";
import { parseCommand } from "../lib/runtime/cli.ts";
import { lakeWriterOps } from "../lib/consume/lake-writer-metrics.ts";
import { serveWorkerOps } from "../lib/ops/worker-ops.ts";
import { groupSettings, intParser, kafkaSettings, opsSettings, parseDurationMs, parseTopic, type SettingsSpec, topicSettings } from "../lib/runtime/config.ts";
import { log, runMain } from "../lib/runtime/worker-runtime.ts";
import { flagValue, UsageError } from "../lib/runtime/flag-values.ts";

const WORKER = "lake-writer";

const settings = {
  ...kafkaSettings,
  ORDERS_TOPIC: topicSettings.ORDERS_TOPIC,
  ...lakeSettings,
  ...groupSettings({ group: "LAKE_GROUP", instanceId: "LAKE_INSTANCE_ID" }, "lake writer", "orderpulse-lake"),
  ...opsSettings,
} satisfies SettingsSpec;

const command = {
  usage: "bun run workers/lake-writer.ts [options]",
  summary:
    "Writes every valid order event to the lake, a Delta Lake table on a local directory or S3:\n" +
    "one row per order (items nested), with its Kafka partition and offset, in partitions\n" +
    "dt=YYYY-MM-DD/hour=HH by event time (UTC). Invalid events are counted and skipped (the\n" +
    "aggregator forwards them to the DLQ); a valid event is kept whatever its created_at (time\n" +
    "bounds are the aggregator's). Each flush writes its Parquet files, then one Delta commit with\n" +
    "the files and each partition's last offset: exactly once across crashes, and a writer whose\n" +
    "partition another writer took over can no longer commit it (docs/lake.md).",
  flags: {
    "flush-interval": { type: "string", value: "DURATION", describe: "flush buffered events at least this often (default 30s)" },
    "flush-rows": { type: "string", value: "N", describe: "flush as soon as this many events are buffered (default 100000)" },
    "row-group-rows": { type: "string", value: "N", describe: "rows per Parquet row group (default 131072)" },
    "skip-lost-records": {
      type: "boolean",
      describe: "when Kafka deleted records (retention) before the lake read them, record the gap in the table and go on from the log's start instead of stopping",
    },
    "exit-when-idle": { type: "string", value: "DURATION", describe: "stop by itself after no records arrived for this long (tests, batch runs); it flushes as soon as it has read to the end of every partition" },
    "shutdown-timeout": { type: "string", value: "DURATION", describe: "on stop, how long the final flush, commit and leaving the group may take (default 30s)" },
    "metrics-port": { type: "string", value: "PORT", describe: "serve /metrics, /healthz and /readyz on this port (overrides METRICS_PORT)" },
  },
  settings,
} as const;

runMain(async (signal, { stopWithin }) => {
  const parsed = parseCommand(command, Bun.argv.slice(2), process.env);
  if (parsed.kind !== "run") return parsed;
  const { config, flags } = parsed;
  const duration = (flag: "flush-interval" | "exit-when-idle" | "shutdown-timeout", fallbackMs: number) => {
    const raw = flags[flag];
    if (typeof raw !== "string") return fallbackMs;
    try {
      return parseDurationMs(raw);
    } catch (error) {
      throw new UsageError(`--${flag}: ${(error as Error).message}`);
    }
  };
  const count = (flag: "flush-rows" | "row-group-rows", fallback: number) => {
    const raw = flags[flag];
    if (typeof raw !== "string") return fallback;
    try {
      return intParser(1, 100_000_000)(raw);
    } catch (error) {
      throw new UsageError(`--${flag}: ${(error as Error).message}`);
    }
  };
  const flushIntervalMs = duration("flush-interval", 30_000);
  const flushRows = count("flush-rows", 100_000);
  const exitWhenIdleMs = flags["exit-when-idle"] === undefined ? undefined : duration("exit-when-idle", 0);
  const shutdownTimeoutMs = duration("shutdown-timeout", 30_000);
  stopWithin(shutdownTimeoutMs);
  const metricsPort = flagValue("metrics-port", flags["metrics-port"], config.METRICS_PORT, intParser(0, 65_535));
  const topic = parseTopic(config.ORDERS_TOPIC);
  const conn = connectionFromConfig(config);
  const lake = openLakeStore(config, process.env);
  // Files are encoded on a thread of their own, beside the fetching and validating.
  const encoder = new EncoderThread();
  const writer = new LakeWriter(lake.store, {
    topic,
    clock: { now: () => Date.now() },
    rowGroupRows: count("row-group-rows", 131_072),
    encoder,
  });

  if (!(await waitForBroker(conn, { signal, onWait: (n) => n === 1 && log(WORKER, `waiting for Kafka at ${describeConnection(conn)}`) }))) {
    return log(WORKER, "stopped before Kafka answered");
  }
  if (!(await untilLakeAnswers(() => checkLakeWritable(lake), signal, (line) => log(WORKER, line)))) return log(WORKER, "stopped before the lake's object store answered");
  log(WORKER, `topic ${topic}, group ${config.LAKE_GROUP}, lake ${lake.where}, flush every ${flushIntervalMs} ms or ${flushRows} events`);

  const heartbeatIntervalMs = Math.max(100, Math.floor(config.KAFKA_SESSION_TIMEOUT / 5));
  const consumer = createConsumer(conn, {
    role: WORKER,
    groupId: config.LAKE_GROUP,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT,
    heartbeatIntervalMs,
    ...(config.LAKE_INSTANCE_ID ? { groupInstanceId: config.LAKE_INSTANCE_ID } : {}),
  });
  const progress = newLakeWriterProgress();
  const ops = metricsPort === null ? undefined : lakeWriterOps(writer, progress, { stallMs: config.READY_STALL_TIMEOUT, now: () => Date.now() });
  const served = ops && serveWorkerOps(ops, { port: metricsPort!, hostname: config.METRICS_HOST, now: () => Date.now(), log: (line) => log(WORKER, line) });
  await runLakeWriter({
    consumer,
    writer,
    topic,
    lakeUri: lake.where,
    group: { sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT, heartbeatIntervalMs },
    flushIntervalMs,
    flushRows,
    exitWhenIdleMs,
    skipLostRecords: flags["skip-lost-records"] === true,
    shutdownTimeoutMs,
    signal,
    log: (line, fields) => log(WORKER, line, fields && { fields }),
    progress,
  }).finally(async () => {
    encoder.close();
    await served?.close();
  });
});
