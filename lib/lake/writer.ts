/**
 * The lake writer's core: valid order events of the Kafka partitions it owns, buffered per
 * partition and written to the lake in flushes, exactly once (docs/lake.md).
 *
 * A flush of partition N covering offsets [from, next) writes, for each event hour among its
 * rows, one file `pN-o<first>-o<last>.parquet` (first/last: the offsets of its first and last
 * row) through `writeAtomic`; only when every file is in place does it rewrite
 * `_offsets/partition-N.json` with `next`. That write is the commit: until it lands the new
 * files are invisible to readers, and after a crash the restarted writer deletes them (every
 * file of N whose first offset is at or past the committed next offset) and reads the range
 * again from Kafka. The caller commits offsets to the consumer group only after `flush()`.
 *
 * Invalid records (the validator in lib/event/validate-order.ts decides, with the same bounds as the
 * aggregator) are counted and skipped: the aggregator forwards them to the DLQ.
 */
import { listHourDirs } from "./reader.ts";
import { hourPartition, OFFSETS_DIR, offsetsPath, parseFileName, writerFileName } from "./layout.ts";
import { decodeOffsets, encodeOffsets } from "./offsets.ts";
import { encodeLakeFile, type LakeRow, toLakeRow } from "./schema.ts";
import type { LakeStore } from "./store.ts";
import { validateOrder } from "../event/validate-order.ts";
import { isDiskFullError } from "../runtime/durable-fs.ts";

export interface Clock {
  now(): number;
}

export interface LakeWriterOptions {
  /** The Kafka topic read; recorded in the offsets files and checked against them. */
  topic: string;
  /** "Now" for the validator's timestamp bounds. */
  clock: Clock;
  /** created_at further ahead of the clock is invalid. Default 5 min (the aggregator's). */
  maxFutureMs?: number;
  /** created_at further behind the clock is invalid. Default 24 h (the aggregator's). */
  maxPastMs?: number;
  /** Rows per row group in a writer file. Default 131,072. */
  rowGroupRows?: number;
}

export interface LakeWriterTotals {
  records: number;
  valid: number;
  invalid: number;
  files: number;
  bytes: number;
  /** Uncommitted files from an interrupted flush, deleted on assignment. */
  orphansRemoved: number;
}

/** The lake's offsets file names another topic: the lake directory belongs to another stream. */
export class LakeTopicMismatchError extends Error {
  override name = "LakeTopicMismatchError";
  readonly code = "LAKE_TOPIC_MISMATCH";
}

/**
 * A flush could not write partition N's files or offsets; nothing of that partition's flush is
 * committed and its rows stay buffered, so `flush()` may simply be called again. `diskFull` says
 * whether the cause was a full disk or quota (ENOSPC, EDQUOT), which freeing space cures.
 */
