/**
 * The order-event producer: runs the seeded simulator (lib/event/simulator.ts) and publishes each
 * record to Kafka (key = user_id, value = the JSON bytes, headers `schema_version` and
 * `emitted_at_ms`), or writes JSON lines to stdout with --stdout.
 *
 * Shell only: flags and environment, the destination, progress, signals and the summary. The
 * generator thread (lib/produce/record-feed.ts) decides the bytes; the paced send loop is
 * lib/produce/send-chunks.ts.
 */
import { rename, writeFile } from "node:fs/promises";
import { type FlagSpec, parseCommand } from "../lib/runtime/cli.ts";
import { ConfigError, intParser, kafkaSettings, opsSettings, topicSettings } from "../lib/runtime/config.ts";
import { producerOps } from "../lib/produce/producer-metrics.ts";
import { serveWorkerOps } from "../lib/ops/worker-ops.ts";
import { connectionFromConfig, describeConnection, ensureTopics, waitForBroker } from "../lib/kafka/client.ts";
import { BatchProducer } from "../lib/kafka/batch-producer.ts";
import { COMPRESSION_CODES, type Compression } from "../lib/kafka/record-batch.ts";
import { formatBar, formatNotAcknowledged, formatProgress, formatSummary, ProduceTally, summaryJson } from "../lib/produce/tally.ts";
import { seedFrom } from "../lib/event/prng.ts";
import { type ChunkSink, KafkaSink, StdoutSink } from "../lib/produce/chunk-sink.ts";
import type { ChunkMode } from "../lib/produce/record-chunk.ts";
import { ChunkSender } from "../lib/produce/send-chunks.ts";
import { MAX_JITTER_MS, type SimulatorOptions } from "../lib/event/simulator.ts";
import { describeError } from "../lib/runtime/worker-runtime.ts";
import { RecordFeed } from "../lib/produce/record-feed.ts";
import { duration, flagValue, fraction, UsageError, wholeNumber } from "../lib/runtime/flag-values.ts";

/** How far ahead of the clock a paced stream without --start begins: covers connecting and warm-up. */
const START_LEAD_MS = 2_000;
/** Most stream time one paced chunk covers: how long its first record may wait for its last. */
const CHUNK_SPAN_MS = 20;

const flags = {
  seed: { type: "string", value: "S", describe: "seed (number or text); same seed + --start = byte-identical stream. Default: random, printed" },
  start: { type: "string", value: "ISO", describe: "stream time of the first event, e.g. 2026-11-27T18:00:00.000Z. Default: now with --max; paced, 2 s from now, so each event is sent at its created_at" },
  rate: { type: "string", value: "N", describe: "mean events/s of stream time; paced to the wall clock unless --max. Default 1000" },
  max: { type: "boolean", describe: "send as fast as possible (stream time still advances at --rate)" },
  flat: { type: "boolean", describe: "steady rate: no daily curve, no flash sales" },
  "flash-sale-every": { type: "string", value: "DUR", describe: "mean stream time between flash-sale bursts (3-8x traffic for 20-90 s); 0 = none. Default 5m" },
  count: { type: "string", value: "N", describe: "stop after N records (all kinds). Default: no limit" },
  duration: { type: "string", value: "DUR", describe: "stop after this much wall time, e.g. 30s, 5m. Default: no limit" },
  "late-fraction": { type: "string", value: "F", describe: "share of orders created 30 s..10 min before they are sent. Default 0" },
  "late-beyond-share": { type: "string", value: "F", describe: "of the late ones, share beyond the 2-min watermark (3..10 min); rest 30..110 s. Default 0.5" },
  "out-of-order": { type: "string", value: "F", describe: "share of orders whose created_at is jittered back by up to --jitter. Default 0" },
  jitter: { type: "string", value: "DUR", describe: `largest out-of-order jitter, at most ${MAX_JITTER_MS} ms. Default 5s` },
  "duplicate-fraction": { type: "string", value: "F", describe: "share of good events re-sent once, same bytes and key, within 200 records. Default 0" },
  "malformed-fraction": { type: "string", value: "F", describe: "share of records broken on purpose (bad JSON, missing fields, bad types, ...). Default 0" },
  customers: { type: "string", value: "N", describe: "customer population. Default 200000" },
  products: { type: "string", value: "N", describe: "catalog size. Default 5000" },
  stdout: { type: "boolean", describe: "write JSON lines to stdout instead of Kafka" },
  topic: { type: "string", value: "NAME", describe: "topic to write to (overrides ORDERS_TOPIC)" },
  compression: { type: "string", value: "C", describe: "lz4, zstd, snappy, gzip or none. Default lz4" },
  batch: { type: "string", value: "N", describe: "most records per produce request. Default 8192" },
  "progress-every": { type: "string", value: "DUR", describe: "progress line on stderr this often. Default 5s" },
  "summary-json": { type: "string", value: "PATH", describe: "also write the summary as JSON to PATH (atomically)" },
  "metrics-port": { type: "string", value: "PORT", describe: "serve /metrics, /healthz and /readyz on this port (overrides METRICS_PORT)" },
  "shutdown-timeout": { type: "string", value: "DUR", describe: "on stop, how long to wait for the broker to acknowledge what is in flight; then exit 1 saying how many events were not. Default 30s" },
} satisfies Record<string, FlagSpec>;

