/**
 * Where things live in the lake, by name only (docs/lake.md has the whole picture). Paths are
 * relative to the lake root (e.g. `data/lake/orders`) and always use `/`.
 *
 *   dt=2026-11-28/hour=07/w17-5a6b7c8d.parquet       a lake writer file: flush 17 of writer run 5a6b7c8d, rows of the hour from each partition it covered
 *   dt=2026-11-28/hour=07/c42-0-1f2e3d4c.parquet     a compaction's first output file, planned on table version 41 by run 1f2e3d4c
 *   _delta_log/00000000000000000042.json             the table's commit of version 42 (lib/lake/delta-log.ts)
 *
 * A data file is part of the table only while the Delta log says so: a file is written first,
 * then committed. Names beginning with `.` are temporary (written, fsynced, then renamed).
 */

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

/**
 * File name of flush `flush` of the lake writer run `run` (8 hex digits, random per writer
 * process), one per event hour of the flush: its rows come from every Kafka partition the flush
 * covers (the file's kafka_partition and kafka_offset columns say which).
 */
export function writerFileName(run: string, flush: number): string {
  if (!/^[0-9a-f]{8}$/.test(run)) throw new RangeError(`a lake writer run id is 8 hex digits: got ${JSON.stringify(run)}`);
  if (!Number.isSafeInteger(flush) || flush < 1) throw new RangeError(`a flush number is a whole number ≥ 1: got ${flush}`);
  return `w${flush}-${run}.parquet`;
}

/**
 * File name of output `index` of a compaction that will commit as table version `version`,
 * with `run` (8 hex digits, random per compaction) keeping apart the outputs of two compactors
 * that plan on the same version: neither can ever overwrite a file of the other's.
 */
export function compactedFileName(version: number, index: number, run: string): string {
  if (!/^[0-9a-f]{8}$/.test(run)) throw new RangeError(`a compaction run id is 8 hex digits: got ${JSON.stringify(run)}`);
  return `c${version}-${index}-${run}.parquet`;
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