export class LakeFlushError extends Error {
  override name = "LakeFlushError";
  readonly code = "LAKE_FLUSH_FAILED";
  readonly diskFull: boolean;
  constructor(
    readonly partition: number,
    cause: unknown,
  ) {
    const diskFull = isDiskFullError(cause);
    super(`cannot write partition ${partition}'s files to the lake${diskFull ? ": no space left on the lake's disk" : ""}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.diskFull = diskFull;
  }
}

interface PartitionState {
  /** The committed next offset (what `_offsets/` says), or undefined when the lake has none yet. */
  committed: bigint | undefined;
  /** The next offset to read: past every record handed to `add`/`advance`. */
  position: bigint | undefined;
  rows: LakeRow[];
}

export class LakeWriter {
  readonly totals: LakeWriterTotals = { records: 0, valid: 0, invalid: 0, files: 0, bytes: 0, orphansRemoved: 0 };
  #partitions = new Map<number, PartitionState>();

  constructor(
    private readonly store: LakeStore,
    private readonly options: LakeWriterOptions,
  ) {}

  /** Rows buffered and not yet flushed, over all partitions. */
  get bufferedRows(): number {
    let n = 0;
    for (const s of this.#partitions.values()) n += s.rows.length;
    return n;
  }

  owned(): number[] {
    return [...this.#partitions.keys()].sort((a, b) => a - b);
  }

  /**
   * Takes ownership of `partitions`: loads each one's committed offset from the lake and deletes
   * the files of any flush of it that crashed before committing. Returns the offset to read
   * each from (undefined: the lake holds nothing of it yet; start at the log's beginning).
   */
  async assign(partitions: readonly number[]): Promise<Map<number, bigint | undefined>> {
    const starts = new Map<number, bigint | undefined>();
    const fresh = partitions.filter((p) => !this.#partitions.has(p));
    for (const p of fresh) {
      const path = offsetsPath(p);
      const bytes = await this.store.read(path);
      const saved = bytes ? decodeOffsets(bytes, path) : undefined;
      if (saved && saved.topic !== this.options.topic) {
        throw new LakeTopicMismatchError(`${path} records topic ${saved.topic}, not ${this.options.topic}: this lake directory holds another stream; point LAKE_DIR elsewhere`);
      }
      this.#partitions.set(p, { committed: saved?.nextOffset, position: saved?.nextOffset, rows: [] });
    }
    if (fresh.length > 0) {
      const owned = new Set(fresh);
      for (const dir of await listHourDirs(this.store)) {
        for (const entry of await this.store.list(dir)) {
          const path = `${dir}/${entry}`;
          // A temporary of a write that crashed: `.pN-oA-oB.parquet.tmp-<uuid>`.
          const temp = /^\.(p\d+-o\d+-o\d+\.parquet)\.tmp-/.exec(entry);
          const name = parseFileName(temp ? temp[1]! : entry);
          if (name?.kind !== "writer" || !owned.has(name.partition)) continue;
          const committed = this.#partitions.get(name.partition)!.committed;
          if (temp || committed === undefined || name.firstOffset >= committed) {
            await this.store.remove(path);
            this.totals.orphansRemoved += 1;
          }
        }
      }
      for (const entry of await this.store.list(OFFSETS_DIR)) {
        const temp = /^\.partition-(\d+)\.json\.tmp-/.exec(entry);
        if (temp && owned.has(Number(temp[1]))) await this.store.remove(`${OFFSETS_DIR}/${entry}`);
      }
    }
    for (const p of partitions) starts.set(p, this.#partitions.get(p)!.position);
    return starts;
  }

  /** Gives up partitions: their buffered rows are dropped (the next owner reads them again from the lake's offset). */
  revoke(partitions: readonly number[]): void {
    for (const p of partitions) this.#partitions.delete(p);
  }

  /** Where reading `partition` continues, once its start is known. */
  position(partition: number): bigint | undefined {
    return this.#partitions.get(partition)?.position;
  }

  /** Sets where an unread partition starts (the log's beginning, when the lake has nothing of it). */
  startAt(partition: number, offset: bigint): void {
    const s = this.#state(partition);
    if (s.position === undefined) s.position = offset;
  }

  /** One record of `partition` at `offset`, in offset order. */
  add(partition: number, offset: bigint, value: Uint8Array): void {
    const s = this.#state(partition);
    this.totals.records += 1;
    const result = validateOrder(value, {
      nowMs: this.options.clock.now(),
      ...(this.options.maxFutureMs === undefined ? {} : { maxFutureMs: this.options.maxFutureMs }),
      ...(this.options.maxPastMs === undefined ? {} : { maxPastMs: this.options.maxPastMs }),
    });
    if (result.ok) {
      s.rows.push(toLakeRow(result.event, result.eventTimeMs, partition, offset));
      this.totals.valid += 1;
    } else {
      this.totals.invalid += 1;
    }
    if (s.position === undefined || offset + 1n > s.position) s.position = offset + 1n;
  }

  /** The fetch moved past `next` (control batches, records before the position): nothing to store, but the offset counts. */
  advance(partition: number, next: bigint): void {
    const s = this.#partitions.get(partition);
    if (s && (s.position === undefined || next > s.position)) s.position = next;
  }

  /** True when some owned partition has read past its committed offset. */
  get dirty(): boolean {
    for (const s of this.#partitions.values()) if (s.position !== undefined && s.position !== s.committed) return true;
    return false;
  }

  /**
   * Writes every partition's buffered rows and then its offsets file. Resolves with the
   * committed next offset of each partition it moved, for the consumer group's commit.
   */
  async flush(): Promise<Map<number, bigint>> {
    const committed = new Map<number, bigint>();
    for (const [partition, s] of this.#partitions) {
      if (s.position === undefined || s.position === s.committed) continue;
      const next = s.position;
      const rows = s.rows;
      const byHour = new Map<string, LakeRow[]>();
      for (const row of rows) {
        const hour = hourPartition(row.created_at.getTime());
        let list = byHour.get(hour);
        if (!list) byHour.set(hour, (list = []));
        list.push(row);
      }
      // Files of this partition written by this flush: uncommitted until the offsets file lands.
      const written: string[] = [];
      try {
        for (const [hour, list] of byHour) {
          const bytes = encodeLakeFile(list, this.options.rowGroupRows === undefined ? {} : { rowGroupRows: this.options.rowGroupRows });
          const path = `${hour}/${writerFileName(partition, list[0]!.kafka_offset, list.at(-1)!.kafka_offset)}`;
          await this.store.writeAtomic(path, bytes);
          written.push(path);
          this.totals.files += 1;
          this.totals.bytes += bytes.byteLength;
        }
        await this.store.writeAtomic(
          offsetsPath(partition),
          encodeOffsets({ topic: this.options.topic, partition, nextOffset: next, writtenAtMs: this.options.clock.now() }),
        );
      } catch (error) {
        // Nothing of this partition's flush is committed: take its files back (they would also be
        // removed at the next assign), so a retry with more rows cannot leave a file beside
        // another that covers the same offsets, and a full disk gets their space back.
        for (const path of written) await this.store.remove(path).catch(() => {});
        throw new LakeFlushError(partition, error);
      }
      // Rows added while the files were written (none today: the worker awaits flush between fetches) stay buffered.
      s.rows = s.rows.slice(rows.length);
      s.committed = next;
      committed.set(partition, next);
    }
    return committed;
  }

  #state(partition: number): PartitionState {
    const s = this.#partitions.get(partition);
    if (!s) throw new RangeError(`partition ${partition} is not assigned to this lake writer; assign() it first`);
    return s;
  }
}

