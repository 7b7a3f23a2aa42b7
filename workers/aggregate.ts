/**
 * `bun run workers/aggregate.ts`: 1-minute event-time tumbling windows over `orders` with a
 * 2-minute watermark, de-duplication, late and invalid events routed to their own topics, and a
 * checkpoint file per partition that makes results exactly-once across crashes and rebalances.
 * The logic lives in lib/window/ (the engine, the rules, checkpoints); lib/consume/ feeds it from
 * the group's partitions and runs the stop protocol. This file reads the configuration, builds the
 * clients and starts the run.
 *
 * Offsets: the checkpoint is the source of truth. The consumer group only decides which worker
 * owns which partition. On every assignment the worker loads the checkpoints of its partitions
 * and fetches from exactly their next offsets (lib/kafka/group-fetcher.ts); offsets are committed to
 * the group only after the checkpoint holding them is saved (for lag tools), never before.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AssignedFeed } from "../lib/consume/assigned-feed.ts";
import { FORWARD_TOPIC_CONFIG, KafkaForwarder } from "../lib/consume/kafka-forwarder.ts";
import { runAggregator } from "../lib/consume/run-aggregator.ts";
import { influxSettings, influxTarget } from "../lib/hot/influx-config.ts";
import { windowTag } from "../lib/hot/influx-points.ts";
import { sinksFromSpec } from "../lib/hot/sinks-from-spec.ts";
import { ChangelogStore, CHANGELOG_TOPIC_CONFIG } from "../lib/consume/changelog-store.ts";
import { connectionFromConfig, createConsumer, createProducer, describeConnection, ensureTopics, type KafkaConnection, type OrderConsumer, partitionCount, topicMaxMessageBytes, waitForBroker } from "../lib/kafka/client.ts";
import { parseCommand } from "../lib/runtime/cli.ts";
import { aggregatorOps } from "../lib/consume/aggregator-metrics.ts";
import { serveWorkerOps } from "../lib/ops/worker-ops.ts";
import { groupSettings, intParser, kafkaSettings, oneOf, opsSettings, parseDurationMs, parseTopic, type SettingsSpec, topicSettings } from "../lib/runtime/config.ts";
import { log, runMain } from "../lib/runtime/worker-runtime.ts";
import { flagValue, UsageError } from "../lib/runtime/flag-values.ts";
import { AggregatorEngine, type ResetPolicy } from "../lib/window/aggregator-engine.ts";
import { FileCheckpointStore } from "../lib/window/file-checkpoint-store.ts";
import { SnapshotStore, type StateStoreContext } from "../lib/window/state-store.ts";

const WORKER = "aggregate";

const settings = {
  ...kafkaSettings,
  ...topicSettings,
  ...influxSettings,
  STATE_STORE: {
    describe: "where each partition's window state is kept: kafka (a compacted changelog topic, written incrementally; workers need no shared disk) or file (CHECKPOINT_DIR, whole state each time; one host)",
    form: "kafka or file",
    default: "kafka",
    parse: oneOf(["kafka", "file"] as const),
  },
  CHANGELOG_TOPIC: {
    describe: "the state's changelog topic (STATE_STORE=kafka), created compacted with as many partitions as ORDERS_TOPIC when missing",
    form: "a topic name, or unset for <AGGREGATE_GROUP>-<ORDERS_TOPIC>-changelog",
    default: "",
    parse: (raw: string) => (raw === "" ? "" : parseTopic(raw)),
  },
  CHECKPOINT_DIR: {
    describe: "directory of the checkpoint files when STATE_STORE=file; several hosts would need it shared",
    form: "a directory path",
    default: "data/checkpoints",
    parse: (raw: string) => raw,
  },
  ...groupSettings({ group: "AGGREGATE_GROUP", instanceId: "AGGREGATE_INSTANCE_ID" }, "aggregator", "orderpulse-aggregate"),
  ...opsSettings,
} satisfies SettingsSpec;

const command = {
  usage: "bun run workers/aggregate.ts [options]",
  summary:
    "Aggregates order events into event-time tumbling windows per Kafka partition: orders, revenue\n" +
    "(USD cents, exact), items, distinct customers, by category and by country. Emits open windows\n" +
    "as they change (update mode) and once more, final, when the watermark closes them.\n" +
    "Invalid events go to DLQ_TOPIC and late ones to LATE_TOPIC, each with the reason. Creates those\n" +
    "two and the state's CHANGELOG_TOPIC when missing, with the broker's replication factor and the\n" +
    "settings the README lists (Topics orderpulse creates); existing topics are used as they are.",
  flags: {
    window: { type: "string", value: "DURATION", describe: "window size (default 1m)" },
    watermark: { type: "string", value: "DURATION", describe: "watermark delay behind the largest event time (default 2m)" },
    "emit-interval": { type: "string", value: "DURATION", describe: "at most one update per open window per interval (default 1s)" },
    "idle-timeout": { type: "string", value: "DURATION", describe: "a partition without records this long lets its watermark follow the clock (default 30s)" },
    "max-future": { type: "string", value: "DURATION", describe: "created_at further ahead of its record's Kafka timestamp is invalid (default 5m)" },
    "max-past": { type: "string", value: "DURATION", describe: "created_at further behind its record's Kafka timestamp is invalid (default 1d = 24h)" },
    "max-ahead": { type: "string", value: "DURATION", describe: "an event moves the watermark at most this far past its record's timestamp (default 10s)" },
    "max-dimension-values": { type: "string", value: "N", describe: "categories/countries per window before 'other' (default 50)" },
    "checkpoint-interval": { type: "string", value: "DURATION", describe: "how often state is checkpointed (default 5s)" },
    reset: { type: "string", value: "earliest|latest", describe: "start partitions whose checkpoint is missing or unusable there, with empty state" },
    sink: {
      type: "string",
      value: "LIST",
      describe: "comma-separated: console, jsonl:PATH, influx (default: console, plus influx when INFLUX_URL is set)",
    },
    "influx-buffer": { type: "string", value: "N", describe: "lines the InfluxDB sink holds while its server is away before fetching pauses (default 200000)" },
    "shutdown-timeout": { type: "string", value: "DURATION", describe: "on stop, how long the whole stop may take, from the request to the exit: the sinks taking the last results, the final checkpoint, closing the clients (default 30s)" },
    "no-late-topic": { type: "boolean", describe: "count late events but do not forward them" },
    "latency-sample": { type: "string", value: "N", describe: "measure created_at-to-emission latency on every Nth counted event; report p50/p99 at exit (default off; 100 when metrics are served)" },
    "metrics-port": { type: "string", value: "PORT", describe: "serve /metrics, /healthz and /readyz on this port (overrides METRICS_PORT)" },
    "exit-when-idle": { type: "string", value: "DURATION", describe: "stop by itself after no records arrived for this long (tests, batch runs)" },
  },
  settings,
} as const;

runMain(async (signal, { stopWithin }) => {
  const parsed = parseCommand(command, Bun.argv.slice(2), process.env);
  if (parsed.kind !== "run") return parsed;
  const { config, flags } = parsed;
  const duration = (flag: keyof typeof flags, fallbackMs: number) => {
    const raw = flags[flag];
    if (typeof raw !== "string") return fallbackMs;
    try {
      return parseDurationMs(raw);
    } catch (error) {
      throw new UsageError(`--${String(flag)}: ${(error as Error).message}`);
    }
  };
  const windowSizeMs = duration("window", 60_000);
  const watermarkDelayMs = duration("watermark", 120_000);
  const emitIntervalMs = duration("emit-interval", 1_000);
  const idleTimeoutMs = duration("idle-timeout", 30_000);
  const checkpointIntervalMs = duration("checkpoint-interval", 5_000);
  const exitWhenIdleMs = flags["exit-when-idle"] === undefined ? undefined : duration("exit-when-idle", 0);
  const shutdownTimeoutMs = duration("shutdown-timeout", 30_000);
  stopWithin(shutdownTimeoutMs);
  const reset: ResetPolicy | undefined = flagValue("reset", flags.reset, undefined, oneOf(["earliest", "latest"] as const));
  const maxDimensionValues = flagValue("max-dimension-values", flags["max-dimension-values"], 50, intParser(0, 10_000));
  const topic = parseTopic(config.ORDERS_TOPIC);
  const conn = connectionFromConfig(config);
  const target = influxTarget(config, (path) => readFileSync(path, "utf8"));
  const influxBuffer = flagValue("influx-buffer", flags["influx-buffer"], 200_000, intParser(100, 100_000_000));
  const metricsPort = flagValue("metrics-port", flags["metrics-port"], config.METRICS_PORT, intParser(0, 65_535));
  const sinks = sinksFromSpec(flags.sink ?? (target ? "console,influx" : "console"), target, {
    window: windowTag(windowSizeMs),
    maxBufferedLines: influxBuffer,
    log: (line) => log(WORKER, line),
  }, process.stdout.isTTY === true);

  if (!(await waitForBroker(conn, { signal, onWait: (n) => n === 1 && log(WORKER, `waiting for Kafka at ${describeConnection(conn)}`) }))) {
    return log(WORKER, "stopped before Kafka answered");
  }
  await ensureTopics(conn, [
    { name: config.DLQ_TOPIC, partitions: 1, configs: FORWARD_TOPIC_CONFIG, replicas: -1 },
    { name: config.LATE_TOPIC, partitions: 1, configs: FORWARD_TOPIC_CONFIG, replicas: -1 },
  ]);

  const producer = createProducer(conn, { role: `${WORKER}-forward` });
  const forwarder = new KafkaForwarder(producer, { maxMessageBytes: (name) => topicMaxMessageBytes(conn, name) });
  const heartbeatIntervalMs = Math.max(100, Math.floor(config.KAFKA_SESSION_TIMEOUT / 5));
  const consumer = createConsumer(conn, {
    role: WORKER,
    groupId: config.AGGREGATE_GROUP,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT,
    heartbeatIntervalMs,
    ...(config.AGGREGATE_INSTANCE_ID ? { groupInstanceId: config.AGGREGATE_INSTANCE_ID } : {}),
  });
  const state = await stateStores(config, topic, conn, consumer);
  const engine = new AggregatorEngine({
    topic,
    dlqTopic: config.DLQ_TOPIC,
    lateTopic: flags["no-late-topic"] ? null : config.LATE_TOPIC,
    settings: { windowSizeMs, watermarkDelayMs, maxDimensionValues, maxAheadMs: duration("max-ahead", 10_000) },
    emitIntervalMs,
    idleTimeoutMs,
    maxFutureMs: duration("max-future", 5 * 60_000),
    maxPastMs: duration("max-past", 24 * 3_600_000),
    clock: { now: () => Date.now() },
    sinks,
    forwarder,
    stateStore: state.storeFor,
    ...(reset ? { reset } : {}),
    worker: WORKER,
    latencySampleEvery: flagValue("latency-sample", flags["latency-sample"], metricsPort === null ? 0 : 100, intParser(1, 1_000_000)),
    onLatency: (ms) => ops?.latency.observe(ms / 1000),
  });
  const ops = metricsPort === null ? undefined : aggregatorOps(engine, sinks, { stallMs: config.READY_STALL_TIMEOUT, now: () => Date.now() });
  const served = ops && serveWorkerOps(ops, { port: metricsPort!, hostname: config.METRICS_HOST, now: () => Date.now(), log: (line) => log(WORKER, line) });
  log(
    WORKER,
    `topic ${topic}, group ${config.AGGREGATE_GROUP}, window ${windowSizeMs} ms, watermark ${watermarkDelayMs} ms, ` +
      `state in ${state.where}, sinks ${sinks.map((s) => s.name).join(", ")}`,
  );

  const feed = new AssignedFeed(consumer, engine, {
    topic,
    group: { sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT, heartbeatIntervalMs },
    sinks,
    forwarder,
    onReset: (_partition, why) => log(WORKER, `reset: ${why}`),
    log: (line) => log(WORKER, line),
  });
  try {
    await runAggregator({
      engine,
      feed,
      sinks,
      producer,
      stateProducer: state.producer,
      emitIntervalMs,
      checkpointIntervalMs,
      exitWhenIdleMs,
      shutdownTimeoutMs,
      signal,
      log: (line, fields) => log(WORKER, line, fields && { fields }),
    });
  } finally {
    await served?.close();
  }
});

/** The state stores of the configured kind, where they are (for the log), and the changelog's producer. */
async function stateStores(
  config: { STATE_STORE: string; CHANGELOG_TOPIC: string; CHECKPOINT_DIR: string; AGGREGATE_GROUP: string },
  topic: string,
  conn: KafkaConnection,
  consumer: OrderConsumer,
) {
  if (config.STATE_STORE === "file") {
    const root = join(config.CHECKPOINT_DIR, config.AGGREGATE_GROUP, topic);
    return {
      where: `checkpoint files under ${root}`,
      producer: undefined,
      storeFor: (c: StateStoreContext) => new SnapshotStore(new FileCheckpointStore(join(root, `partition-${c.partition}.ckpt`)), c),
    };
  }
  const changelog = config.CHANGELOG_TOPIC || `${config.AGGREGATE_GROUP}-${topic}-changelog`;
  const producer = createProducer(conn, { role: `${WORKER}-state`, compression: "none" });
  // Created at the first assignment: the input topic exists then, and gives the partition count.
  let ensured: Promise<void> | undefined;
  const ensure = () =>
    (ensured ??= partitionCount(consumer, topic)
      .then((partitions) => ensureTopics(conn, [{ name: changelog, partitions, configs: CHANGELOG_TOPIC_CONFIG, replicas: -1 }]))
      .then(
        () => {},
        (error) => {
          ensured = undefined; // tried again at the next assignment
          throw error;
        },
      ));
  return {
    where: `changelog topic ${changelog}`,
    producer,
    storeFor: (c: StateStoreContext) => new ChangelogStore({ consumer, producer, topic: changelog, ensure }, c),
  };
}
