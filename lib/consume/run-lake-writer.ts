/**
 * The lake writer's run: fetches the partitions the consumer group assigns to this worker from
 * exactly the offsets committed in the lake's Delta table (the table's txn versions, not the
 * group, are the source of truth), hands every record to the LakeWriter (lib/lake/writer.ts),
 * flushes every `flushIntervalMs` or `flushRows` events, and commits the flushed offsets to the
 * group for lag tools. A full disk, or an object store that does not answer, is waited out
 * (fetching stops once another flush's worth is buffered, nothing is committed, nothing lost);
 * any other write error stops it. A
 * partition another writer claimed in the table (the group moved it while this one was paused,
 * say) is dropped with one line: the table refused this writer's commit, and the new owner reads
 * the dropped rows again. A committed offset outside the partition's log stops it with advice that
 * deletes nothing, unless `skipLostRecords` lets it skip, in the table's record, what Kafka deleted.
 * A stop is bounded: from the stop request, `shutdownTimeoutMs` covers the final flush, the group
 * commit and closing the consumer, whatever the broker and the disk do; a final flush that does
 * not finish in time leaves its events in Kafka (the lake's offsets do not move) and the worker
 * exits non-zero saying so.
 */
import { onGroupFailure, type OrderConsumer } from "../kafka/client.ts";
import { UnsupportedBrokerError } from "../kafka/api-versions.ts";
import { GroupFetcher, OffsetOutOfRangeError, type RecordRangeHandler, UnreadablePartitionError } from "../kafka/group-fetcher.ts";
import type { LakeWriter } from "../lake/writer.ts";
import { transientLakeProblem } from "../lake/writer-errors.ts";
import { beforeDeadline, TIMED_OUT } from "../runtime/deadline.ts";
import { describeError, peakRssBytes } from "../runtime/worker-runtime.ts";

export interface LakeWriterRun {
  consumer: OrderConsumer;
  writer: LakeWriter;
  topic: string;
  /** Where the lake is, as the operator named it (for messages): a directory or s3://bucket/prefix. */
  lakeUri: string;
  group: { sessionTimeoutMs: number; heartbeatIntervalMs: number };
  flushIntervalMs: number;
  flushRows: number;
  /**
   * When the table's offset of a partition is below the log's start (retention deleted records the
   * lake never read): record the gap in the table and go on from the log's start, instead of
   * stopping. Default false.
   */
  skipLostRecords?: boolean;
  /** Flush and stop by itself after no records arrived for this long; `undefined`: never. */
  exitWhenIdleMs: number | undefined;
  /** Aborted on SIGINT/SIGTERM: stop fetching, final flush. */
  signal: AbortSignal;
  /** How long a stop may take, from the request to the exit (final flush, commit, close). Default 30 s. */
  shutdownTimeoutMs?: number;
  /** A log line; `fields` are the line's figures, for LOG_FORMAT=json. */
  log: (line: string, fields?: Record<string, unknown>) => void;
  /** Filled as the run goes, for metrics and readiness (lib/consume/lake-writer-metrics.ts). */
  progress?: LakeWriterProgress;
}

/** What a lake writer's run reports as it goes; times are `Date.now()`. */
export interface LakeWriterProgress {
  /** Records between each owned partition's fetch position and its end, at the last fetch answer. */
  lag: Map<number, bigint>;
  /** When a fetch last answered; null before one. */
  fetchedAtMs: number | null;
  /** When a flush last committed offsets to the table; null before one. */
  committedAtMs: number | null;
  /** Corrupt record batches skipped. */
  corruptBatches: number;
}

export function newLakeWriterProgress(): LakeWriterProgress {
  return { lag: new Map(), fetchedAtMs: null, committedAtMs: null, corruptBatches: 0 };
}

