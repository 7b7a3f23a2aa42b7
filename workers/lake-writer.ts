/**
 * `bun run workers/lake-writer.ts`: the cold path. Reads `orders` in its own consumer group and
 * writes every valid event to the Parquet lake under LAKE_DIR, Hive-partitioned by event hour
 * (`dt=YYYY-MM-DD/hour=HH/`), exactly once across crashes. The logic is lib/lake/writer.ts;
 * this file is the Kafka shell around it.
 *
 * Offsets: the lake is the source of truth (`LAKE_DIR/_offsets/partition-N.json`, written after
 * the files it covers). The consumer group only assigns partitions; the worker fetches from
 * exactly the lake's offsets (lib/kafka/group-fetcher.ts) and commits them to the group after each
 * flush, for lag tools only.
 */
import { parseCommand } from "../lib/runtime/cli.ts";
import { groupSettings, intParser, kafkaSettings, parseDurationMs, parseTopic, type SettingsSpec, topicSettings } from "../lib/runtime/config.ts";
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { GroupFetcher, OffsetOutOfRangeError } from "../lib/kafka/group-fetcher.ts";
import { connectionFromConfig, createConsumer, describeConnection, waitForBroker } from "../lib/kafka/client.ts";
import { listDataFiles } from "../lib/lake/reader.ts";
import { LakeFlushError, LakeWriter } from "../lib/lake/writer.ts";
import { describeError, log, peakRssBytes, runMain } from "../lib/runtime/worker-runtime.ts";

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
    "Invalid events are counted and skipped (the aggregator forwards them to the DLQ). Each flush\n" +
    "writes its files atomically and then commits the offsets in the lake: exactly once across crashes.",
  flags: {
    "flush-interval": { type: "string", value: "DURATION", describe: "flush buffered events at least this often (default 30s)" },
    "flush-rows": { type: "string", value: "N", describe: "flush as soon as this many events are buffered (default 20000)" },
    "row-group-rows": { type: "string", value: "N", describe: "rows per Parquet row group (default 131072)" },
    "max-future": { type: "string", value: "DURATION", describe: "created_at further ahead of the clock is invalid (default 5m, as the aggregator)" },
    "max-past": { type: "string", value: "DURATION", describe: "created_at further behind the clock is invalid (default 1d = 24h, as the aggregator)" },
    "exit-when-idle": { type: "string", value: "DURATION", describe: "flush and stop by itself after no records arrived for this long (tests, batch runs)" },
  },
  settings,
} as const;

