/**
 * The compactor's core: merges the small files of closed hour partitions (lib/lake/compaction-plan.ts, planned over the snapshot's `add` sizes) while writers
 * keep appending and readers keep reading. The merge copies large row groups byte for byte and
 * encodes only the rows of small ones again (lib/lake/merge-lake-files.ts); the output's
 * statistics are its inputs' merged, so no row is read for them.
 *
 * Compactions are Delta commits of up to 64 merges each: per merge, a `remove` of each input and
 * the `add` of the merged output, both with `dataChange: false` (the same rows, rearranged;
 * streaming readers skip it). The commit is put-if-absent on the next version; after losing the
 * race the compactor reads the commits it missed: appends by lake writers do not conflict (they
 * only add new files), but a commit that removed one of its inputs (another compactor) does, and
 * then that merge is left out of the commit — its output never referenced. Nothing is deleted here: the inputs stay on storage for readers of
 * older versions until vacuum deletes them after its retention.
 */
import { type PlannedCompaction, planCompactions } from "./compaction-plan.ts";
import { type AddAction, applyCommit, commit, type DeltaAction, type DeltaSnapshot } from "./delta-log.ts";
import { checkpointOnInterval } from "./delta-checkpoint.ts";
import { catchUp, loadSnapshot } from "./delta-snapshot.ts";
import { DEFAULT_FILE_RETENTION_MS } from "./delta-vacuum.ts";
import { addFileAction, mergeSummaries, summaryOfStatistics } from "./delta-table.ts";
import { compactedFileName } from "./layout.ts";
import type { LakeFileSummary } from "./lake-encoder.ts";
import { mergeLakeFiles } from "./merge-lake-files.ts";
import { decodeLakeFile } from "./schema.ts";
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
  /** Rows per row group of the rows an output encodes again. Default 131,072. */
  rowGroupRows?: number;
  /** Input row groups of at least this many rows are copied as they are, not decoded. Default 10,000. */
  copyMinRows?: number;
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

