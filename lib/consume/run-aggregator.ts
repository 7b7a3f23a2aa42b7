/**
 * The aggregator's run, from the first fetch to the last checkpoint: update-mode emissions, idle
 * watermarks, periodic checkpoints and a progress line on timers between fetches, then the stop
 * protocol. A checkpoint is taken only after every sink took the results it covers; on stop, one
 * deadline (`shutdownTimeoutMs`, from the stop request) bounds the wait for the sinks, including a
 * checkpoint still in flight, and the closing of the clients; when it passes the checkpoint stays
 * at the previous one (a restart emits again).
 */
import { beforeDeadline, TIMED_OUT } from "../runtime/deadline.ts";
import { describeError, peakRssBytes } from "../runtime/worker-runtime.ts";
import type { AggregatorEngine } from "../window/aggregator-engine.ts";
import { CheckpointError } from "../window/checkpoint.ts";
import type { ResultSink } from "../window/result-sink.ts";
import { StateWriteError } from "../window/state-store.ts";
import type { AssignedFeed } from "./assigned-feed.ts";

export interface AggregatorRun {
  engine: AggregatorEngine;
  feed: AssignedFeed;
  sinks: readonly ResultSink[];
  /** The DLQ/late producer, closed after the sinks and the feed. */
  producer: { close(): Promise<unknown> };
  /** The state changelog's producer (STATE_STORE=kafka), closed last. */
  stateProducer?: { close(): Promise<unknown> } | undefined;
  emitIntervalMs: number;
  checkpointIntervalMs: number;
  /** Stop by itself after no records arrived for this long; `undefined`: never. */
  exitWhenIdleMs: number | undefined;
  shutdownTimeoutMs: number;
  /** Aborted on SIGINT/SIGTERM: stop fetching, then the stop protocol. */
  signal: AbortSignal;
  /** A log line; `fields` are the line's figures, for LOG_FORMAT=json. */
  log: (line: string, fields?: Record<string, unknown>) => void;
}

