/**
 * Where one partition's aggregator state is kept between runs. The engine loads it when the
 * group assigns the partition, and saves it after every sink took the results the state covers.
 * Two implementations: {@link SnapshotStore} below (the whole state each time, in a
 * {@link CheckpointStore}: a file on one host, or memory) and lib/consume/changelog-store.ts
 * (only what changed, in a compacted Kafka topic: no shared disk).
 */
import { type CheckpointStore } from "./checkpoint-store.ts";
import { CheckpointError, decodeCheckpoint, encodeCheckpoint } from "./checkpoint.ts";
import type { AggregatorSettings, PartitionSnapshot } from "./partition-aggregator.ts";

export interface StateStore {
  /**
   * The saved state, or undefined when none was ever saved. Throws a {@link CheckpointError}
   * when what is there cannot be used (corrupt, another version, other settings).
   */
  load(): Promise<PartitionSnapshot | undefined>;
  /** Saves `snapshot`; once this resolves, a restart resumes from it or from a newer one. */
  save(snapshot: PartitionSnapshot): Promise<void>;
  /** Bytes written so far (for metrics and benchmarks). */
  readonly bytesWritten: number;
}

/**
 * A save that did not reach the store (its server away, a timeout): nothing is lost, the next
 * save writes everything since the last one that succeeded, so the worker retries at its next
 * checkpoint rather than stopping.
 */
export class StateWriteError extends Error {
  override name = "StateWriteError";
  readonly retriable = true;
}

/**
 * A save refused because another worker has claimed the partition since this store's owner did:
 * the partition was revoked. Nothing is wrong; the engine drops the save.
 */
export class StateFencedError extends Error {
  override name = "StateFencedError";
}

/** What a store is for: the engine passes it to the factory of its options. */
export interface StateStoreContext {
  topic: string;
  partition: number;
  settings: AggregatorSettings;
}

/** A {@link StateStore} that writes the whole state each time, as one checkpoint (lib/window/checkpoint.ts). */
export class SnapshotStore implements StateStore {
  bytesWritten = 0;

  constructor(
    private readonly bytes: CheckpointStore,
    private readonly context: StateStoreContext,
  ) {}

  async load(): Promise<PartitionSnapshot | undefined> {
    const bytes = await this.bytes.load();
    if (!bytes) return undefined;
    const { topic, partition, settings } = this.context;
    const saved = decodeCheckpoint(bytes, { settings }).partitions.find((p) => p.partition === partition && p.topic === topic);
    if (!saved) throw new CheckpointError("corrupt", `checkpoint of partition ${partition} holds no state for ${topic}/${partition}`);
    return saved;
  }

  async save(snapshot: PartitionSnapshot): Promise<void> {
    const bytes = encodeCheckpoint({ settings: this.context.settings, partitions: [snapshot] });
    await this.bytes.save(bytes);
    this.bytesWritten += bytes.length;
  }
}
