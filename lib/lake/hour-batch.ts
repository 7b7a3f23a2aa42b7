/**
 * The rows a lake writer holds between flushes, by event hour: the rows of one future file per
 * hour. A flush takes the whole batch and writes one file per hour; rows read meanwhile go into
 * the next batch.
 *
 * An hour's first {@link HourBatch.ownFrom} rows go into row groups shared by every hour
 * (`shared`); an hour with more rows than that gets row groups of its own, and its rows so far
 * are copied into them. A stream's stragglers — events hours or days away from the rest, a few
 * per hour — thus cost no buffers of their own per hour: one flush of bench/pipeline.ts's stream
 * writes about a hundred one-row files, and sending each one's columns to the encoder thread
 * cost more than encoding it. The file of a busy hour is its own groups; the file of any other
 * hour is its rows in `shared` ({@link splitShared}), split out by the encoder thread.
 */
import { LakeColumns, LakeRowGroups } from "./lake-columns.ts";

const HOUR_MS = 3_600_000;

/** An hour of the batch: how many rows it has, and its own row groups once it has more than `ownFrom`. */
interface Hour {
  rows: number;
  groups: LakeRowGroups | undefined;
}

/** One file of a flush: its hour, and either its own row groups or (`inShared`) its rows in the shared groups. */
export interface HourFile {
  hourStartMs: number;
  groups: LakeColumns[];
  inShared: boolean;
}

export class HourBatch {
  readonly #hours = new Map<number, Hour>();
  readonly #shared: LakeRowGroups;
  #lastHour = Number.NaN;
  #last: Hour | undefined;
  rows = 0;

  /** Rows of an hour kept in the shared groups before it gets its own (at most a row group's worth: an hour's shared rows become one row group). */
  readonly ownFrom: number;

  constructor(
    readonly rowGroupRows = 131_072,
    ownFrom = 1_024,
  ) {
    this.ownFrom = Math.min(ownFrom, rowGroupRows);
    this.#shared = new LakeRowGroups(rowGroupRows);
  }

  /** The row group to append a row of event time `eventTimeMs` to (the caller appends exactly one). */
  groupFor(eventTimeMs: number): LakeColumns {
    const hour = Math.floor(eventTimeMs / HOUR_MS);
    let state = this.#last;
    if (hour !== this.#lastHour || state === undefined) {
      state = this.#hours.get(hour);
      if (state === undefined) {
        state = { rows: 0, groups: undefined };
        this.#hours.set(hour, state);
      }
      this.#lastHour = hour;
      this.#last = state;
    }
    this.rows += 1;
    state.rows += 1;
    if (state.rows <= this.ownFrom) return this.#shared.current();
    if (state.groups === undefined) {
      // The hour is busy: its rows so far move to groups of its own, in the order they came.
      const own = new LakeRowGroups(this.rowGroupRows);
      for (const g of this.#shared.groups) {
        for (let i = 0; i < g.rows; i++) if (Math.floor(g.createdAtOf(i) / HOUR_MS) === hour) own.current().appendFrom(g, i);
      }
      state.groups = own;
    }
    return state.groups.current();
  }

  /** The flush's files, oldest hour first, and the row groups shared by the hours that have none of their own. */
  files(): { files: HourFile[]; shared: LakeColumns[] } {
    const files = [...this.#hours]
      .sort(([a], [b]) => a - b)
      .map(([hour, state]) => ({ hourStartMs: hour * HOUR_MS, groups: state.groups?.groups.filter((g) => g.rows > 0) ?? [], inShared: state.groups === undefined }));
    return { files, shared: this.#shared.groups.filter((g) => g.rows > 0) };
  }

  /** Each hour (its start, ms since the epoch) with all its rows as row groups, oldest hour first: shared rows split out on this thread. */
  hours(): [number, LakeColumns[]][] {
    const { files, shared } = this.files();
    const split = splitShared(shared, new Set(files.filter((f) => f.inShared).map((f) => f.hourStartMs)));
    return files.map(({ hourStartMs, groups, inShared }) => [hourStartMs, inShared ? [split.get(hourStartMs)!] : groups]);
  }

  /** Rows per Kafka partition. */
  rowsByPartition(): Map<number, number> {
    // Counted in an array by partition number (a Map update per row cost more than the encoding).
    const counts: number[] = [];
    const count = (g: LakeColumns, i: number) => {
      const p = g.kafka_partition.data[i]! | 0;
      counts[p] = (counts[p] ?? 0) + 1;
    };
    for (const state of this.#hours.values()) if (state.groups) for (const g of state.groups.groups) for (let i = 0; i < g.rows; i++) count(g, i);
    // A shared row of a busy hour is in that hour's own groups too.
    for (const g of this.#shared.groups) {
      for (let i = 0; i < g.rows; i++) if (this.#hours.get(Math.floor(g.createdAtOf(i) / HOUR_MS))!.groups === undefined) count(g, i);
    }
    const byPartition = new Map<number, number>();
    counts.forEach((n, p) => byPartition.set(p, n));
    return byPartition;
  }

  /** Gives the row groups' buffers back for reuse (LakeColumns.release): the batch is committed and not used again. */
  release(): void {
    for (const g of this.#groups()) g.release();
    this.#hours.clear();
    this.#last = undefined;
    this.rows = 0;
  }

  /** A batch of the rows `keep` says yes to, in the same order within each hour. */
  filter(keep: (partition: number, offset: number) => boolean): HourBatch {
    const kept = new HourBatch(this.rowGroupRows, this.ownFrom);
    for (const [, groups] of this.hours()) {
      for (const g of groups) {
        for (let i = 0; i < g.rows; i++) {
          if (keep(g.partitionOf(i), g.offsetOf(i))) kept.groupFor(g.createdAtOf(i)).appendFrom(g, i);
        }
      }
    }
    return kept;
  }

  /** This batch's rows, then `later`'s, in one batch (each hour's rows in that order). */
  concat(later: HourBatch): HourBatch {
    const both = new HourBatch(this.rowGroupRows, this.ownFrom);
    for (const batch of [this, later]) {
      for (const [, groups] of batch.hours()) for (const g of groups) for (let i = 0; i < g.rows; i++) both.groupFor(g.createdAtOf(i)).appendFrom(g, i);
    }
    return both;
  }

  *#groups(): Iterable<LakeColumns> {
    yield* this.#shared.groups;
    for (const state of this.#hours.values()) if (state.groups) yield* state.groups.groups;
  }
}

/** The rows of `shared` in the hours of `wanted` (their starts, ms since the epoch), each hour's as one row group, in their order. */
export function splitShared(shared: readonly LakeColumns[], wanted: ReadonlySet<number>): Map<number, LakeColumns> {
  const byHour = new Map<number, LakeColumns>();
  for (const g of shared) {
    for (let i = 0; i < g.rows; i++) {
      const hourStartMs = Math.floor(g.createdAtOf(i) / HOUR_MS) * HOUR_MS;
      if (!wanted.has(hourStartMs)) continue;
      let into = byHour.get(hourStartMs);
      if (into === undefined) byHour.set(hourStartMs, (into = new LakeColumns()));
      into.appendFrom(g, i);
    }
  }
  return byHour;
}
