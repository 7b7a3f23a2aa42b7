/**
 * The compactor's core: merges the small files of closed hour partitions (lib/lake/compaction-plan.ts, planned over the snapshot's `add` sizes) while writers
 * keep appending and readers keep reading.
 *
 * A compaction is one Delta commit: `remove` of each input and `add` of the merged output, both
 * with `dataChange: false` (the same rows, rearranged; streaming readers skip it). The commit is
 * put-if-absent on the next version; after losing the race the compactor reads the commits it
 * missed: appends by lake writers do not conflict (they only add new files), but a commit that
 * removed one of its inputs (another compactor) does, and then this compaction is abandoned —
 * its output never referenced. Nothing is deleted here: the inputs stay on storage for readers of
 * older versions until vacuum deletes them after its retention.
 */
import { planCompactions } from "./compaction-plan.ts";
import { applyCommit, commit, type DeltaAction, type DeltaSnapshot } from "./delta-log.ts";
import { checkpointOnInterval } from "./delta-checkpoint.ts";
import { catchUp, loadSnapshot } from "./delta-snapshot.ts";
import { DEFAULT_FILE_RETENTION_MS } from "./delta-vacuum.ts";
import { addFileAction } from "./delta-table.ts";
import { compactedFileName } from "./layout.ts";
import { decodeLakeFile, encodeLakeFile, type LakeRow } from "./schema.ts";
import type { LakeStore } from "./store.ts";
import type { Clock } from "./writer.ts";

export interface CompactorOptions {
  clock: Clock;
  /** Input bytes per output file at most; files of half this or more count as large. Default 64 MiB. */
  targetBytes?: number;
  /** An hour is compacted once its end is this far in the past. Default 10 min. */
  closeAfterMs?: number;
  /** Fewest small files worth merging. Default 2. */
  minFiles?: number;
  /** Rows per row group in an output file. Default 131,072. */
  rowGroupRows?: number;
  /** Called after each committed compaction. */
  onCompacted?: (done: CompactedHour) => void;
}

export interface CompactedHour {
  /** The table version of its commit. */
  version: number;
  hour: string;
  inputs: number;
  rows: number;
  bytesIn: number;
  bytesOut: number;
}

/** An input file the snapshot lists is not in storage (vacuumed too early?): the compaction cannot read it. */
export class CompactionInputError extends Error {
  override name = "CompactionInputError";
  readonly code = "COMPACTION_INPUT";
}

/** Output order: by event time (tight created_at statistics per page and row group), then lineage. */
export function byTimeThenLineage(a: LakeRow, b: LakeRow): number {
  return (
    a.created_at.getTime() - b.created_at.getTime() ||
    a.kafka_partition - b.kafka_partition ||
    (a.kafka_offset < b.kafka_offset ? -1 : a.kafka_offset > b.kafka_offset ? 1 : 0)
  );
}

export interface CompactionSummary {
  compactions: number;
  inputFiles: number;
  rows: number;
  bytesIn: number;
  bytesOut: number;
  /** Compactions given up because a concurrent commit removed one of their inputs. */
  conflicts: number;
  /** Versions lost to other commits (writers' appends) and retried past. */
  raced: number;
  /** Checkpoints written after its commits (on the same interval as the writers'). */
  checkpoints: number;
  /** Why the last checkpoint due could not be written (its commit stands), if one could not. */
  checkpointError?: unknown;
  /** The table version after the last commit. */
  version: number;
}

export class LakeCompactor {
  constructor(
    private readonly store: LakeStore,
    private readonly options: CompactorOptions & {
      clock: Clock;
      /** A checkpoint after a commit whose version is a multiple of this. Default 10. */
      checkpointInterval?: number;
      /** Tombstones older than this are left out of checkpoints. Default 7 days. */
      tombstoneRetentionMs?: number;
    },
  ) {}

