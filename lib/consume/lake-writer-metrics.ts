/**
 * The lake writer's Prometheus metrics (`orderpulse_lake_*` and the shared process ones), read
 * from its LakeWriter and its run's progress at each scrape, and its readiness.
 */
import type { LakeWriter } from "../lake/writer.ts";
import { EventLoopDelay } from "../ops/event-loop-delay.ts";
import { MetricsRegistry } from "../ops/prometheus.ts";
import { ReadinessRule } from "../ops/readiness.ts";
import type { WorkerOps } from "../ops/worker-ops.ts";
import { processMetrics } from "../ops/process-metrics.ts";
import type { LakeWriterProgress } from "./run-lake-writer.ts";

export function lakeWriterOps(writer: LakeWriter, progress: LakeWriterProgress, options: { stallMs: number; now: () => number }): WorkerOps {
  const registry = new MetricsRegistry();
  const eventLoop = new EventLoopDelay();
  registry.counter("orderpulse_records_read_total", "Records read from the orders topic by this process.", () => writer.totals.records);
  registry.counter("orderpulse_lake_rows_total", "Records read, by what became of them: valid (a row of the lake) or invalid (left out).", () => [
    { labels: { outcome: "valid" }, value: writer.totals.valid },
    { labels: { outcome: "invalid" }, value: writer.totals.invalid },
  ]);
  registry.counter("orderpulse_lake_files_written_total", "Data files this process wrote to the lake.", () => writer.totals.files);
  registry.counter("orderpulse_lake_bytes_written_total", "Bytes of data files this process wrote to the lake.", () => writer.totals.bytes);
  registry.counter("orderpulse_lake_commits_total", "Delta commits this process made.", () => writer.commits.made);
  registry.counter("orderpulse_lake_checkpoint_failures_total", "Delta checkpoints that could not be written (the commits stand).", () => writer.commits.checkpointFailures);
  registry.counter("orderpulse_corrupt_batches_total", "Corrupt record batches skipped.", () => progress.corruptBatches);
  registry.gauge("orderpulse_assigned_partitions", "Partitions of the orders topic this worker owns.", () => writer.owned().length);
  registry.gauge("orderpulse_consumer_lag_records", "Records between a partition's read position and its end, at the last fetch.", () =>
    [...progress.lag].sort((a, b) => a[0] - b[0]).map(([partition, value]) => ({ labels: { partition }, value })),
  );
  registry.gauge("orderpulse_lake_buffered_rows", "Valid rows read and not yet committed to the lake.", () => writer.bufferedRows);
  registry.gauge("orderpulse_lake_table_version", "The newest Delta table version this writer knows.", () => writer.version);
  registry.gauge("orderpulse_lake_commit_age_seconds", "Time since this writer last committed offsets to the lake.", () =>
    progress.committedAtMs === null ? null : (options.now() - progress.committedAtMs) / 1000,
  );
  processMetrics(registry, eventLoop);

  const readiness = new ReadinessRule(options.stallMs, options.now());
  const sample = () => {
    let lag: number | null = null;
    for (const v of progress.lag.values()) lag = (lag ?? 0) + Number(v);
    readiness.observe({ assigned: writer.owned().length, processed: writer.totals.records, lag, fetchedAtMs: progress.fetchedAtMs }, options.now());
  };
  return { registry, readiness, sample, stop: () => eventLoop.stop() };
}
