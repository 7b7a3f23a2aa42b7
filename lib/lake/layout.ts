/**
 * Where things live in the lake, by name only (docs/lake.md has the whole picture). Paths are
 * relative to the lake root (e.g. `data/lake/orders`) and always use `/`.
 *
 *   dt=2026-11-28/hour=07/p3-e5-o1200-o1399.parquet  a lake writer file: Kafka partition 3, owner epoch 5, rows from offsets 1200..1399
 *   dt=2026-11-28/hour=07/p3-o1200-o1399.parquet     the same from a lake written before owner epochs (epoch 0)
 *   dt=2026-11-28/hour=07/c42-0.parquet              compaction 42's first output file
 *   _offsets/partition-3/000000000017.json           entry 17 of Kafka partition 3's offsets log; the newest is the writer's commit
 *   _offsets/partition-3.json                        partition 3's offsets before the log (a lake written before owner epochs)
 *   _journal/00000042.json                           compaction 42: its inputs and outputs (the commit)
 *
 * Names beginning with `.` are temporary (written, fsynced, then renamed); `_` directories hold
 * metadata. Both are skipped by Hive-style readers (Spark, pyarrow datasets), and neither ends
 * in `.parquet`, so a `**\/*.parquet` glob (DuckDB) skips them too.
 */

export const OFFSETS_DIR = "_offsets";
export const JOURNAL_DIR = "_journal";

const HOUR_MS = 3_600_000;

/** `dt=YYYY-MM-DD/hour=HH` of an event time (UTC), the Hive partition the event belongs to. */
export function hourPartition(eventTimeMs: number): string {
  if (!Number.isFinite(eventTimeMs)) throw new RangeError(`event time must be a finite number of ms: got ${eventTimeMs}`);
  const iso = new Date(eventTimeMs).toISOString();
  return `dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}`;
}

const HOUR_DIR = /^dt=(\d{4})-(\d{2})-(\d{2})\/hour=(\d{2})$/;

/** The start (ms since the epoch, UTC) of an hour partition, or `undefined` for any other name. */
export function hourStartMs(hourDir: string): number | undefined {
  const m = HOUR_DIR.exec(hourDir);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]));
  return hourPartition(ms) === hourDir ? ms : undefined;
}

export function hourEndMs(hourDir: string): number | undefined {
  const start = hourStartMs(hourDir);
  return start === undefined ? undefined : start + HOUR_MS;
}

export type LakeFileName =
  /** `epoch`: the owner epoch the file was written under (docs/lake.md, "Fencing"); 0 for a name without one. */
  | { kind: "writer"; partition: number; epoch: number; firstOffset: bigint; lastOffset: bigint }
  | { kind: "compacted"; seq: number; index: number };

/**
 * File name of the lake writer's rows from one Kafka partition, offsets first..last
 * (inclusive), written under owner epoch `epoch` (≥ 1; epoch 0 is the name without one, which
 * only lakes written before owner epochs have).
 */
export function writerFileName(partition: number, epoch: number, firstOffset: bigint, lastOffset: bigint): string {
  if (!Number.isInteger(partition) || partition < 0) throw new RangeError(`partition must be a whole number ≥ 0: got ${partition}`);
  if (!Number.isSafeInteger(epoch) || epoch < 1) throw new RangeError(`owner epoch must be a whole number ≥ 1: got ${epoch}`);
  if (firstOffset < 0n || lastOffset < firstOffset) throw new RangeError(`offsets must satisfy 0 ≤ first ≤ last: got ${firstOffset}..${lastOffset}`);
  return `p${partition}-e${epoch}-o${firstOffset}-o${lastOffset}.parquet`;
}

/** File name of output `index` of compaction `seq`. */
export function compactedFileName(seq: number, index: number): string {
  return `c${seq}-${index}.parquet`;
}

const WRITER_FILE = /^p(\d{1,5})(?:-e(\d{1,15}))?-o(\d{1,19})-o(\d{1,19})\.parquet$/;
const COMPACTED_FILE = /^c(\d{1,12})-(\d{1,6})\.parquet$/;

/** What a data file's name says about it, or `undefined` for a name that is not a lake data file. */
export function parseFileName(name: string): LakeFileName | undefined {
  const w = WRITER_FILE.exec(name);
  if (w) {
    const epoch = w[2] === undefined ? 0 : Number(w[2]);
    const firstOffset = BigInt(w[3]!);
    const lastOffset = BigInt(w[4]!);
    if (lastOffset < firstOffset || (w[2] !== undefined && epoch < 1)) return undefined;
    return { kind: "writer", partition: Number(w[1]), epoch, firstOffset, lastOffset };
  }
  const c = COMPACTED_FILE.exec(name);
  if (c) return { kind: "compacted", seq: Number(c[1]), index: Number(c[2]) };
  return undefined;
}

/** The directory of partition N's offsets log: `_offsets/partition-N`. */
export function offsetsLogDir(partition: number): string {
  return `${OFFSETS_DIR}/partition-${partition}`;
}

/** Entry `seq` (1, 2, 3, …) of partition N's offsets log. */
export function offsetsEntryPath(partition: number, seq: number): string {
  return `${offsetsLogDir(partition)}/${String(seq).padStart(12, "0")}.json`;
}

const OFFSETS_ENTRY = /^(\d{12,15})\.json$/;

/** The sequence number of an offsets log entry's name, or `undefined` for any other name. */
export function parseOffsetsEntryName(name: string): number | undefined {
  const m = OFFSETS_ENTRY.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** Partition N's offsets file of a lake written before owner epochs: read (as the log's entry 0), never written. */
export function legacyOffsetsPath(partition: number): string {
  return `${OFFSETS_DIR}/partition-${partition}.json`;
}

const OFFSETS_NAME = /^partition-(\d{1,5})(\.json)?$/;

/**
 * The Kafka partition an entry of `_offsets/` belongs to: `partition-N` (its log's directory) or
 * `partition-N.json` (its offsets from before the log); `undefined` for anything else.
 */
export function parseOffsetsName(name: string): number | undefined {
  const m = OFFSETS_NAME.exec(name);
  return m ? Number(m[1]) : undefined;
}

export function journalPath(seq: number): string {
  return `${JOURNAL_DIR}/${String(seq).padStart(8, "0")}.json`;
}

const JOURNAL_FILE = /^(\d{8,12})\.json$/;

export function parseJournalName(name: string): number | undefined {
  const m = JOURNAL_FILE.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** `dir/name`, where `dir` may be empty (the lake root). */
export function joinLake(dir: string, name: string): string {
  return dir === "" ? name : `${dir}/${name}`;
}

/** The directory part of a lake path (`dt=…/hour=…` for a data file). */
export function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

export function baseOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