/** Runs until stopped; rejects, after the stop protocol, with the first fatal error. */
export async function runAggregator(run: AggregatorRun): Promise<void> {
  const { engine, feed, sinks, producer, stateProducer, emitIntervalMs, checkpointIntervalMs, exitWhenIdleMs, shutdownTimeoutMs, signal, log } = run;
  let fatal: unknown;
  const fail = (error: unknown) => {
    fatal ??= error;
    feed.stop();
  };

  // Update-mode emissions, idle watermarks, checkpoints, metrics: all on timers between records.
  let checkpointing: Promise<void> | undefined;
  // Set when the stop gives up on the sinks: a checkpoint still waiting for them must never be
  // saved afterwards (closing a sink releases its waiters), or it would cover unwritten results.
  let abandoned = false;
  const takeCheckpoint = async () => {
    const saved = await engine.checkpoint((p) => !abandoned && feed.owns(p));
    if (saved.size > 0) await feed.commit(saved);
  };
  const emitTimer = setInterval(() => void engine.tick().catch(fail), Math.min(200, Math.max(20, emitIntervalMs / 5)));
  let failedCheckpoints = 0;
  const checkpointTimer = setInterval(() => {
    if (checkpointing) return;
    checkpointing = takeCheckpoint()
      .then(() => {
        if (failedCheckpoints > 0) log(`checkpoints are saved again, after ${failedCheckpoints} that failed`);
        failedCheckpoints = 0;
      })
      .catch((error) => {
        // The state store is away (a broker restarting): the next checkpoint writes everything since
        // the last one that succeeded. Anything else stops the worker.
        if (!(error instanceof StateWriteError)) return fail(error);
        if (failedCheckpoints++ % 10 === 0) log(`checkpoint not saved, retrying in ${checkpointIntervalMs} ms: ${describeError(error)}`);
      })
      .finally(() => (checkpointing = undefined));
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
    const held = engine.held();
    const latency = engine.latency();
    log(
      `${Math.round(rate)} events/s; records ${t.records}: counted ${t.counted}, late ${t.late}, duplicates ${t.duplicates}, ` +
        `invalid ${t.invalid}; rss ${Math.round(process.memoryUsage.rss() / 1e6)} MB (peak ${Math.round(peakRssBytes() / 1e6)}); ` +
        `state ${held.ids} ids ${held.customers} customers ${(held.bytes / 1e6).toFixed(1)} MB, ` +
        `grown ${((12 * (t.counted + held.customersAdded)) / 1e6).toFixed(1)} MB, written ${(engine.stateBytesWritten() / 1e6).toFixed(1)} MB; ` +
        (latency ? `latency p50 ${latency.p50Ms} p99 ${latency.p99Ms} ms (${latency.samples}); ` : "") +
        `watermarks ${watermarks || "(no partitions)"}`,
      {
        eventsPerSecond: Math.round(rate),
        records: t.records,
        counted: t.counted,
        late: t.late,
        duplicates: t.duplicates,
        invalid: t.invalid,
        rssBytes: process.memoryUsage.rss(),
        stateBytes: held.bytes,
        ...(latency ? { latencyP50Ms: latency.p50Ms, latencyP99Ms: latency.p99Ms } : {}),
      },
    );
    // Idle means: nothing new, nothing left to read, and not merely paused by backpressure or
    // cut off from the broker (time without an answer is not idleness). A worker that has read
    // nothing yet waits for its first record, unless it resumed from a checkpoint: then an earlier
    // run read up to there, and one restarted at the end of the data (its predecessor read and
    // checkpointed all of it) has nothing to wait for.
    const readable = !feed.paused && now - (feed.lastUnreadAtMs ?? -Infinity) >= exitWhenIdleMs!;
    if (exitWhenIdleMs !== undefined && (t.records > 0 || feed.resumed) && now - lastRecordAt >= exitWhenIdleMs && readable && engine.caughtUp()) {
      log(`no records for ${exitWhenIdleMs} ms; stopping (--exit-when-idle)`);
      feed.stop();
    }
  }, exitWhenIdleMs === undefined ? 5_000 : Math.min(5_000, Math.max(250, exitWhenIdleMs / 4)));
  // The stop's deadline counts from the request (SIGINT/SIGTERM), not from the end of the fetch loop.
  let stopRequestedAt: number | undefined;
  signal.addEventListener(
    "abort",
    () => {
      stopRequestedAt ??= performance.now();
      feed.stop();
    },
    { once: true },
  );

  try {
    await feed.run();
  } catch (error) {
    fatal ??= error;
  }
  clearInterval(emitTimer);
  clearInterval(checkpointTimer);
  clearInterval(metricsTimer);

  // One deadline for the whole stop, including a periodic checkpoint still in flight (it waits
  // for the sinks too) and the closing of the clients: a sink's server or a broker that is away,
  // or that hangs without closing its connections, would otherwise hold the stop forever.
  const deadline = (stopRequestedAt ?? performance.now()) + shutdownTimeoutMs;
  const checkpointTimedOut = () => {
    abandoned = true;
    return new Error(
      `the last checkpoint did not finish within ${shutdownTimeoutMs} ms (the sinks did not take the last results, or the state store did not take the state); ` +
        "the checkpoint stays at the previous one, so a restart emits them again",
    );
  };
  try {
    if (checkpointing && (await beforeDeadline(checkpointing, deadline)) === TIMED_OUT) fatal ??= checkpointTimedOut();
  } catch (error) {
    fatal ??= error;
  }
  if (fatal === undefined) {
    log("stopping: final checkpoint");
    try {
      if ((await beforeDeadline(takeCheckpoint(), deadline)) === TIMED_OUT) fatal = checkpointTimedOut();
    } catch (error) {
      fatal = error;
    }
  }
  const closing = (async () => {
    await Promise.all(sinks.map((s) => s.close().catch(() => {})));
    await feed.close();
    await producer.close().catch(() => {});
    await stateProducer?.close().catch(() => {});
  })();
  if ((await beforeDeadline(closing, deadline)) === TIMED_OUT) {
    log("the sinks and Kafka clients did not all close within the shutdown timeout (is a server away?); the group notices this member is gone after its session timeout");
  }
  const t = engine.totals;
  log(`stopped; read ${t.records} records: counted ${t.counted}, late ${t.late}, duplicates ${t.duplicates}, invalid ${t.invalid}`);
  const latency = engine.latency();
  if (latency) {
    log(`latency created_at to emission: p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms, max ${latency.maxMs} ms over ${latency.samples} sampled events`);
  }
  if (feed.firstRecordAtMs !== undefined && feed.lastRecordAtMs !== undefined && t.records > 1) {
    const seconds = (feed.lastRecordAtMs - feed.firstRecordAtMs) / 1000;
    log(
      `drain: ${t.records} records in ${seconds.toFixed(2)} s from first to last = ${Math.round(t.records / seconds)} records/s; ` +
        `peak rss ${Math.round(peakRssBytes() / 1e6)} MB; ` +
        `first at ${new Date(performance.timeOrigin + feed.firstRecordAtMs).toISOString()}, last at ${new Date(performance.timeOrigin + feed.lastRecordAtMs).toISOString()}`,
    );
    const cpu = feed.drainCpu;
    const cpuS = (cpu.lastUs - cpu.firstUs) / 1e6;
    log(
      `drain cpu: ${(cpuS * 1e6 / cpu.records).toFixed(2)} µs/record (${cpu.records} records, ${cpuS.toFixed(2)} s of process CPU, ` +
        `${Math.round((cpuS / seconds) * 100)} % of one core)`,
    );
  }
  if (fatal !== undefined) {
    if (fatal instanceof CheckpointError) throw new Error(fatal.message);
    throw new Error(`the aggregator stopped on an error: ${describeError(fatal)}`);
  }
}
