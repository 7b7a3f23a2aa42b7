/**
 * Which data files make up the lake at one moment: the reader contract's rule, as a pure
 * function of what a reader saw (docs/lake.md, "Reader contract").
 *
 *   visible = committed writer files ∪ compaction outputs named by the journal
 *             − every file some journal entry names as an input
 *
 * A writer file `pN-eE-oA-oB.parquet` is committed when partition N's offsets (the newest entry
 * of its offsets log) say so: E is the current owner epoch and B < the next offset, or E is a
 * closed epoch and B < where it ended (lib/lake/offsets.ts). Anything else in an hour directory
 * (temporaries, a writer file from a flush that crashed or was fenced before its commit, a
 * compaction output whose journal entry was never written) is invisible.
 */
import type { JournalEntry } from "./journal.ts";
import { baseOf, dirOf, hourStartMs, parseFileName } from "./layout.ts";
import { type CommittedRanges, isCommittedWriterFile } from "./offsets.ts";

export interface SnapshotInput {
  /** Every journal entry, any order. */
  journal: readonly JournalEntry[];
  /** What each Kafka partition's offsets log commits, from `_offsets/`. */
  offsets: ReadonlyMap<number, CommittedRanges>;
  /** Lake paths of the files found in the hour directories. */
  listed: readonly string[];
}

export type SnapshotResolution =
  | { ok: true; files: string[] }
  /** A journal output that should be visible is not on disk: the listing raced a newer compaction's clean-up. Read again. */
  | { ok: false; missing: string };

/** The visible data files, sorted by path. */
export function resolveSnapshot(input: SnapshotInput): SnapshotResolution {
  const replaced = new Set<string>();
  const outputs = new Set<string>();
  for (const entry of input.journal) {
    for (const path of entry.inputs) replaced.add(path);
    for (const o of entry.outputs) outputs.add(o.path);
  }
  const listed = new Set(input.listed);
  const files: string[] = [];
  for (const path of input.listed) {
    if (replaced.has(path) || hourStartMs(dirOf(path)) === undefined) continue;
    const name = parseFileName(baseOf(path));
    if (name?.kind !== "writer") continue;
    const offsets = input.offsets.get(name.partition);
    if (offsets !== undefined && isCommittedWriterFile(offsets, name)) files.push(path);
  }
  for (const path of outputs) {
    if (replaced.has(path)) continue;
    if (!listed.has(path)) return { ok: false, missing: path };
    files.push(path);
  }
  return { ok: true, files: files.sort() };
}
