/**
 * The compactor's core: merges the small files of closed hour partitions (lib/lake/compaction-plan.ts)
 * while readers keep reading, by the commit protocol in docs/lake.md:
 *
 * 1. write the merged rows to `dt=…/hour=…/c<seq>-0.parquet` (atomically; invisible: no journal entry names it yet);
 * 2. write `_journal/<seq>.json` naming the output and its inputs (atomically) — the commit;
 * 3. delete the inputs once the entry is `graceMs` old (readers that listed before the commit may still be reading them).
 *
 * A crash before 2 leaves an output no entry names: the next run deletes it. A crash after 2
 * leaves inputs that the next run deletes when their grace is over. One compactor per lake
 * (workers/compact.ts holds a lock); the lake writer never touches the journal.
 */
import { planCompactions, type SizedFile } from "./compaction-plan.ts";
import { encodeJournalEntry, type JournalEntry } from "./journal.ts";
import { baseOf, compactedFileName, journalPath, parseFileName } from "./layout.ts";
import { listDataFiles, takeSnapshot } from "./reader.ts";
import { decodeLakeFile, encodeLakeFile, type LakeRow } from "./schema.ts";
import type { LakeStore } from "./store.ts";
import type { Clock } from "./writer.ts";

export interface CompactorOptions {
  clock: Clock;
  /** Input bytes per output file at most; files of half this or more count as large. Default 64 MiB. */
  targetBytes?: number;
  /** An hour is compacted once its end is this far in the past. Default 10 min. */
  closeAfterMs?: number;
  /** Replaced files are deleted this long after the journal entry that replaced them. Default 5 min. */
  graceMs?: number;
  /** Fewest small files worth merging. Default 2. */
  minFiles?: number;
  /** Rows per row group in an output file. Default 131,072. */
  rowGroupRows?: number;
  /** Called after each committed compaction. */
  onCompacted?: (done: CompactedHour) => void;
}

export interface CompactedHour {
  seq: number;
  hour: string;
  inputs: number;
  rows: number;
  bytesIn: number;
  bytesOut: number;
}

export interface CompactionSummary {
  compactions: number;
  inputFiles: number;
  rows: number;
  bytesIn: number;
  bytesOut: number;
  /** Replaced files deleted after their grace period. */
  deleted: number;
  /** Outputs of a crashed run that no journal entry names, deleted. */
  orphansRemoved: number;
}

/** An input file's rows disagree with its own footer, or it vanished: the lake is not as the journal says. */
export class CompactionInputError extends Error {
  override name = "CompactionInputError";
  readonly code = "COMPACTION_INPUT";
}

export class LakeCompactor {
  constructor(
    private readonly store: LakeStore,
    private readonly options: CompactorOptions,
  ) {}

  async runOnce(): Promise<CompactionSummary> {
    const o = this.options;
    const summary: CompactionSummary = { compactions: 0, inputFiles: 0, rows: 0, bytesIn: 0, bytesOut: 0, deleted: 0, orphansRemoved: 0 };
    const snapshot = await takeSnapshot(this.store);
    let seq = snapshot.journal.reduce((max, e) => Math.max(max, e.seq), 0) + 1;

    // Outputs of a compaction that crashed before its journal entry (the one compactor is us).
    for (const path of await listDataFiles(this.store)) {
      const name = parseFileName(baseOf(path));
      if (name?.kind === "compacted" && name.seq >= seq) {
        await this.store.remove(path);
        summary.orphansRemoved += 1;
      }
    }
    summary.deleted += await this.#collectGarbage(snapshot.journal);

    const sized: SizedFile[] = [];
    for (const path of snapshot.files) {
      const bytes = await this.store.size(path);
      if (bytes === undefined) throw new CompactionInputError(`${path} is in the snapshot but not on disk; is a second compactor running on this lake?`);
      sized.push({ path, bytes });
    }
    const plans = planCompactions(sized, {
      nowMs: o.clock.now(),
      closeAfterMs: o.closeAfterMs ?? 600_000,
      targetBytes: o.targetBytes ?? 64 * 1024 * 1024,
      minFiles: o.minFiles ?? 2,
    });
    for (const plan of plans) {
      const rows: LakeRow[] = [];
      let bytesIn = 0;
      for (const input of plan.inputs) {
        const bytes = await this.store.read(input.path);
        if (!bytes) throw new CompactionInputError(`${input.path} vanished before it was compacted; is a second compactor running on this lake?`);
        bytesIn += bytes.byteLength;
        for (const row of await decodeLakeFile(bytes)) rows.push(row);
      }
      rows.sort(byTimeThenLineage);
      const output = `${plan.hour}/${compactedFileName(seq, 0)}`;
      const encoded = encodeLakeFile(rows, o.rowGroupRows === undefined ? {} : { rowGroupRows: o.rowGroupRows });
      await this.store.writeAtomic(output, encoded);
      const entry: JournalEntry = {
        seq,
        hour: plan.hour,
        committedAtMs: o.clock.now(),
        inputs: plan.inputs.map((i) => i.path),
        outputs: [{ path: output, rows: rows.length, bytes: encoded.byteLength }],
      };
      await this.store.writeAtomic(journalPath(seq), encodeJournalEntry(entry));
      const done = { seq, hour: plan.hour, inputs: plan.inputs.length, rows: rows.length, bytesIn, bytesOut: encoded.byteLength };
      summary.compactions += 1;
      summary.inputFiles += done.inputs;
      summary.rows += done.rows;
      summary.bytesIn += bytesIn;
      summary.bytesOut += done.bytesOut;
      o.onCompacted?.(done);
      seq += 1;
    }
    if ((o.graceMs ?? 300_000) === 0 && plans.length > 0) summary.deleted += await this.#collectGarbage(await this.#journal());
    return summary;
  }

  async #journal(): Promise<JournalEntry[]> {
    return (await takeSnapshot(this.store)).journal;
  }

  /** Deletes the inputs of entries committed at least `graceMs` ago; returns how many files it removed. */
  async #collectGarbage(journal: readonly JournalEntry[]): Promise<number> {
    const cutoff = this.options.clock.now() - (this.options.graceMs ?? 300_000);
    let deleted = 0;
    for (const entry of journal) {
      if (entry.committedAtMs > cutoff) continue;
      for (const path of entry.inputs) {
        if ((await this.store.size(path)) === undefined) continue;
        await this.store.remove(path);
        deleted += 1;
      }
    }
    return deleted;
  }
}

/** Output order: by event time (tight created_at statistics per page and row group), then lineage. */
export function byTimeThenLineage(a: LakeRow, b: LakeRow): number {
  return (
    a.created_at.getTime() - b.created_at.getTime() ||
    a.kafka_partition - b.kafka_partition ||
    (a.kafka_offset < b.kafka_offset ? -1 : a.kafka_offset > b.kafka_offset ? 1 : 0)
  );
}
