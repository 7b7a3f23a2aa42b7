/**
 * Where the aggregator's results go. The worker writes each batch of emissions, and before it
 * saves a checkpoint it awaits `flush()`: a sink must have made everything written so far
 * durable (or acknowledged by its server) when `flush()` resolves, because the checkpoint then
 * moves past the records those results came from.
 *
 * Results are keyed by (partition, windowStartMs); a sink stores a later result for a key over
 * an earlier one (an InfluxDB point with the same series and timestamp), or keeps every result
 * in order (a JSON-lines file) so that the last one per key is the current value.
 */
import type { WindowResult } from "./window-aggregate.ts";

/** The worker's own health figures, written every few seconds. */
export interface WorkerMetrics {
  worker: string;
  atMs: number;
  /** Records read per second over the last interval. */
  eventsPerSecond: number;
  /** Totals since the worker started. */
  counted: number;
  duplicates: number;
  late: number;
  invalid: number;
  partitions: PartitionMetrics[];
}

export interface PartitionMetrics {
  partition: number;
  /**
   * The partition's own counters, cumulative over its whole history: they are part of its
   * checkpoint, so they keep growing across restarts and moves to another worker.
   * events = counted + duplicates + late + invalid.
   */
  events: number;
  counted: number;
  duplicates: number;
  late: number;
  invalid: number;
  /** -Infinity until the partition saw a counted event. */
  watermarkMs: number;
  /** Wall clock minus watermark, in ms (how far results trail real time); null before the first event. */
  watermarkDelayMs: number | null;
  /** Records between the partition's last read offset and its end, at the last lag check. */
  lag: bigint | null;
  /** Time since the partition's checkpoint was last saved, in ms; null before the first save. */
  checkpointAgeMs: number | null;
}

export interface ResultSink {
  /** For logs: `console`, `jsonl:/path`, ... */
  readonly name: string;
  /** Lines written to the sink and not yet taken by its server (for metrics), when it buffers. */
  readonly bufferedLines?: number;
  /** Writes to its server that failed and were retried, since start (for metrics). */
  readonly failedAttempts?: number;
  write(results: readonly WindowResult[]): Promise<void>;
  writeMetrics(metrics: WorkerMetrics): Promise<void>;
  /**
   * True while the sink holds as much unwritten data as it may (its server is slow or down):
   * the worker stops fetching until it is false again, rather than letting anything drop.
   */
  congested?(): boolean;
  /** Resolves once everything written is durable. */
  flush(): Promise<void>;
  /**
   * The worker lost `partitions`: drop their results still queued here, so they cannot land
   * after the new owner's and replace them. Resolves once nothing of theirs is in flight. A sink
   * that queues nothing (it writes synchronously) need not implement it.
   */
  revoke?(partitions: readonly number[]): Promise<void>;
  close(): Promise<void>;
}