runMain(async (signal) => {
  const parsed = parseCommand(command, Bun.argv.slice(2), process.env);
  if (parsed.kind !== "run") return parsed;
  const { config, flags } = parsed;
  const duration = (flag: "flush-interval" | "max-future" | "max-past" | "exit-when-idle", fallbackMs: number) => {
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
    maxFutureMs: duration("max-future", 5 * 60_000),
    maxPastMs: duration("max-past", 24 * 3_600_000),
    rowGroupRows: count("row-group-rows", 131_072),
  });

  await waitForBroker(conn, { onWait: (n) => n === 1 && log(WORKER, `waiting for Kafka at ${describeConnection(conn)}`) });
  log(WORKER, `topic ${topic}, group ${config.LAKE_GROUP}, lake ${config.LAKE_DIR}, flush every ${flushIntervalMs} ms or ${flushRows} events`);

  const heartbeatIntervalMs = Math.max(100, Math.floor(config.KAFKA_SESSION_TIMEOUT / 5));
  const consumer = createConsumer(conn, {
    role: WORKER,
    groupId: config.LAKE_GROUP,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT,
    heartbeatIntervalMs,
    ...(config.LAKE_INSTANCE_ID ? { groupInstanceId: config.LAKE_INSTANCE_ID } : {}),
  });
  const fetcher = new GroupFetcher(consumer, topic);
  let stopped = false;
  let reassignNeeded = true;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopped = true;
    wake?.();
  };
  signal.addEventListener("abort", stop, { once: true });
  consumer.on("consumer:group:join", () => {
    reassignNeeded = true;
    wake?.();
  });

  const highWatermarks = new Map<number, bigint>();
  let lastFlushAt = performance.now();
  /** performance.now() of the first record read, and of the end of the last flush that committed any. */
  let firstRecordAt: number | undefined;
  let lastCommitAt: number | undefined;
  let lastRecordAt = performance.now();
  const started = performance.now();

  const flush = async () => {
    const committed = await flushUntilWritten();
    lastFlushAt = performance.now();
    if (committed.size === 0) return;
    lastCommitAt = lastFlushAt;
    const offsets = [...committed].map(([partition, offset]) => ({ topic, partition, offset, leaderEpoch: -1 }));
    // Informational (lag tools); the lake's _offsets files are what the writer resumes from.
    await consumer.commit({ offsets }).catch(() => {});
  };

  /**
   * writer.flush(), retried while the lake's disk is full: fetching waits meanwhile (this runs
   * inside the fetch loop), nothing is committed, and the unwritten records stay in Kafka, so
   * nothing is lost or written twice. Any other write error stops the worker. On a stop request
   * it gives up with an error that says the records will be read again at the next start.
   */
  const flushUntilWritten = async (): Promise<Map<number, bigint>> => {
    let failures = 0;
    let failingSince = 0;
    for (;;) {
      // Only partitions still ours: a revoked partition's next owner reads its range again.
      const assigned = new Set(fetcher.assigned());
      writer.revoke(writer.owned().filter((p) => !assigned.has(p)));
      try {
        const committed = await writer.flush();
        if (failures > 0) {
          log(WORKER, `the lake is writable again after ${((performance.now() - failingSince) / 1000).toFixed(1)} s and ${failures} failed attempt(s); flushed ${writer.totals.files} files so far`);
        }
        return committed;
      } catch (error) {
        if (!(error instanceof LakeFlushError && error.diskFull)) throw error;
        if (failures === 0) failingSince = performance.now();
        failures += 1;
        if (failures === 1 || failures % 10 === 0) {
          log(
            WORKER,
            `${error.message} — the lake's disk under ${config.LAKE_DIR} is full. Nothing is lost: no offset is committed, ` +
              `the ${writer.bufferedRows} buffered events stay in Kafka, and fetching waits. Free space on that disk ` +
              `(or move LAKE_DIR to a larger one); retrying every ${DISK_FULL_RETRY_MS / 1000} s (attempt ${failures})`,
          );
        }
        if (stopped) {
          throw new Error(
            `stopped while the lake's disk was full: ${writer.bufferedRows} events were not written; they stay in Kafka and are written at the next start`,
            { cause: error },
          );
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, DISK_FULL_RETRY_MS);
          wake = () => (clearTimeout(timer), resolve());
        });
      }
    }
  };

  const reassign = async () => {
    const assigned = fetcher.assigned();
    const revoked = writer.owned().filter((p) => !assigned.includes(p));
    writer.revoke(revoked);
    const starts = await writer.assign(assigned);
    const unknown = [...starts].filter(([, o]) => o === undefined).map(([p]) => p);
    if (unknown.length > 0) {
      const earliest = (await consumer.listOffsets({ topics: [topic], timestamp: -2n })).get(topic) ?? [];
      for (const p of unknown) writer.startAt(p, earliest[p] ?? 0n);
    }
    if (writer.totals.orphansRemoved > 0) log(WORKER, `removed ${writer.totals.orphansRemoved} uncommitted file(s) of an interrupted flush`);
    log(
      WORKER,
      `assigned partitions [${assigned.join(", ")}]${revoked.length > 0 ? `, revoked [${revoked.join(", ")}]` : ""}; ` +
        `starting at ${assigned.map((p) => `${p}@${writer.position(p)}`).join(" ") || "-"}` +
        (unknown.length > 0 ? ` (no lake offsets for [${unknown.join(", ")}]: from the log's start)` : ""),
    );
  };

  let lastRecords = 0;
  let lastProgressAt = performance.now();
  const progressTimer = setInterval(() => {
    const now = performance.now();
    const t = writer.totals;
    const rate = ((t.records - lastRecords) * 1000) / (now - lastProgressAt);
    lastRecords = t.records;
    lastProgressAt = now;
    log(
      WORKER,
      `${Math.round(rate)} records/s; records ${t.records}: valid ${t.valid}, invalid ${t.invalid}; ` +
        `files ${t.files} (${(t.bytes / 1e6).toFixed(1)} MB); buffered ${writer.bufferedRows}; rss ${Math.round(process.memoryUsage.rss() / 1e6)} MB`,
    );
  }, 5_000);

  let fatal: unknown;
  try {
    await fetcher.join({ sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT, heartbeatIntervalMs });
    const onRecord = (partition: number, offset: bigint, _key: Buffer | null, value: Buffer | null) => {
      writer.add(partition, offset, value ?? EMPTY);
    };
    while (!stopped) {
      if (reassignNeeded) {
        reassignNeeded = false;
        await reassign();
        continue;
      }
      const positions = new Map<number, bigint>();
      for (const p of writer.owned()) {
        const at = writer.position(p);
        if (at !== undefined) positions.set(p, at);
      }
      if (positions.size === 0) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      let fetched;
      try {
        fetched = await fetcher.fetchOnce(positions, onRecord);
      } catch (error) {
        if (error instanceof OffsetOutOfRangeError) {
          throw new Error(
            `${error.message}: the lake's _offsets/partition-${error.partition}.json points at records Kafka no longer has (retention?) ` +
              "or does not have yet (topic recreated?). The lake would silently skip data; point LAKE_DIR at a new lake, or move that offsets file away to start the partition from the log's start.",
          );
        }
        if (stopped) break;
        // Time without an answer from the broker is not idleness (--exit-when-idle).
        lastRecordAt = performance.now();
        log(WORKER, `fetch failed, retrying: ${describeError(error)}`);
        await Bun.sleep(500);
        continue;
      }
      for (const [partition, next] of fetched.nextPositions) writer.advance(partition, next);
      for (const [partition, end] of fetched.highWatermarks) highWatermarks.set(partition, end);
      const now = performance.now();
      if (fetched.records > 0) {
        lastRecordAt = now;
        firstRecordAt ??= now;
      }
      if (writer.bufferedRows >= flushRows || (writer.dirty && now - lastFlushAt >= flushIntervalMs)) await flush();
      if (exitWhenIdleMs !== undefined && now - lastRecordAt >= exitWhenIdleMs && caughtUp()) {
        log(WORKER, `no records for ${exitWhenIdleMs} ms; stopping (--exit-when-idle)`);
        stop();
      }
      // Let timers and heartbeats run between fetches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    log(WORKER, "stopping: final flush");
    await flush();
  } catch (error) {
    fatal = error;
  }
  clearInterval(progressTimer);
  await consumer.close(true).catch(() => {});
  const t = writer.totals;
  const seconds = (performance.now() - started) / 1000;
  log(
    WORKER,
    `stopped; read ${t.records} records: valid ${t.valid}, invalid ${t.invalid}; wrote ${t.files} files, ${(t.bytes / 1e6).toFixed(2)} MB ` +
      `in ${seconds.toFixed(1)} s; lake now has ${(await listDataFiles(store).catch(() => [])).length} data files`,
  );
  if (firstRecordAt !== undefined && lastCommitAt !== undefined && lastCommitAt > firstRecordAt) {
    const drainS = (lastCommitAt - firstRecordAt) / 1000;
    log(
      WORKER,
      `drain: ${t.records} records in ${drainS.toFixed(2)} s from first read to last commit = ${Math.round(t.records / drainS)} records/s; ` +
        `${t.valid > 0 ? (t.bytes / t.valid).toFixed(1) : "-"} bytes per event written; peak rss ${Math.round(peakRssBytes() / 1e6)} MB`,
    );
  }
  if (fatal !== undefined) throw new Error(`the lake writer stopped on an error: ${describeError(fatal)}`);

  function caughtUp(): boolean {
    for (const p of writer.owned()) {
      const end = highWatermarks.get(p);
      const at = writer.position(p);
      if (end === undefined || at === undefined || at < end) return false;
    }
    return true;
  }
});

const EMPTY = Buffer.alloc(0);
/** How often a flush is retried while the lake's disk is full. */
const DISK_FULL_RETRY_MS = 1_000;