const settings = {
  ...kafkaSettings,
  ORDERS_TOPIC: topicSettings.ORDERS_TOPIC,
  ORDERS_PARTITIONS: topicSettings.ORDERS_PARTITIONS,
  ...opsSettings,
};

const SUMMARY = `Simulates a shop's order events (catalog, customers, daily traffic, flash sales) from a seed and
publishes them to Kafka, key = user_id, with optional late, out-of-order, duplicate and malformed
events, each counted in the final summary. Progress and the summary go to stderr; --summary-json
writes the summary's counts for machines. SIGINT/SIGTERM: stop, wait up to --shutdown-timeout for
what is in flight, summarise; exit 0, or 1 with a line saying how many events were not acknowledged.
Creates ORDERS_TOPIC when missing: ORDERS_PARTITIONS partitions, the broker's replication factor
and defaults (README: Topics orderpulse creates; pre-create it to choose otherwise).`;

async function main(): Promise<number> {
  const parsed = parseCommand({ usage: "bun run workers/produce.ts [options]", summary: SUMMARY, flags, settings }, process.argv.slice(2), process.env);
  if (parsed.kind === "help" || parsed.kind === "version") {
    process.stdout.write(parsed.text);
    return 0;
  }
  if (parsed.kind === "error") {
    console.error(parsed.message);
    return 2;
  }
  const { flags: f, config } = parsed;

  const seedText = f.seed ?? String(Math.floor(Math.random() * 2 ** 31));
  // Without --start, a paced stream starts a moment from now: its first event's created_at is the
  // wall-clock moment it is sent, not the moment the process began connecting and warming up the
  // generator (which made the first seconds of every live run look seconds late downstream).
  const startLeadMs = f.start === undefined && !f.max ? START_LEAD_MS : 0;
  const startMs = f.start === undefined ? Date.now() + startLeadMs : Date.parse(f.start);
  if (!Number.isFinite(startMs)) throw new UsageError(`--start must be an ISO-8601 time: got ${JSON.stringify(f.start)}`);
  const ratePerS = Number(f.rate ?? 1000);
  if (!(ratePerS > 0)) throw new UsageError(`--rate must be a positive number of events/s: got ${JSON.stringify(f.rate)}`);
  const count = wholeNumber("count", f.count, undefined, 0);
  const durationMs = f.duration === undefined ? undefined : duration("duration", f.duration, 0);
  const batchSize = wholeNumber("batch", f.batch, 8192)!;
  const progressEveryMs = duration("progress-every", f["progress-every"], 5_000);
  const metricsPort = flagValue("metrics-port", f["metrics-port"], config.METRICS_PORT, intParser(0, 65_535));
  const shutdownTimeoutMs = duration("shutdown-timeout", f["shutdown-timeout"], 30_000);
  // lz4: as fast to send as zstd here, and the aggregator reads it faster (lib/kafka/lz4-frame.ts).
  const compression = f.compression ?? "lz4";
  if (!Object.hasOwn(COMPRESSION_CODES, compression)) {
    throw new UsageError(`--compression must be lz4, zstd, snappy, gzip or none: got ${JSON.stringify(compression)}`);
  }

  const simOptions: SimulatorOptions = {
    seed: seedFrom(seedText),
    startMs,
    ratePerS,
    dailyCurve: !f.flat,
    flashSaleEveryMs: f.flat ? 0 : duration("flash-sale-every", f["flash-sale-every"], 5 * 60_000),
    lateFraction: fraction("late-fraction", f["late-fraction"], 0),
    lateBeyondShare: fraction("late-beyond-share", f["late-beyond-share"], 0.5),
    outOfOrderFraction: fraction("out-of-order", f["out-of-order"], 0),
    jitterMs: duration("jitter", f.jitter, 5_000),
    duplicateFraction: fraction("duplicate-fraction", f["duplicate-fraction"], 0),
    malformedFraction: fraction("malformed-fraction", f["malformed-fraction"], 0),
    customers: { customers: wholeNumber("customers", f.customers, 200_000) },
    catalog: { products: wholeNumber("products", f.products, 5_000) },
  };

  const tally = new ProduceTally();
  const stop = new AbortController();
  let stoppedBy = "count";
  // Set when the stop begins (a signal, or the end of the run): sends are retried until then, and
  // no later, whatever the broker does.
  let stopDeadline = Infinity;
  const log = (line: string) => process.stderr.write(`[produce] ${line}\n`);

  let sink: ChunkSink;
  let destination: string;
  let mode: ChunkMode;
  if (f.stdout) {
    sink = new StdoutSink();
    destination = "stdout";
    mode = { kind: "lines" };
  } else {
    const topic = f.topic ?? config.ORDERS_TOPIC;
    const conn = connectionFromConfig(config);
    await waitForBroker(conn, { onWait: (attempt) => attempt === 1 && log(`waiting for a broker at ${describeConnection(conn)}`) });
    await ensureTopics(conn, [{ name: topic, partitions: config.ORDERS_PARTITIONS, replicas: -1 }]);
    const producer = new BatchProducer(conn, { topic, compression: compression as Compression, role: "produce" });
    const partitions = await producer.partitions();
    sink = new KafkaSink(producer, {
      onError: (error, attempt) => {
        tally.errors++;
        log(`send failed (attempt ${attempt}), retrying: ${describeError(error)}`);
      },
      giveUp: () => performance.now() > stopDeadline,
    });
    destination = `topic ${topic} (${partitions} partitions, ${compression}) at ${describeConnection(conn)}`;
    mode = { kind: "kafka", partitions };
  }
  // The simulator runs on its own thread, a few chunks ahead of the sends, and encodes the records.
  // A paced chunk covers at most CHUNK_SPAN_MS of stream time, so no record waits longer than that.
  const feed = new RecordFeed({ options: simOptions, mode, chunkRecords: batchSize, chunkSpanMs: f.max ? Infinity : CHUNK_SPAN_MS, count });

  const onSignal = (signal: string) => {
    if (stop.signal.aborted) {
      log(`${signal} again: exiting without flushing`);
      process.exit(130);
    }
    stoppedBy = signal;
    stopDeadline = performance.now() + shutdownTimeoutMs;
    log(`${signal}: stopping; waiting up to ${shutdownTimeoutMs} ms (--shutdown-timeout) for what is in flight`);
    stop.abort();
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));

  // Stream time startMs is sent at wall time startMs (the lead above), or right away with --start.
  const t0 = performance.now() + (startLeadMs > 0 ? Math.max(0, startMs - Date.now()) : 0);
  const cpu0 = { thread: process.threadCpuUsage(), process: process.cpuUsage() };
  // One chunk in flight at a time, the next one prepared meanwhile (lib/produce/send-chunks.ts).
  const sender = new ChunkSender({
    feed,
    sink,
    tally,
    paced: !f.max,
    streamStartMs: Math.floor(startMs),
    t0,
    durationMs,
    signal: stop.signal,
    log,
  });
  const ops = metricsPort === null ? undefined : producerOps(tally, () => sender.inFlightRecords, { stallMs: config.READY_STALL_TIMEOUT, now: () => Date.now() });
  const served = ops && serveWorkerOps(ops, { port: metricsPort!, hostname: config.METRICS_HOST, now: () => Date.now(), log });
  let lastProgress = { atMs: 0, sent: 0 };
  const tty = process.stderr.isTTY === true;
  const progress = setInterval(() => {
    const nowMs = performance.now() - t0;
    const rateNowPerS = ((tally.sent - lastProgress.sent) * 1000) / Math.max(1, nowMs - lastProgress.atMs);
    lastProgress = { atMs: nowMs, sent: tally.sent };
    const line = formatProgress({ sent: tally.sent, errors: tally.errors, inFlight: sender.inFlightRecords, elapsedMs: nowMs, rateNowPerS });
    if (tty) process.stderr.write(`\r\x1b[2K${formatBar(tally.sent, count)} ${line}`);
    else log(line);
  }, tty ? Math.min(progressEveryMs, 250) : progressEveryMs);

  const end = await sender.run();
  if (end === "duration") stoppedBy = "duration";
  if (!stop.signal.aborted) {
    stopDeadline = performance.now() + shutdownTimeoutMs;
    stop.abort();
  }
  const unacknowledged = await sender.settle(stopDeadline);
  const elapsedMs = performance.now() - t0;
  const cpu1 = { thread: process.threadCpuUsage(cpu0.thread), process: process.cpuUsage(cpu0.process) };
  clearInterval(progress);
  await served?.close();
  if (tty) process.stderr.write("\n");
  feed.close();
  // Closing waits for the broker too: only for what is left of the deadline.
  const closing = sink.close().catch((error) => log(`closing the producer failed: ${String(error)}`));
  await Promise.race([closing, Bun.sleep(Math.max(0, stopDeadline - performance.now()))]);

  const summary = tally.summary(elapsedMs);
  process.stderr.write(`${formatSummary(summary, { destination, seed: seedText, stoppedBy })}\n`);
  if (f["summary-json"]) {
    const path = f["summary-json"];
    const json = summaryJson(summary, {
      seed: seedText,
      startMs,
      destination,
      stoppedBy,
      cpu: { sendingThread: cpu1.thread, generatorThreadMs: feed.generatorCpuMs, process: cpu1.process },
    });
    await writeFile(`${path}.tmp`, `${JSON.stringify(json, null, 2)}\n`);
    await rename(`${path}.tmp`, path);
  }
  if (summary.failed > 0) log(formatNotAcknowledged(summary.failed, { destination, timedOut: unacknowledged > 0, shutdownTimeoutMs }));
  return summary.failed > 0 ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  // The message and its causes, not the inspected error object: that would print every property
  // of the client's errors, and a secret must not reach the log through one of them.
  if (error instanceof UsageError) console.error(`${error.message}\nRun with --help to see the options.`);
  else console.error(`error: ${describeError(error)}`);
  process.exitCode = error instanceof UsageError || error instanceof ConfigError ? 2 : 1;
}
process.exit(process.exitCode);
