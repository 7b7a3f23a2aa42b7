/**
 * `bun run workers/aggregate.ts`: 1-minute event-time tumbling windows over `orders` with a
 * 2-minute watermark, de-duplication, late and invalid events routed to their own topics, and a
 * checkpoint file per partition that makes results exactly-once across crashes and rebalances.
 * The logic lives in lib/window/aggregator-engine.ts and lib/window/partition-aggregator.ts; this file is the
 * Kafka shell around it.
 *
 * Offsets: the checkpoint is the source of truth. The consumer group only decides which worker
 * owns which partition. On every assignment the worker loads the checkpoints of its partitions
 * and fetches from exactly their next offsets (lib/kafka/group-fetcher.ts); offsets are committed to
 * the group only after the checkpoint holding them is saved (for lag tools), never before.
 */
import { join } from "node:path";
import { AggregatorEngine, type ResetPolicy } from "../lib/window/aggregator-engine.ts";
import { CheckpointError } from "../lib/window/checkpoint.ts";
import { parseCommand } from "../lib/runtime/cli.ts";
import { groupSettings, intParser, kafkaSettings, oneOf, parseDurationMs, parseTopic, type SettingsSpec, topicSettings } from "../lib/runtime/config.ts";
import { ConsoleSink } from "../lib/hot/console-sink.ts";
import { FileCheckpointStore } from "../lib/window/file-checkpoint-store.ts";
import { JsonlSink } from "../lib/hot/jsonl-sink.ts";
import { GroupFetcher, OffsetOutOfRangeError } from "../lib/kafka/group-fetcher.ts";
import { connectionFromConfig, createConsumer, createProducer, describeConnection, ensureTopics, type OrderConsumer, waitForBroker } from "../lib/kafka/client.ts";
import { KafkaForwarder } from "../lib/consume/kafka-forwarder.ts";
import type { ResultSink } from "../lib/window/result-sink.ts";
import { influxSettings, influxTarget } from "../lib/hot/influx-config.ts";
import { InfluxSink, type InfluxTarget } from "../lib/hot/influx-sink.ts";
import { windowTag } from "../lib/hot/influx-points.ts";
import { readFileSync } from "node:fs";
import { describeError, log, peakRssBytes, runMain } from "../lib/runtime/worker-runtime.ts";

const WORKER = "aggregate";

const settings = {
  ...kafkaSettings,
  ...topicSettings,
  ...influxSettings,
  CHECKPOINT_DIR: {
    describe: "directory of the checkpoint files; several hosts need a shared directory",
    form: "a directory path",
    default: "data/checkpoints",
    parse: (raw: string) => raw,
  },
  ...groupSettings({ group: "AGGREGATE_GROUP", instanceId: "AGGREGATE_INSTANCE_ID" }, "aggregator", "orderpulse-aggregate"),
} satisfies SettingsSpec;

