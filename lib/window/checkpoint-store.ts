/**
 * Where the aggregator's checkpoint bytes live. The worker saves after its sinks have flushed
 * and loads once at start; `lib/window/file-checkpoint-store.ts` is the durable one.
 */
export interface CheckpointStore {
  /** The last saved bytes, or undefined when nothing was ever saved. */
  load(): Promise<Uint8Array | undefined>;
  /** Replace the saved bytes; once this resolves, a crash leaves these or nothing newer. */
  save(bytes: Uint8Array): Promise<void>;
}

/** A store in memory, for tests and for runs that need no restart. Keeps its own copy. */
export class MemoryCheckpointStore implements CheckpointStore {
  private bytes: Uint8Array | undefined;

  load(): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.bytes?.slice());
  }

  save(bytes: Uint8Array): Promise<void> {
    this.bytes = bytes.slice();
    return Promise.resolve();
  }
}