export interface CompactionSummary {
  compactions: number;
  inputFiles: number;
  rows: number;
  bytesIn: number;
  bytesOut: number;
  /** Input row groups copied as they were, and rows decoded and encoded again. */
  copiedGroups: number;
  rewrittenRows: number;
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
    const summary: CompactionSummary = { compactions: 0, inputFiles: 0, rows: 0, bytesIn: 0, bytesOut: 0, copiedGroups: 0, rewrittenRows: 0, conflicts: 0, raced: 0, checkpoints: 0, version: snapshot.version };
    if (snapshot.version < 0) return summary;
    const plans = planCompactions([...snapshot.files].map(([path, add]) => ({ path, bytes: add.size })), {
      nowMs: o.clock.now(),
      closeAfterMs: o.closeAfterMs ?? 600_000,
      targetBytes: o.targetBytes ?? 64 * 1024 * 1024,
      minFiles: o.minFiles ?? 2,
    });
    const run = crypto.randomUUID().slice(0, 8);
    // The plans in chunks of up to 64 merges, each chunk one commit. Up to 8 merges read, merge
    // and write at once (each output's fsyncs wait on the disk, not on us), holding at most
    // 256 MiB of inputs between them (one larger merge runs alone).
    for (let first = 0; first < plans.length; first += MERGES_PER_COMMIT) {
      const chunk = plans.slice(first, first + MERGES_PER_COMMIT);
      const prepared: (PreparedMerge | undefined)[] = new Array(chunk.length);
      const running = new Set<Promise<void>>();
      let heldBytes = 0;
      let failure: { error: unknown } | undefined;
      for (const [i, plan] of chunk.entries()) {
        const bytes = plan.inputs.reduce((n, input) => n + input.bytes, 0);
        while (running.size > 0 && (running.size >= MERGE_CONCURRENCY || heldBytes + bytes > MERGE_BYTES_IN_FLIGHT)) await Promise.race(running);
        if (failure) break;
        heldBytes += bytes;
        const work: Promise<void> = this.#prepare(snapshot, plan, first + i, run, summary)
          .then(
            (merge) => void (prepared[i] = merge),
            (error) => void (failure ??= { error }),
          )
          .finally(() => {
            heldBytes -= bytes;
            running.delete(work);
          });
        running.add(work);
      }
      await Promise.all(running);
      // Outputs already written stay unreferenced (vacuum deletes them); nothing was committed for them.
      if (failure) throw failure.error;
      const merges = prepared.filter((m) => m !== undefined);
      if (merges.length > 0) snapshot = await this.#commitMerges(snapshot, merges, summary);
    }
    summary.version = snapshot.version;
    return summary;
  }

  /** Reads a plan's inputs, merges them and writes the output; undefined when an input is already gone (a conflict). */
  async #prepare(snapshot: DeltaSnapshot, plan: PlannedCompaction, index: number, run: string, summary: CompactionSummary): Promise<PreparedMerge | undefined> {
    const o = this.options;
    // A commit seen since the plan (another compactor's) may have removed an input already.
    if (plan.inputs.some((input) => !snapshot.files.has(input.path))) {
      summary.conflicts += 1;
      return undefined;
    }
    const inputs: Uint8Array[] = [];
    const summaries: (LakeFileSummary | undefined)[] = [];
    let bytesIn = 0;
    for (const input of plan.inputs) {
      const bytes = await this.store.read(input.path);
      if (!bytes) throw new CompactionInputError(`${input.path} is in table version ${snapshot.version} but not in storage; was it vacuumed too early?`);
      bytesIn += bytes.byteLength;
      inputs.push(bytes);
      summaries.push(summaryOfStatistics(snapshot.files.get(input.path)!.stats));
    }
    const merged = await mergeLakeFiles(inputs, { rowGroupRows: o.rowGroupRows, copyMinRows: o.copyMinRows });
    // Named after the version it is meant to be, and this run: another compactor's output never has its name.
    const output = `${plan.hour}/${compactedFileName(snapshot.version + 1, index, run)}`;
    await this.store.writeAtomic(output, merged.bytes);
    // The inputs' statistics merged; a file without them (not ours) has the output's rows read instead.
    const known = summaries.every((s) => s !== undefined) ? mergeSummaries(summaries as LakeFileSummary[]) : await decodeLakeFile(merged.bytes);
    return {
      hour: plan.hour,
      inputs: plan.inputs.map((i) => snapshot.files.get(i.path)!),
      add: addFileAction(output, merged.bytes.byteLength, known, { modificationTime: o.clock.now(), dataChange: false }),
      rows: merged.rows,
      bytesIn,
      copiedGroups: merged.copiedGroups,
      rewrittenRows: merged.rewrittenRows,
    };
  }

  /**
   * One commit of `merges` on top of `base`: per merge, a `remove` of each input and the `add` of
   * its output. Retries past commits that leave the inputs in the table; a merge whose input
   * another commit removed (another compactor) is left out, its output never referenced.
   */
  async #commitMerges(base: DeltaSnapshot, merges: readonly PreparedMerge[], summary: CompactionSummary): Promise<DeltaSnapshot> {
    let snapshot = base;
    let live = [...merges];
    for (;;) {
      const kept = live.filter((m) => m.inputs.every((input) => snapshot.files.has(decodeURIComponent(input.path))));
      summary.conflicts += live.length - kept.length;
      live = kept;
      if (live.length === 0) return snapshot;
      const now = this.options.clock.now();
      const actions: DeltaAction[] = [
        {
          commitInfo: {
            txnId: crypto.randomUUID(),
            timestamp: now,
            operation: "OPTIMIZE",
            operationParameters: { hours: live.map((m) => m.hour).join(","), inputs: String(live.reduce((n, m) => n + m.inputs.length, 0)) },
            engineInfo: "orderpulse-compactor",
            isBlindAppend: false,
          },
        },
      ];
      for (const m of live) {
        for (const add of m.inputs) {
          actions.push({ remove: { path: add.path, deletionTimestamp: now, dataChange: false, extendedFileMetadata: true, partitionValues: add.partitionValues, size: add.size } });
        }
        actions.push({ add: m.add });
      }
      if (await commit(this.store, snapshot.version + 1, actions)) {
        const next = applyCommit(snapshot, snapshot.version + 1, actions);
        const checkpoint = await checkpointOnInterval(this.store, next, {
          interval: this.options.checkpointInterval ?? 10,
          tombstonesSinceMs: this.options.clock.now() - (this.options.tombstoneRetentionMs ?? DEFAULT_FILE_RETENTION_MS),
        });
        if (checkpoint.written) summary.checkpoints += 1;
        if (checkpoint.error !== undefined) summary.checkpointError = checkpoint.error;
        for (const m of live) {
          const done: CompactedHour = { version: next.version, hour: m.hour, inputs: m.inputs.length, rows: m.rows, bytesIn: m.bytesIn, bytesOut: m.add.size };
          summary.compactions += 1;
          summary.inputFiles += done.inputs;
          summary.rows += done.rows;
          summary.bytesIn += done.bytesIn;
          summary.bytesOut += done.bytesOut;
          summary.copiedGroups += m.copiedGroups;
          summary.rewrittenRows += m.rewrittenRows;
          this.options.onCompacted?.(done);
        }
        return next;
      }
      summary.raced += 1;
      snapshot = await catchUp(this.store, snapshot);
    }
  }
}

/** A merge written and not yet committed. */
interface PreparedMerge {
  hour: string;
  /** The inputs' `add` actions, as the snapshot lists them. */
  inputs: AddAction[];
  add: AddAction;
  rows: number;
  bytesIn: number;
  copiedGroups: number;
  rewrittenRows: number;
}

/** Merges per commit at most. */
const MERGES_PER_COMMIT = 64;
/** Merges prepared at once, and the input bytes they may hold together. */
const MERGE_CONCURRENCY = 8;
const MERGE_BYTES_IN_FLIGHT = 256 * 1024 * 1024;