  async runOnce(): Promise<CompactionSummary> {
    const o = this.options;
    let snapshot = await loadSnapshot(this.store);
    const summary: CompactionSummary = { compactions: 0, inputFiles: 0, rows: 0, bytesIn: 0, bytesOut: 0, conflicts: 0, raced: 0, checkpoints: 0, version: snapshot.version };
    if (snapshot.version < 0) return summary;
    const plans = planCompactions([...snapshot.files].map(([path, add]) => ({ path, bytes: add.size })), {
      nowMs: o.clock.now(),
      closeAfterMs: o.closeAfterMs ?? 600_000,
      targetBytes: o.targetBytes ?? 64 * 1024 * 1024,
      minFiles: o.minFiles ?? 2,
    });
    for (const [index, plan] of plans.entries()) {
      const rows: LakeRow[] = [];
      let bytesIn = 0;
      for (const input of plan.inputs) {
        const bytes = await this.store.read(input.path);
        if (!bytes) throw new CompactionInputError(`${input.path} is in table version ${snapshot.version} but not in storage; was it vacuumed too early?`);
        bytesIn += bytes.byteLength;
        for (const row of await decodeLakeFile(bytes)) rows.push(row);
      }
      rows.sort(byTimeThenLineage);
      // Named after the version it is meant to be, and this run: another compactor's output never has its name.
      const output = `${plan.hour}/${compactedFileName(snapshot.version + 1, index, crypto.randomUUID().slice(0, 8))}`;
      const encoded = encodeLakeFile(rows, o.rowGroupRows === undefined ? {} : { rowGroupRows: o.rowGroupRows });
      await this.store.writeAtomic(output, encoded);
      const now = o.clock.now();
      const inputs = new Set(plan.inputs.map((i) => i.path));
      const actions: DeltaAction[] = [
        { commitInfo: { txnId: crypto.randomUUID(), timestamp: now, operation: "OPTIMIZE", operationParameters: { hour: plan.hour, inputs: String(inputs.size) }, engineInfo: "orderpulse-compactor", isBlindAppend: false } },
        ...plan.inputs.map((input): DeltaAction => {
          const add = snapshot.files.get(input.path)!;
          return { remove: { path: add.path, deletionTimestamp: now, dataChange: false, extendedFileMetadata: true, partitionValues: add.partitionValues, size: add.size } };
        }),
        { add: addFileAction(output, encoded.byteLength, rows, { modificationTime: now, dataChange: false }) },
      ];
      const landed = await this.#commitUnlessConflicting(snapshot, actions, inputs, summary);
      if (!landed.ok) {
        summary.conflicts += 1;
        snapshot = landed.snapshot;
        continue;
      }
      snapshot = landed.snapshot;
      const done: CompactedHour = { version: snapshot.version, hour: plan.hour, inputs: inputs.size, rows: rows.length, bytesIn, bytesOut: encoded.byteLength };
      summary.compactions += 1;
      summary.inputFiles += done.inputs;
      summary.rows += done.rows;
      summary.bytesIn += bytesIn;
      summary.bytesOut += done.bytesOut;
      o.onCompacted?.(done);
    }
    summary.version = snapshot.version;
    return summary;
  }

  /** Commits on top of `base`, retrying past commits that leave every input in the table. */
  async #commitUnlessConflicting(
    base: DeltaSnapshot,
    actions: DeltaAction[],
    inputs: ReadonlySet<string>,
    summary: CompactionSummary,
  ): Promise<{ ok: boolean; snapshot: DeltaSnapshot }> {
    let snapshot = base;
    for (;;) {
      if ([...inputs].some((path) => !snapshot.files.has(path))) return { ok: false, snapshot };
      if (await commit(this.store, snapshot.version + 1, actions)) {
        const next = applyCommit(snapshot, snapshot.version + 1, actions);
        const checkpoint = await checkpointOnInterval(this.store, next, {
          interval: this.options.checkpointInterval ?? 10,
          tombstonesSinceMs: this.options.clock.now() - (this.options.tombstoneRetentionMs ?? DEFAULT_FILE_RETENTION_MS),
        });
        if (checkpoint.written) summary.checkpoints += 1;
        if (checkpoint.error !== undefined) summary.checkpointError = checkpoint.error;
        return { ok: true, snapshot: next };
      }
      summary.raced += 1;
      snapshot = await catchUp(this.store, snapshot);
    }
  }
}