const command = {
  usage: "bun run workers/aggregate.ts [options]",
  summary:
    "Aggregates order events into event-time tumbling windows per Kafka partition: orders, revenue\n" +
    "(USD cents, exact), items, distinct customers, by category and by country. Emits open windows\n" +
    "as they change (update mode) and once more, final, when the watermark closes them.\n" +
    "Invalid events go to DLQ_TOPIC and late ones to LATE_TOPIC, each with the reason.",
  flags: {
    window: { type: "string", value: "DURATION", describe: "window size (default 1m)" },
    watermark: { type: "string", value: "DURATION", describe: "watermark delay behind the largest event time (default 2m)" },
    "emit-interval": { type: "string", value: "DURATION", describe: "at most one update per open window per interval (default 1s)" },
    "idle-timeout": { type: "string", value: "DURATION", describe: "a partition without records this long lets its watermark follow the clock (default 30s)" },
    "max-future": { type: "string", value: "DURATION", describe: "created_at further ahead of the clock is invalid (default 5m)" },
    "max-past": { type: "string", value: "DURATION", describe: "created_at further behind the clock is invalid (default 1d = 24h)" },
    "max-dimension-values": { type: "string", value: "N", describe: "categories/countries per window before 'other' (default 50)" },
    "checkpoint-interval": { type: "string", value: "DURATION", describe: "how often state is checkpointed (default 5s)" },
    reset: { type: "string", value: "earliest|latest", describe: "start partitions whose checkpoint is missing or unusable there, with empty state" },
    sink: {
      type: "string",
      value: "LIST",
      describe: "comma-separated: console, jsonl:PATH, influx (default: console, plus influx when INFLUX_URL is set)",
    },
    "influx-buffer": { type: "string", value: "N", describe: "lines the InfluxDB sink holds while its server is away before fetching pauses (default 200000)" },
    "shutdown-timeout": { type: "string", value: "DURATION", describe: "on stop, how long to wait for sinks to take the last results (default 30s)" },
    "no-late-topic": { type: "boolean", describe: "count late events but do not forward them" },
    "latency-sample": { type: "string", value: "N", describe: "measure created_at-to-emission latency on every Nth counted event; report p50/p99 at exit (default off)" },
    "exit-when-idle": { type: "string", value: "DURATION", describe: "stop by itself after no records arrived for this long (tests, batch runs)" },
  },
  settings,
} as const;

