/**
 * The rows a lake writer holds between flushes, by event hour: each hour's rows as row groups of
 * {@link LakeColumns} (lib/lake/lake-columns.ts), the groups of one future file. A flush takes the
 * whole batch and writes one file per hour; rows read meanwhile go into the next batch.
 */
import { LakeColumns, LakeRowGroups } from "./lake-columns.ts";

const HOUR_MS = 3_600_000;

export class HourBatch {
  readonly #hours = new Map<number, LakeRowGroups>();
  #lastHour = Number.NaN;
  #last: LakeRowGroups | undefined;
  rows = 0;

  constructor(readonly rowGroupRows = 131_072) {}

  /** The row group to append a row of event time `eventTimeMs` to (the caller appends exactly one). */
  groupFor(eventTimeMs: number): LakeColumns {
    const hour = Math.floor(eventTimeMs / HOUR_MS);
    let groups = this.#last;
    if (hour !== this.#lastHour || groups === undefined) {
      groups = this.#hours.get(hour);
      if (groups === undefined) {
        groups = new LakeRowGroups(this.rowGroupRows);
        this.#hours.set(hour, groups);
      }
      this.#lastHour = hour;
      this.#last = groups;
    }
    this.rows += 1;
    return groups.current();
  }

  /** Each hour (its start, ms since the epoch) with its row groups, oldest hour first. */
  hours(): [number, LakeColumns[]][] {
    return [...this.#hours]
      .sort(([a], [b]) => a - b)
      .map(([hour, groups]) => [hour * HOUR_MS, groups.groups.filter((g) => g.rows > 0)]);
  }

  /** Rows per Kafka partition. */
  rowsByPartition(): Map<number, number> {
    // Counted in an array by partition number (a Map update per row cost more than the encoding).
    const counts: number[] = [];
    for (const groups of this.#hours.values()) {
      for (const g of groups.groups) {
        const partitions = g.kafka_partition.data;
        for (let i = 0; i < g.rows; i++) {
          const p = partitions[i]! | 0;
          counts[p] = (counts[p] ?? 0) + 1;
        }
      }
    }
    const byPartition = new Map<number, number>();
    counts.forEach((n, p) => byPartition.set(p, n));
    return byPartition;
  }

  /** A batch of the rows `keep` says yes to, in the same order. */
  filter(keep: (partition: number, offset: number) => boolean): HourBatch {
    const kept = new HourBatch(this.rowGroupRows);
    for (const groups of this.#hours.values()) {
      for (const g of groups.groups) {
        for (let i = 0; i < g.rows; i++) {
          if (keep(g.partitionOf(i), g.offsetOf(i))) kept.groupFor(g.createdAtOf(i)).appendFrom(g, i);
        }
      }
    }
    return kept;
  }

  /** This batch's rows, then `later`'s, in one batch (each hour's row groups in that order). */
  concat(later: HourBatch): HourBatch {
    const both = new HourBatch(this.rowGroupRows);
    for (const batch of [this, later]) {
      for (const [hour, groups] of batch.#hours) {
        let into = both.#hours.get(hour);
        if (into === undefined) {
          into = new LakeRowGroups(this.rowGroupRows);
          into.groups.length = 0;
          both.#hours.set(hour, into);
        }
        into.groups.push(...groups.groups.filter((g) => g.rows > 0));
      }
      both.rows += batch.rows;
    }
    for (const groups of both.#hours.values()) if (groups.groups.length === 0) groups.groups.push(new LakeColumns());
    return both;
  }
}
