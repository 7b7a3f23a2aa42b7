/**
 * The aggregator's Prometheus metrics (`orderpulse_*`), read from the engine, its sinks and the
 * process at each scrape, and its readiness (lib/ops/readiness.ts). Counters are this process's
 * own since it started (a restart resets them, which Prometheus' `rate()` expects).
 */
import { EventLoopDelay } from "../ops/event-loop-delay.ts";
import { processMetrics } from "../ops/process-metrics.ts";
import { type Histogram, MetricsRegistry, type Sample } from "../ops/prometheus.ts";
import { type ProgressSample, ReadinessRule } from "../ops/readiness.ts";
import type { WorkerOps } from "../ops/worker-ops.ts";
import type { AggregatorEngine } from "../window/aggregator-engine.ts";
import type { ResultSink } from "../window/result-sink.ts";

/** Upper bounds of the created_at → emission latency histogram, in seconds. */
export const EMISSION_LATENCY_BUCKETS_S = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300] as const;

export function aggregatorOps(engine: AggregatorEngine, sinks: readonly ResultSink[], options: { stallMs: number; now: () => number }): WorkerOps & { latency: Histogram } {
  const registry = new MetricsRegistry();
  const eventLoop = new EventLoopDelay();
  const partitions = () => engine.metrics(0).partitions;
  const perPartition = (value: (p: ReturnType<typeof partitions>[number]) => number | bigint | null): Sample[] =>
    partitions().flatMap((p) => {
      const v = value(p);
      return v === null ? [] : [{ labels: { partition: p.partition }, value: v }];
    });

  registry.counter("orderpulse_records_read_total", "Records read from the orders topic by this process.", () => engine.totals.records);
  registry.counter("orderpulse_events_total", "Records read, by what became of them: counted in a window, late (past the watermark), duplicate, invalid.", () => [
    { labels: { outcome: "counted" }, value: engine.totals.counted },
    { labels: { outcome: "late" }, value: engine.totals.late },
    { labels: { outcome: "duplicate" }, value: engine.totals.duplicates },
    { labels: { outcome: "invalid" }, value: engine.totals.invalid },
  ]);
  registry.counter("orderpulse_invalid_events_total", "Invalid records sent to the DLQ, by reason.", () =>
    [...engine.invalidByReason].sort((a, b) => a[0].localeCompare(b[0])).map(([reason, value]) => ({ labels: { reason }, value })),
  );
  registry.gauge("orderpulse_assigned_partitions", "Partitions of the orders topic this worker owns.", () => engine.partitions.length);
  registry.gauge("orderpulse_consumer_lag_records", "Records between a partition's read position and its end, at the last fetch.", () => perPartition((p) => p.lag));
  registry.gauge("orderpulse_watermark_delay_seconds", "Wall clock minus a partition's watermark: how far final results trail real time.", () =>
    perPartition((p) => (p.watermarkDelayMs === null ? null : p.watermarkDelayMs / 1000)),
  );
  registry.gauge("orderpulse_checkpoint_age_seconds", "Time since a partition's state was last checkpointed.", () =>
    perPartition((p) => (p.checkpointAgeMs === null ? null : p.checkpointAgeMs / 1000)),
  );
  registry.gauge("orderpulse_state_bytes", "Bytes of window and de-duplication state held in memory.", () => engine.held().bytes);
  registry.counter("orderpulse_state_written_bytes_total", "Bytes this process wrote to its state store (checkpoints or changelog).", () => engine.stateBytesWritten());
  registry.gauge("orderpulse_sink_buffered_lines", "Results written to a sink and not yet taken by its server.", () =>
    sinks.filter((s) => s.bufferedLines !== undefined).map((s) => ({ labels: { sink: s.name }, value: s.bufferedLines! })),
  );
  registry.counter("orderpulse_sink_failed_writes_total", "Writes to a sink's server that failed and were retried.", () =>
    sinks.filter((s) => s.failedAttempts !== undefined).map((s) => ({ labels: { sink: s.name }, value: s.failedAttempts! })),
  );
  const latency = registry.histogram("orderpulse_emission_latency_seconds", "Sampled events' created_at to the first emission of a window that includes them.", EMISSION_LATENCY_BUCKETS_S);
  processMetrics(registry, eventLoop);

  const readiness = new ReadinessRule(options.stallMs, options.now());
  const sample = () => {
    let lag: number | null = null;
    for (const p of partitions()) if (p.lag !== null) lag = (lag ?? 0) + Number(p.lag);
    const progress: ProgressSample = { assigned: engine.partitions.length, processed: engine.totals.records, lag, fetchedAtMs: engine.fetchAnsweredAtMs() };
    readiness.observe(progress, options.now());
  };
  return { registry, readiness, sample, latency, stop: () => eventLoop.stop() };
}
