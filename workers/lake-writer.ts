/**
 * `bun run workers/lake-writer.ts`: the cold path. Reads `orders` in its own consumer group and
 * writes every valid event to the Parquet lake under LAKE_DIR, Hive-partitioned by event hour
 * (`dt=YYYY-MM-DD/hour=HH/`), exactly once across crashes. The logic is lib/lake/writer.ts, the
 * fetch-and-flush loop lib/consume/run-lake-writer.ts; this file reads the configuration and builds the clients.
 *
 * Offsets: the lake is the source of truth (`LAKE_DIR/_offsets/partition-N/`, a log whose newest
 * entry is appended after the files it covers, and which fences a writer that lost the partition).
 * The consumer group only assigns partitions; the worker fetches from exactly the lake's offsets
 * (lib/kafka/group-fetcher.ts) and commits them to the group after each flush, for lag tools only.
 */
import { runLakeWriter } from "../lib/consume/run-lake-writer.ts";
import { connectionFromConfig, createConsumer, describeConnection, waitForBroker } from "../lib/kafka/client.ts";
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { LakeWriter } from "../lib/lake/writer.ts";
import { parseCommand } from "../lib/runtime/cli.ts";
import { groupSettings, intParser, kafkaSettings, parseDurationMs, parseTopic, type SettingsSpec, topicSettings } from "../lib/runtime/config.ts";
import { log, runMain } from "../lib/runtime/worker-runtime.ts";

const WORKER = "lake-writer";

const settings = {
  ...kafkaSettings,
  ORDERS_TOPIC: topicSettings.ORDERS_TOPIC,
  LAKE_DIR: {
    describe: "root of the orders table in the lake (Hive partitions dt=/hour= below it)",
    form: "a directory path",
    default: "data/lake/orders",
    parse: (raw: string) => raw,
  },
  ...groupSettings({ group: "LAKE_GROUP", instanceId: "LAKE_INSTANCE_ID" }, "lake writer", "orderpulse-lake"),
} satisfies SettingsSpec;

const command = {
  usage: "bun run workers/lake-writer.ts [options]",
  summary:
    "Writes every valid order event to the Parquet lake, one row per order (items nested), with\n" +
    "its Kafka partition and offset, in Hive partitions dt=YYYY-MM-DD/hour=HH by event time (UTC).\n" +
    "Invalid events are counted and skipped (the aggregator forwards them to the DLQ); a valid event\n" +
    "is kept whatever its created_at (time bounds are the aggregator's). Each flush writes its files\n" +
    "atomically and then commits the offsets in the lake: exactly once across crashes, and a writer\n" +
    "whose partition another writer took over can no longer commit it (docs/lake.md).",
  flags: {
    "flush-interval": { type: "string", value: "DURATION", describe: "flush buffered events at least this often (default 30s)" },
    "flush-rows": { type: "string", value: "N", describe: "flush as soon as this many events are buffered (default 20000)" },
    "row-group-rows": { type: "string", value: "N", describe: "rows per Parquet row group (default 131072)" },
    "skip-lost-records": {
      type: "boolean",
      describe: "when Kafka deleted records (retention) before the lake read them, record the gap in the lake's offsets and go on from the log's start instead of stopping",
    },
    "exit-when-idle": { type: "string", value: "DURATION", describe: "flush and stop by itself after no records arrived for this long (tests, batch runs)" },
    "shutdown-timeout": { type: "string", value: "DURATION", describe: "on stop, how long the final flush, commit and leaving the group may take (default 30s)" },
  },
  settings,
} as const;

runMain(async (signal) => {
  const parsed = parseCommand(command, Bun.argv.slice(2), process.env);
  if (parsed.kind !== "run") return parsed;
  const { config, flags } = parsed;
  const duration = (flag: "flush-interval" | "exit-when-idle" | "shutdown-timeout", fallbackMs: number) => {
    const raw = flags[flag];
    if (typeof raw !== "string") return fallbackMs;
    try {
      return parseDurationMs(raw);
    } catch (error) {
      throw new RangeError(`--${flag}: ${(error as Error).message}`);
    }
  };
  const count = (flag: "flush-rows" | "row-group-rows", fallback: number) => {
    const raw = flags[flag];
    if (typeof raw !== "string") return fallback;
    try {
      return intParser(1, 100_000_000)(raw);
    } catch (error) {
      throw new RangeError(`--${flag}: ${(error as Error).message}`);
    }
  };
  const flushIntervalMs = duration("flush-interval", 30_000);
  const flushRows = count("flush-rows", 20_000);
  const exitWhenIdleMs = flags["exit-when-idle"] === undefined ? undefined : duration("exit-when-idle", 0);
  const topic = parseTopic(config.ORDERS_TOPIC);
  const conn = connectionFromConfig(config);
  const store = new FileLakeStore(config.LAKE_DIR);
  const writer = new LakeWriter(store, {
    topic,
    clock: { now: () => Date.now() },
    rowGroupRows: count("row-group-rows", 131_072),
  });

  if (!(await waitForBroker(conn, { signal, onWait: (n) => n === 1 && log(WORKER, `waiting for Kafka at ${describeConnection(conn)}`) }))) {
    return log(WORKER, "stopped before Kafka answered");
  }
  log(WORKER, `topic ${topic}, group ${config.LAKE_GROUP}, lake ${config.LAKE_DIR}, flush every ${flushIntervalMs} ms or ${flushRows} events`);

  const heartbeatIntervalMs = Math.max(100, Math.floor(config.KAFKA_SESSION_TIMEOUT / 5));
  const consumer = createConsumer(conn, {
    role: WORKER,
    groupId: config.LAKE_GROUP,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT,
    heartbeatIntervalMs,
    ...(config.LAKE_INSTANCE_ID ? { groupInstanceId: config.LAKE_INSTANCE_ID } : {}),
  });
  await runLakeWriter({
    consumer,
    writer,
    store,
    topic,
    lakeDir: config.LAKE_DIR,
    group: { sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT, heartbeatIntervalMs },
    flushIntervalMs,
    flushRows,
    exitWhenIdleMs,
    skipLostRecords: flags["skip-lost-records"] === true,
    shutdownTimeoutMs: duration("shutdown-timeout", 30_000),
    signal,
    log: (line) => log(WORKER, line),
  });
});
