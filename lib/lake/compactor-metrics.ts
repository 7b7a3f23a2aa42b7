/**
 * The compactor's Prometheus metrics and readiness: passes, merges, bytes in and out, files
 * deleted; ready while passes keep finishing (a pass is due every interval and may take up to the
 * stall time more).
 */
import { EventLoopDelay } from "../ops/event-loop-delay.ts";
import { MetricsRegistry } from "../ops/prometheus.ts";
import { processMetrics } from "../ops/process-metrics.ts";
import { ProgressRule } from "../ops/readiness.ts";
import type { WorkerOps } from "../ops/worker-ops.ts";

/** What workers/compact.ts counts as it goes. */
export interface CompactorProgress {
  passes: number;
  failedPasses: number;
  compactions: number;
  inputFiles: number;
  rows: number;
  bytesIn: number;
  bytesOut: number;
  conflicts: number;
  /** Files vacuum deleted (replaced and never-committed), and log entries clean-up deleted. */
  deleted: number;
  logDeleted: number;
  /** The table version after the last pass; null before one. */
  version: number | null;
}

export function newCompactorProgress(): CompactorProgress {
  return { passes: 0, failedPasses: 0, compactions: 0, inputFiles: 0, rows: 0, bytesIn: 0, bytesOut: 0, conflicts: 0, deleted: 0, logDeleted: 0, version: null };
}

export function compactorOps(progress: CompactorProgress, options: { intervalMs: number; stallMs: number; now: () => number }): WorkerOps {
  const registry = new MetricsRegistry();
  const eventLoop = new EventLoopDelay();
  registry.counter("orderpulse_compaction_passes_total", "Compaction passes, by result: ok, or failed (the lake's disk full or its object store away; retried at the next pass).", () => [
    { labels: { result: "ok" }, value: progress.passes - progress.failedPasses },
    { labels: { result: "failed" }, value: progress.failedPasses },
  ]);
  registry.counter("orderpulse_compaction_merges_total", "Merges committed: each replaced an hour's small files with one.", () => progress.compactions);
  registry.counter("orderpulse_compaction_input_files_total", "Files merges replaced.", () => progress.inputFiles);
  registry.counter("orderpulse_compaction_rows_total", "Rows merges rewrote.", () => progress.rows);
  registry.counter("orderpulse_compaction_input_bytes_total", "Bytes merges read.", () => progress.bytesIn);
  registry.counter("orderpulse_compaction_output_bytes_total", "Bytes merges wrote.", () => progress.bytesOut);
  registry.counter("orderpulse_compaction_conflicts_total", "Merges abandoned because another commit removed their inputs first.", () => progress.conflicts);
  registry.counter("orderpulse_lake_vacuum_deleted_files_total", "Files vacuum deleted (replaced past the retention, and never committed).", () => progress.deleted);
  registry.counter("orderpulse_lake_log_deleted_total", "Log commits, checkpoints and temporaries the log clean-up deleted.", () => progress.logDeleted);
  registry.gauge("orderpulse_lake_table_version", "The table version after the compactor's last pass.", () => progress.version);
  processMetrics(registry, eventLoop);
  const readiness = new ProgressRule(options.intervalMs + options.stallMs, options.now(), "compaction pass finished");
  return { registry, readiness, sample: () => readiness.observe(progress.passes - progress.failedPasses, options.now()), stop: () => eventLoop.stop() };
}
