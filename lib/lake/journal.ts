/**
 * The compaction journal: one immutable JSON file per compaction, `_journal/<seq>.json`,
 * written atomically after its output files. The entry *is* the commit — before it exists the
 * outputs are invisible; once it exists its inputs are (docs/lake.md, "Reader contract").
 */

export interface JournalEntry {
  /** 1, 2, 3, …: the order compactions committed in. */
  seq: number;
  /** The hour partition compacted, e.g. `dt=2026-11-28/hour=07`. */
  hour: string;
  /** When the entry was committed, ms since the epoch; its inputs may be deleted `grace` after. */
  committedAtMs: number;
  /** Lake paths of the files this compaction replaces. */
  inputs: string[];
  /** Lake paths of the files it wrote, with their row counts and sizes. */
  outputs: { path: string; rows: number; bytes: number }[];
}

export function encodeJournalEntry(entry: JournalEntry): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify({ version: 1, ...entry }, null, 1)}\n`);
}

/** Parses an entry; throws a TypeError naming the file when it is not one (it was written atomically, so this is corruption). */
export function decodeJournalEntry(bytes: Uint8Array, path: string): JournalEntry {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new TypeError(`${path} is not JSON (${(error as Error).message}); the journal is corrupt — restore it from a backup or move the entry away after checking its outputs`);
  }
  const v = value as Partial<JournalEntry> & { version?: unknown };
  if (
    v.version !== 1 || typeof v.seq !== "number" || typeof v.hour !== "string" || typeof v.committedAtMs !== "number" ||
    !Array.isArray(v.inputs) || !Array.isArray(v.outputs)
  ) {
    throw new TypeError(`${path} is not a version-1 journal entry (seq, hour, committedAtMs, inputs, outputs)`);
  }
  return { seq: v.seq, hour: v.hour, committedAtMs: v.committedAtMs, inputs: v.inputs, outputs: v.outputs };
}