runMain(async (signal) => {
  const parsed = parseCommand(command, Bun.argv.slice(2), process.env);
  if (parsed.kind !== "run") return parsed;
  const { config, flags } = parsed;
  const duration = (flag: keyof typeof flags, fallbackMs: number) => {
    const raw = flags[flag];
    if (typeof raw !== "string") return fallbackMs;
    try {
      return parseDurationMs(raw);
    } catch (error) {
      throw new RangeError(`--${String(flag)}: ${(error as Error).message}`);
    }
  };
  const windowSizeMs = duration("window", 60_000);
  const watermarkDelayMs = duration("watermark", 120_000);
  const emitIntervalMs = duration("emit-interval", 1_000);
  const idleTimeoutMs = duration("idle-timeout", 30_000);
  const checkpointIntervalMs = duration("checkpoint-interval", 5_000);
  const exitWhenIdleMs = flags["exit-when-idle"] === undefined ? undefined : duration("exit-when-idle", 0);
  const reset = flags.reset === undefined ? undefined : (oneOf(["earliest", "latest"] as const)(flags.reset) as ResetPolicy);
  const maxDimensionValues = flags["max-dimension-values"] ? intParser(0, 10_000)(flags["max-dimension-values"]) : 50;
  const topic = parseTopic(config.ORDERS_TOPIC);
  const conn = connectionFromConfig(config);
  const target = influxTarget(config, (path) => readFileSync(path, "utf8"));
  const influxBuffer = flags["influx-buffer"] ? intParser(100, 100_000_000)(flags["influx-buffer"]) : 200_000;
  const sinks = buildSinks(flags.sink ?? (target ? "console,influx" : "console"), target, { window: windowTag(windowSizeMs), maxBufferedLines: influxBuffer });

  await waitForBroker(conn, { onWait: (n) => n === 1 && log(WORKER, `waiting for Kafka at ${describeConnection(conn)}`) });
  await ensureTopics(conn, [
    { name: config.DLQ_TOPIC, partitions: 1 },
    { name: config.LATE_TOPIC, partitions: 1 },
  ]);

  const producer = createProducer(conn, { role: `${WORKER}-forward` });
  const forwarder = new KafkaForwarder(producer);
  const checkpointRoot = join(config.CHECKPOINT_DIR, config.AGGREGATE_GROUP, topic);
  const engine = new AggregatorEngine({
    topic,
    dlqTopic: config.DLQ_TOPIC,
    lateTopic: flags["no-late-topic"] ? null : config.LATE_TOPIC,
    settings: { windowSizeMs, watermarkDelayMs, maxDimensionValues },
    emitIntervalMs,
    idleTimeoutMs,
    maxFutureMs: duration("max-future", 5 * 60_000),
    maxPastMs: duration("max-past", 24 * 3_600_000),
    clock: { now: () => Date.now() },
    sinks,
    forwarder,
    checkpointStore: (partition) => new FileCheckpointStore(join(checkpointRoot, `partition-${partition}.ckpt`)),
    ...(reset ? { reset } : {}),
    worker: WORKER,
    latencySampleEvery: flags["latency-sample"] ? intParser(1, 1_000_000)(flags["latency-sample"]) : 0,
  });
  log(
    WORKER,
    `topic ${topic}, group ${config.AGGREGATE_GROUP}, window ${windowSizeMs} ms, watermark ${watermarkDelayMs} ms, ` +
      `checkpoints in ${checkpointRoot}, sinks ${sinks.map((s) => s.name).join(", ")}`,
  );

  const consumer = createConsumer(conn, {
    role: WORKER,
    groupId: config.AGGREGATE_GROUP,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT,
    heartbeatIntervalMs: Math.max(100, Math.floor(config.KAFKA_SESSION_TIMEOUT / 5)),
    ...(config.AGGREGATE_INSTANCE_ID ? { groupInstanceId: config.AGGREGATE_INSTANCE_ID } : {}),
  });
  const feed = new AssignedFeed(
    consumer,
    topic,
    engine,
    { sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT, heartbeatIntervalMs: Math.max(100, Math.floor(config.KAFKA_SESSION_TIMEOUT / 5)) },
    (_partition, why) => log(WORKER, `reset: ${why}`),
    sinks,
    forwarder,
  );
  let fatal: unknown;
  const fail = (error: unknown) => {
    fatal ??= error;
    feed.stop();
  };

  // Update-mode emissions, idle watermarks, checkpoints, metrics: all on timers between records.
  let checkpointing: Promise<void> | undefined;
  const takeCheckpoint = async () => {
    const saved = await engine.checkpoint((p) => feed.owns(p));
    if (saved.size > 0) await feed.commit(saved);
  };
  const emitTimer = setInterval(() => void engine.tick().catch(fail), Math.min(200, Math.max(20, emitIntervalMs / 5)));
  const checkpointTimer = setInterval(() => {
    if (checkpointing) return;
    checkpointing = takeCheckpoint().catch(fail).finally(() => (checkpointing = undefined));
  }, checkpointIntervalMs);
  let lastRecords = 0;
  let lastMetricsAt = performance.now();
  let lastRecordAt = performance.now();
  const metricsTimer = setInterval(async () => {
    const now = performance.now();
    const rate = ((engine.totals.records - lastRecords) * 1000) / (now - lastMetricsAt);
    if (engine.totals.records !== lastRecords) lastRecordAt = now;
    lastRecords = engine.totals.records;
    lastMetricsAt = now;
    const metrics = engine.metrics(rate);
    await Promise.all(sinks.map((s) => s.writeMetrics(metrics))).catch(fail);
    const watermarks = metrics.partitions
      .map((p) => `${p.partition}:${Number.isFinite(p.watermarkMs) ? new Date(p.watermarkMs).toISOString().slice(11, 19) : "-"}${p.lag === null ? "" : `/lag ${p.lag}`}`)
      .join(" ");
    const t = engine.totals;
    log(
      WORKER,
      `${Math.round(rate)} events/s; records ${t.records}: counted ${t.counted}, late ${t.late}, duplicates ${t.duplicates}, ` +
        `invalid ${t.invalid}; rss ${Math.round(process.memoryUsage.rss() / 1e6)} MB (peak ${Math.round(peakRssBytes() / 1e6)}); watermarks ${watermarks || "(no partitions)"}`,
    );
    // Idle means: nothing new, nothing left to read, and not merely paused by backpressure or
    // cut off from the broker (time without an answer is not idleness). A worker that has read
    // nothing yet waits for its first record, unless it resumed from a checkpoint: then an earlier
    // run read up to there, and one restarted at the end of the data (its predecessor read and
    // checkpointed all of it) has nothing to wait for.
    const readable = !feed.paused && now - (feed.lastUnreadAtMs ?? -Infinity) >= exitWhenIdleMs!;
    if (exitWhenIdleMs !== undefined && (t.records > 0 || feed.resumed) && now - lastRecordAt >= exitWhenIdleMs && readable && engine.caughtUp()) {
      log(WORKER, `no records for ${exitWhenIdleMs} ms; stopping (--exit-when-idle)`);
      feed.stop();
    }
  }, exitWhenIdleMs === undefined ? 5_000 : Math.min(5_000, Math.max(250, exitWhenIdleMs / 4)));
  signal.addEventListener("abort", () => feed.stop(), { once: true });

  try {
    await feed.run();
  } catch (error) {
    fatal ??= error;
  }
  clearInterval(emitTimer);
  clearInterval(checkpointTimer);
  clearInterval(metricsTimer);

  // One deadline for the whole stop, including a periodic checkpoint still in flight: that one
  // waits for the sinks too, and a sink whose server is away would otherwise hold the stop forever.
  const shutdownTimeoutMs = duration("shutdown-timeout", 30_000);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the sinks did not take the last results within ${shutdownTimeoutMs} ms; the checkpoint stays at the previous one, so a restart emits them again`)),
      shutdownTimeoutMs,
    );
  });
  timedOut.catch(() => {});
  await Promise.race([checkpointing, timedOut]).catch((error) => (fatal ??= error));
  if (fatal === undefined) {
    log(WORKER, "stopping: final checkpoint");
    await Promise.race([takeCheckpoint(), timedOut]).catch((error) => (fatal = error));
  }
  clearTimeout(timer);
  await Promise.all(sinks.map((s) => s.close().catch(() => {})));
  await feed.close();
  await producer.close().catch(() => {});
  const t = engine.totals;
  log(WORKER, `stopped; read ${t.records} records: counted ${t.counted}, late ${t.late}, duplicates ${t.duplicates}, invalid ${t.invalid}`);
  const latency = engine.latency();
  if (latency) {
    log(WORKER, `latency created_at to emission: p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms, max ${latency.maxMs} ms over ${latency.samples} sampled events`);
  }
  if (feed.firstRecordAtMs !== undefined && feed.lastRecordAtMs !== undefined && t.records > 1) {
    const seconds = (feed.lastRecordAtMs - feed.firstRecordAtMs) / 1000;
    log(
      WORKER,
      `drain: ${t.records} records in ${seconds.toFixed(2)} s from first to last = ${Math.round(t.records / seconds)} records/s; ` +
        `peak rss ${Math.round(peakRssBytes() / 1e6)} MB; ` +
        `first at ${new Date(performance.timeOrigin + feed.firstRecordAtMs).toISOString()}, last at ${new Date(performance.timeOrigin + feed.lastRecordAtMs).toISOString()}`,
    );
    const cpu = feed.drainCpu;
    const cpuS = (cpu.lastUs - cpu.firstUs) / 1e6;
    log(
      WORKER,
      `drain cpu: ${(cpuS * 1e6 / cpu.records).toFixed(2)} µs/record (${cpu.records} records, ${cpuS.toFixed(2)} s of process CPU, ` +
        `${Math.round((cpuS / seconds) * 100)} % of one core)`,
    );
  }
  if (fatal !== undefined) {
    if (fatal instanceof CheckpointError) throw new Error(fatal.message);
    throw new Error(`the aggregator stopped on an error: ${describeError(fatal)}`);
  }
});

function buildSinks(spec: string, target: InfluxTarget | undefined, influx: { window: string; maxBufferedLines: number }): ResultSink[] {
  return spec.split(",").map((part) => {
    const item = part.trim();
    if (item === "console") return new ConsoleSink();
    if (item.startsWith("jsonl:") && item.length > "jsonl:".length) return new JsonlSink(item.slice("jsonl:".length));
    if (item === "influx") {
      if (!target) throw new RangeError("--sink influx needs INFLUX_URL (and INFLUX_TOKEN for the 2.x API); see --help");
      return new InfluxSink(target, { ...influx, log: (line) => log(WORKER, line) });
    }
    throw new RangeError(`--sink: unknown sink ${JSON.stringify(item)}; use console, jsonl:PATH or influx, comma-separated`);
  });
}

/**
 * Feeds the engine the records of the partitions the group assigns to this worker, fetched from
 * exactly the engine's next offsets (lib/kafka/group-fetcher.ts). An assignment change is applied
 * between two fetches: revoked partitions' state is dropped, new ones are loaded from their
 * checkpoints.
 */
class AssignedFeed {
  #fetcher: GroupFetcher;
  #positions = new Map<number, bigint>();
  #reassignNeeded = true;
  #paused = false;
  get paused(): boolean {
    return this.#paused;
  }
  #stopped = false;
  #wake: (() => void) | undefined;
  /** performance.now() of the latest moment the feed could not read (fetch failed, or paused). */
  lastUnreadAtMs: number | undefined;
  /** Some partition started past offset 0 (from a checkpoint, or --reset latest): not a first run. */
  resumed = false;
  /** performance.now() of the first and the latest record fed to the engine. */
  firstRecordAtMs: number | undefined;
  lastRecordAtMs: number | undefined;
  /**
   * Process CPU time (user + system, µs) before the first fetch that returned records and after
   * the latest one, and the records in between: the drain's cost per record, which unlike the
   * wall-clock rate does not depend on what else the machine's cores are doing.
   */
  drainCpu = { firstUs: 0, lastUs: 0, records: 0 };

  constructor(
    private readonly consumer: OrderConsumer,
    private readonly topic: string,
    private readonly engine: AggregatorEngine,
    private readonly group: { sessionTimeoutMs: number; heartbeatIntervalMs: number },
    private readonly onReset: (partition: number, why: string) => void,
    private readonly sinks: readonly ResultSink[],
    private readonly forwarder: KafkaForwarder,
  ) {
    // Larger budgets than GroupFetcher's defaults (4 MiB / 256 KiB, sized for fetchOnce, which
    // copies every record): fetchRanges decodes a batch at a time into views, and delivery stops
    // while the forwarder is full, so memory stays bounded; the drain is ~18 % faster with them.
    this.#fetcher = new GroupFetcher(consumer, topic, { maxBytes: 16 * 1024 * 1024, partitionMaxBytes: 2 * 1024 * 1024 });
  }

  owns(partition: number): boolean {
    return this.#positions.has(partition) && this.#fetcher.assigned().includes(partition);
  }

  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  async run(): Promise<void> {
    this.consumer.on("consumer:group:join", () => {
      this.#reassignNeeded = true;
      this.#wake?.();
    });
    await this.#fetcher.join(this.group);
    const engine = this.engine;
    // Records as byte ranges of the fetch response: no Buffer per record (lib/kafka/read-record-batches.ts).
    // One response can hold hundreds of MB once decompressed; stop feeding it while the forwarder
    // is full (the rest is fetched again after the loop below waits for room).
    const forwarder = this.forwarder;
    const onRecord = (partition: number, offset: number, data: Uint8Array, valueStart: number, valueEnd: number, keyStart: number, keyEnd: number) => {
      engine.processRange(partition, offset, data, valueStart, valueEnd, keyStart, keyEnd);
      return !forwarder.congested();
    };
    while (!this.#stopped) {
      if (this.#reassignNeeded) {
        this.#reassignNeeded = false;
        await this.#reassign();
        continue;
      }
      if (this.#positions.size === 0) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      const congested = this.sinks.find((s) => s.congested?.());
      if (congested) {
        // Backpressure: a sink is full (its server is down or slow). Stop fetching — the group
        // membership stays alive on its heartbeat timer — rather than drop anything.
        if (!this.#paused) log(WORKER, `pausing all partitions: sink ${congested.name} is full`);
        this.#paused = true;
        this.#unread();
        await Bun.sleep(100);
        continue;
      }
      if (this.#paused) log(WORKER, "resuming: the sinks have room again");
      this.#paused = false;
      if (this.forwarder.congested()) {
        // Invalid and late records still on their way to the DLQ and late topics: wait for
        // their acknowledgements rather than fetch more (memory stays bounded in a burst).
        this.#unread();
        await this.forwarder.room();
        continue;
      }
      let fetched;
      const cpuBefore = process.cpuUsage();
      try {
        fetched = await this.#fetcher.fetchRanges(this.#positions, onRecord);
      } catch (error) {
        if (error instanceof OffsetOutOfRangeError) {
          throw new Error(
            `${error.message}: its checkpoint points at records Kafka no longer has (retention?) or does not have yet ` +
              "(topic recreated?). Results would silently skip data; restart with --reset earliest|latest after moving the checkpoint away.",
          );
        }
        if (this.#stopped) break;
        this.#unread();
        log(WORKER, `fetch failed, retrying: ${describeError(error)}`);
        await Bun.sleep(500);
        continue;
      }
      if (fetched.records > 0) {
        this.lastRecordAtMs = performance.now();
        if (this.firstRecordAtMs === undefined) {
          this.firstRecordAtMs = this.lastRecordAtMs;
          this.drainCpu.firstUs = cpuBefore.user + cpuBefore.system;
        }
        const cpuAfter = process.cpuUsage();
        this.drainCpu.lastUs = cpuAfter.user + cpuAfter.system;
        this.drainCpu.records += fetched.records;
      }
      for (const [partition, next] of fetched.nextPositions) if (this.#positions.has(partition)) this.#positions.set(partition, next);
      for (const partition of this.#positions.keys()) {
        const end = fetched.highWatermarks.get(partition);
        if (end !== undefined) engine.setEndOffset(partition, end);
        else engine.noteFetched(partition);
      }
      // Let the timers (emissions, checkpoints, heartbeats) run between fetches.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async commit(offsets: Map<number, bigint>): Promise<void> {
    const list = [...offsets].filter(([p]) => this.owns(p)).map(([partition, offset]) => ({ topic: this.topic, partition, offset, leaderEpoch: -1 }));
    if (list.length === 0) return;
    // Informational only (lag tools); a commit refused mid-rebalance is retried at the next checkpoint.
    await this.consumer.commit({ offsets: list }).catch(() => {});
  }

  async close(): Promise<void> {
    // Closing leaves the group, so the partitions move to the other workers at once.
    await this.consumer.close(true).catch(() => {});
  }

  #unread(): void {
    this.lastUnreadAtMs = performance.now();
    this.engine.noteUnread();
  }

  async #reassign(): Promise<void> {
    const assigned = this.#fetcher.assigned();
    const revoked = [...this.#positions.keys()].filter((p) => !assigned.includes(p));
    this.engine.revoke(revoked);
    for (const p of revoked) this.#positions.delete(p);
    const starts = await this.engine.assign(assigned, {
      offsetAt: async (partition, end) => {
        const offsets = await this.consumer.listOffsets({ topics: [this.topic], timestamp: end === "earliest" ? -2n : -1n });
        return offsets.get(this.topic)?.[partition] ?? 0n;
      },
      hasCommittedOffset: async (partition) => {
        const committed = await this.consumer.listCommittedOffsets({ topics: [{ topic: this.topic, partitions: [partition] }] });
        return (committed.get(this.topic)?.[partition] ?? -1n) >= 0n;
      },
      onReset: this.onReset,
    });
    for (const [partition, offset] of starts) {
      if (this.#positions.has(partition)) continue;
      this.#positions.set(partition, offset);
      if (offset > 0n) this.resumed = true;
    }
    log(
      WORKER,
      `assigned partitions [${assigned.join(", ")}]` +
        (revoked.length > 0 ? `, revoked [${revoked.join(", ")}]` : "") +
        `; starting at ${[...this.#positions].map(([p, o]) => `${p}@${o}`).join(" ") || "-"}`,
    );
  }
}