/** Runs until stopped; rejects, after closing the consumer, with the first fatal error. */
export async function runLakeWriter(run: LakeWriterRun): Promise<void> {
  const { consumer, writer, topic, lakeUri, group, flushIntervalMs, flushRows, exitWhenIdleMs, signal, log } = run;
  const skipLostRecords = run.skipLostRecords ?? false;
  const progress = run.progress ?? newLakeWriterProgress();
  // A corrupt batch is skipped, not retried forever: the aggregator forwards its bytes to the DLQ
  // with a reason; here it is named in the log and counted.
  let corruptBatches = 0;
  /** Aborted by stop(): a fetch round still waiting on a broker that is away ends at once. */
  const stopping = new AbortController();
  const fetcher = new GroupFetcher(consumer, topic, {
    signal: stopping.signal,
    // Rounds of 8 MiB, 512 KiB a partition: 3 % faster than the default 4 MiB and 256 KiB on a
    // 2,000,000-record backlog (three runs each, alternated), no faster at 16 MiB and 1 MiB.
    maxBytes: 8 * 1024 * 1024,
    partitionMaxBytes: 512 * 1024,
    onCorruptBatch: (partition, batch) => {
      corruptBatches += 1;
      progress.corruptBatches = corruptBatches;
      log(`${topic}/${partition}: skipped a corrupt record batch, offsets ${batch.firstOffset}-${batch.lastOffset} (${batch.problem}): ${batch.detail}; the aggregator's DLQ holds its bytes`);
    },
  });
  let stopped = false;
  let reassignNeeded = true;
  let wake: (() => void) | undefined;
  const shutdownTimeoutMs = run.shutdownTimeoutMs ?? 30_000;
  let stopDeadline: number | undefined;
  const stop = () => {
    stopped = true;
    stopDeadline ??= performance.now() + shutdownTimeoutMs;
    stopping.abort();
    wake?.();
  };
  /** `promise`, or TIMED_OUT once the stop's deadline passes (no bound before a stop). */
  const bounded = <T>(promise: Promise<T>): Promise<T | typeof TIMED_OUT> => (stopDeadline === undefined ? promise : beforeDeadline(promise, stopDeadline));
  signal.addEventListener("abort", stop, { once: true });
  consumer.on("consumer:group:join", () => {
    reassignNeeded = true;
    wake?.();
  });
  let groupFailure: { error: unknown } | undefined;
  onGroupFailure(consumer, () => stopped, (error) => {
    groupFailure ??= { error };
    wake?.();
  });

  const highWatermarks = new Map<number, bigint>();
  let lastFlushAt = performance.now();
  /** performance.now() of the first record read, and of the end of the last flush that committed any. */
  let firstRecordAt: number | undefined;
  let lastCommitAt: number | undefined;
  let lastRecordAt = performance.now();
  const started = performance.now();

  const reportFenced = () => {
    for (const f of writer.takeFenced()) {
      log(
        `partition ${f.partition} was claimed in the lake by another writer (owner epoch ${f.newerEpoch}; ours was ${f.epoch}): ` +
          `the table refused our commit; dropped it and its ${f.droppedRows} buffered events, which the new owner reads from Kafka`,
      );
    }
  };

  /** Writes and commits in the lake what is buffered; returns the offsets committed. */
  let checkpointFailures = 0;
  const flushLake = async () => {
    const committed = await flushUntilWritten();
    reportFenced();
    if (writer.commits.checkpointFailures > checkpointFailures) {
      checkpointFailures = writer.commits.checkpointFailures;
      log(`could not write the table's checkpoint after version ${writer.version} (the commit stands; the next interval tries again): ${describeError(writer.lastCheckpointError)}`);
    }
    lastFlushAt = performance.now();
    if (committed.size > 0) {
      lastCommitAt = lastFlushAt;
      progress.committedAtMs = Date.now();
    }
    return committed;
  };
  /**
   * Informational (lag tools); the table's txn versions are what the writer resumes from. One
   * after another, in flush order, and beside the flushes, not in them: the commit's answer
   * comes on the connection the fetches use, behind a fetch that may be waiting for data (up to
   * its maxWaitMs), and a flush that waited for it held back the next flush. A batch run's last
   * flush started half a second late that way.
   */
  let groupCommits: Promise<unknown> = Promise.resolve();
  const commitToGroup = (committed: ReadonlyMap<number, bigint>): Promise<unknown> => {
    if (committed.size === 0) return groupCommits;
    const offsets = [...committed].map(([partition, offset]) => ({ topic, partition, offset, leaderEpoch: -1 }));
    groupCommits = groupCommits.then(() => bounded(consumer.commit({ offsets }).catch(() => {})));
    return groupCommits;
  };
  const flush = async () => void commitToGroup(await flushLake());

  /**
   * At most one flush runs at a time, beside the fetch loop: while its files are encoded and
   * written and its commit lands, the next records are already fetched and buffered (they are not
   * in its commit). `settleFlush()` waits for it and throws what it failed with.
   */
  let inFlight: Promise<void> | undefined;
  let flushFailure: { error: unknown } | undefined;
  const flushInBackground = () => {
    inFlight = flush()
      .catch((error) => void (flushFailure ??= { error }))
      .finally(() => {
        inFlight = undefined;
        // A batch run that has read everything writes the rest now, not after the next empty fetch's wait.
        if (!flushFailure && !stopped && batchDone()) flushInBackground();
      });
  };
  /** A batch run (--exit-when-idle) writes what it holds once it has read to the end of every partition. */
  const batchDone = () => exitWhenIdleMs !== undefined && writer.dirty && caughtUp();
  const settleFlush = async () => {
    if (inFlight) await inFlight;
    if (flushFailure) throw flushFailure.error;
  };

  /**
   * writer.flush(), retried while the lake's disk is full or its object store does not answer:
   * fetching stops once another flush's worth is buffered, nothing is committed, and the
   * unwritten records stay in Kafka, so nothing is lost or written twice. Any other write error
   * stops the worker. On a stop request it gives up with an error that says the records will be
   * read again at the next start.
   */
  const flushUntilWritten = (): Promise<Map<number, bigint>> =>
    untilWritten(() => {
      // Only partitions still ours: a revoked partition's next owner reads its range again.
      const assigned = new Set(fetcher.assigned());
      writer.revoke(writer.owned().filter((p) => !assigned.has(p)));
      return writer.flush();
    });

  /** `step()` (a flush, or the claims of an assignment), retried every second while it fails on a full disk or an absent object store. */
  const untilWritten = async <T>(step: () => Promise<T>): Promise<T> => {
    let failures = 0;
    let failingSince = 0;
    for (;;) {
      try {
        const result = await step();
        if (failures > 0) {
          log(`the lake is writable again after ${((performance.now() - failingSince) / 1000).toFixed(1)} s and ${failures} failed attempt(s); flushed ${writer.totals.files} files so far`);
        }
        return result;
      } catch (error) {
        const problem = transientLakeProblem(error);
        if (problem === undefined) throw error;
        if (failures === 0) failingSince = performance.now();
        failures += 1;
        if (failures === 1 || failures % 10 === 0) {
          const cure =
            problem === "disk-full"
              ? `the lake's disk under ${lakeUri} is full. Free space on that disk (or move LAKE_URI to a larger one)`
              : `the object store of ${lakeUri} does not answer. Check that it runs and that AWS_ENDPOINT_URL names it`;
          log(
            `${describeError(error)} — ${cure}. Nothing is lost: no offset is committed, the ${writer.bufferedRows} buffered events ` +
              `stay in Kafka, and fetching waits; retrying every ${RETRY_MS / 1000} s (attempt ${failures})`,
          );
        }
        if (stopped) {
          throw new Error(
            `stopped while the lake could not be written (${problem === "disk-full" ? "its disk was full" : "its object store did not answer"}): ` +
              `${writer.bufferedRows} events were not written; they stay in Kafka and are written at the next start`,
            { cause: error },
          );
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, RETRY_MS);
          wake = () => (clearTimeout(timer), resolve());
        });
      }
    }
  };

  const reassign = async () => {
    const assigned = fetcher.assigned();
    const revoked = writer.owned().filter((p) => !assigned.includes(p));
    writer.revoke(revoked);
    const starts = await untilWritten(() => writer.assign(assigned));
    const unknown = [...starts].filter(([, o]) => o === undefined).map(([p]) => p);
    if (unknown.length > 0) {
      const earliest = (await consumer.listOffsets({ topics: [topic], timestamp: -2n })).get(topic) ?? [];
      for (const p of unknown) writer.startAt(p, earliest[p] ?? 0n);
    }
    log(
      `assigned partitions [${assigned.join(", ")}]${revoked.length > 0 ? `, revoked [${revoked.join(", ")}]` : ""}; ` +
        `starting at ${assigned.map((p) => `${p}@${writer.position(p)}`).join(" ") || "-"}` +
        (unknown.length > 0 ? ` (nothing of [${unknown.join(", ")}] in the table yet: from the log's start)` : "") +
        `; owner epochs ${assigned.map((p) => `${p}:${writer.epoch(p)}`).join(" ") || "-"}; table version ${writer.version}`,
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
      `${Math.round(rate)} records/s; records ${t.records}: valid ${t.valid}, invalid ${t.invalid}; ` +
        `files ${t.files} (${(t.bytes / 1e6).toFixed(1)} MB); table version ${writer.version}; buffered ${writer.bufferedRows}; rss ${Math.round(process.memoryUsage.rss() / 1e6)} MB`,
      { recordsPerSecond: Math.round(rate), records: t.records, valid: t.valid, invalid: t.invalid, files: t.files, bytes: t.bytes, tableVersion: writer.version, bufferedRows: writer.bufferedRows, rssBytes: process.memoryUsage.rss() },
    );
  }, 5_000);

  /**
   * The table's offset of a partition is outside its log. Below the log's start, retention deleted
   * records the lake never read: with `skipLostRecords` the gap is recorded in the table (a commit
   * naming the skipped range) and reading goes on from the log's start; without, it stops. Past the
   * log's end, the topic was recreated: it stops. No advice given here deletes anything the lake holds.
   */
  const outOfRange = async (error: OffsetOutOfRangeError) => {
    const p = error.partition;
    const [earliest, latest] = await Promise.all([-2n, -1n].map(async (timestamp) => (await consumer.listOffsets({ topics: [topic], timestamp })).get(topic)?.[p]));
    const at = writer.position(p);
    if (at !== undefined && earliest !== undefined && at < earliest) {
      // A partition the lake holds nothing of started at the log's start, which retention moved since: nothing committed is skipped.
      if (skipLostRecords || writer.committed(p) === undefined) {
        if (await writer.skipTo(p, earliest)) {
          log(`partition ${p}: records ${at}..${earliest - 1n} were deleted from Kafka before the lake read them; recorded the gap in the table and going on from ${earliest}${skipLostRecords ? " (--skip-lost-records)" : ""}`);
        } else {
          reportFenced();
        }
        return;
      }
      throw new Error(
        `${error.message}: the lake's table has partition ${p} up to offset ${at}, but Kafka's log of it starts at ${earliest} — retention deleted records ` +
          `${at}..${earliest - 1n} before the lake read them, and they cannot be had from Kafka any more. Everything the lake committed is intact. ` +
          "To go on from the log's start, recording the gap in the table, restart with --skip-lost-records; to keep this table as it is, " +
          "point LAKE_URI at a new lake. Do not move or delete anything under _delta_log/: the table is its log.",
      );
    }
    throw new Error(
      `${error.message}: the lake's table has partition ${p} up to offset ${at}, past the end of Kafka's log of it (${latest ?? "?"}) — the topic was ` +
        "recreated (or the lake belongs to another cluster). Everything the lake committed is intact, but its offsets name records of the old topic: " +
        "point LAKE_URI at a new lake for the new topic. Do not move or delete anything under _delta_log/: the table is its log.",
    );
  };

  let fatal: unknown;
  try {
    await fetcher.join({ sessionTimeoutMs: group.sessionTimeoutMs, heartbeatIntervalMs: group.heartbeatIntervalMs });
    // Byte ranges, not Buffers: the writer reads each value during the call, with its Kafka timestamp.
    const onRecord: RecordRangeHandler = (partition, offset, data, valueStart, valueEnd, _keyStart, _keyEnd, timestampMs) => {
      // A partition fenced by the flush in flight while this fetch was out is no longer ours.
      if (writer.epoch(partition) === undefined) return;
      if (valueStart < 0) writer.addRange(partition, offset, EMPTY, 0, 0, timestampMs);
      else writer.addRange(partition, offset, data, valueStart, valueEnd, timestampMs);
    };
    while (!stopped) {
      if (flushFailure) throw flushFailure.error;
      if (groupFailure) {
        throw new Error(`the consumer group could not be rejoined: ${describeError(groupFailure.error)}; the table's offsets are intact: start the lake writer again`, {
          cause: groupFailure.error,
        });
      }
      if (reassignNeeded) {
        reassignNeeded = false;
        await settleFlush();
        // The old assignment's offsets go to the group before the new one's can.
        await groupCommits;
        await reassign();
        continue;
      }
      // Backpressure: a second flush's worth buffered while one is still writing (a slow or full disk) waits for it.
      if (inFlight && writer.waitingRows >= flushRows) {
        await settleFlush();
        continue;
      }
      const positions = new Map<number, bigint>();
      for (const p of writer.owned()) {
        const at = writer.position(p);
        if (at !== undefined) positions.set(p, at);
      }
      if (positions.size === 0) {
        await settleFlush();
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      let fetched;
      try {
        fetched = await fetcher.fetchRanges(positions, onRecord);
      } catch (error) {
        if (error instanceof OffsetOutOfRangeError) {
          await settleFlush();
          await outOfRange(error);
          continue;
        }
        // A broker too old for any Fetch version we speak (lib/kafka/raw-fetch.ts): its message says what is needed.
        if (error instanceof UnsupportedBrokerError) throw error;
        if (error instanceof UnreadablePartitionError) {
          throw new Error(`${error.message}; fetching it again returns the same bytes: repair or rebuild the partition, then restart`, { cause: error });
        }
        if (stopped) break;
        // Time without an answer from the broker is not idleness (--exit-when-idle).
        lastRecordAt = performance.now();
        log(`fetch failed, retrying: ${describeError(error)}`);
        await Bun.sleep(500);
        continue;
      }
      for (const [partition, next] of fetched.nextPositions) writer.advance(partition, next);
      for (const [partition, end] of fetched.highWatermarks) highWatermarks.set(partition, end);
      // A partition the broker did not serve this round (no leader, an error) is not caught up, and not idle.
      for (const partition of fetched.unread.keys()) highWatermarks.delete(partition);
      progress.fetchedAtMs = Date.now();
      progress.lag.clear();
      for (const [partition, end] of highWatermarks) {
        const at = writer.position(partition);
        if (at !== undefined) progress.lag.set(partition, end > at ? end - at : 0n);
      }
      const now = performance.now();
      if (fetched.unread.size > 0) lastRecordAt = now;
      if (fetched.records > 0) {
        lastRecordAt = now;
        firstRecordAt ??= now;
      }
      // A batch run does not hold what it read through the idle wait: the backlog is in the table once it is read.
      if (!inFlight && (writer.bufferedRows >= flushRows || (writer.dirty && now - lastFlushAt >= flushIntervalMs) || batchDone())) flushInBackground();
      if (exitWhenIdleMs !== undefined && now - lastRecordAt >= exitWhenIdleMs && caughtUp()) {
        log(`no records for ${exitWhenIdleMs} ms; stopping (--exit-when-idle)`);
        stop();
      }
      // Let timers and heartbeats run between fetches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    log("stopping: final flush");
    const buffered = writer.bufferedRows;
    const committed = await bounded(settleFlush().then(() => flushLake()));
    if (committed !== TIMED_OUT) await commitToGroup(committed);
    else {
      fatal = new Error(
        `the final flush did not finish within the ${shutdownTimeoutMs} ms shutdown timeout; its ${buffered} events are not in the lake and stay in Kafka ` +
          "(the table's offsets did not move), so the next run writes them. Check the lake's storage, or give the stop more time with --shutdown-timeout",
      );
    }
  } catch (error) {
    fatal = error;
  }
  clearInterval(progressTimer);
  if ((await bounded(consumer.close(true).catch(() => {}))) === TIMED_OUT) {
    log(`the consumer did not leave its group within the shutdown timeout (is the broker away?); the group notices after its session timeout`);
  }
  const t = writer.totals;
  const seconds = (performance.now() - started) / 1000;
  log(
    `stopped; read ${t.records} records: valid ${t.valid}, invalid ${t.invalid}${corruptBatches > 0 ? `, ${corruptBatches} corrupt batches skipped` : ""}; wrote ${t.files} files, ${(t.bytes / 1e6).toFixed(2)} MB ` +
      `in ${seconds.toFixed(1)} s; ${writer.commits.made} commits, the table at version ${writer.version}`,
  );
  if (firstRecordAt !== undefined && lastCommitAt !== undefined && lastCommitAt > firstRecordAt) {
    const drainS = (lastCommitAt - firstRecordAt) / 1000;
    log(
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
}

const EMPTY = new Uint8Array(0);
/** How often a flush is retried while the lake's disk is full or its object store does not answer. */
const RETRY_MS = 1_000;
