/**
 * The lake writer's core: valid order events of the Kafka partitions it owns, buffered per
 * partition and written to the lake in flushes, exactly once (docs/lake.md).
 *
 * Ownership: `assign()` claims each new partition in the lake (lib/lake/claim.ts) — it appends
 * a claim to the partition's offsets log (lib/lake/offsets-log.ts) under a new owner epoch,
 * copying the committed position — before reading anything of it. From then on only this writer can commit
 * the partition, and a writer that had it before cannot: its next commit finds the log moved on
 * and is refused, atomically (put-if-absent), whenever it comes. The partition is then fenced:
 * dropped here, its buffered rows left to the new owner, which reads them again from the lake's
 * offset (`takeFenced()` reports it).
 *
 * A flush of partition N covering offsets [from, next) writes, for each event hour among its
 * rows, one file `pN-eE-o<first>-o<last>.parquet` (E: the owner epoch; first/last: the offsets of
 * its first and last row) through `writeAtomic`; only when every file is in place does it append
 * a commit with `next` to N's offsets log. That append is the commit: until it lands the new files
 * are invisible to readers. The caller commits offsets to the consumer group only after `flush()`.
 *
 * Nothing that may be committed is ever deleted. A claim deletes only files the lake's offsets
 * prove will never be committed (from a flush that crashed or was fenced under an epoch that is
 * over); a flush that fails takes its files back only once it knows its commit did not land.
 *
 * Validity is the event's own (lib/event/validate-order.ts, every rule but the time bounds): the
 * lake keeps every valid event whatever its age or however far ahead its created_at is, and
 * nothing here reads a clock to decide it. Invalid records are counted and skipped (the
 * aggregator forwards them to the DLQ); their offsets still advance the commit.
 */
import { claimPartitions } from "./claim.ts";
import { hourPartition, writerFileName } from "./layout.ts";
import type { PartitionOffsets } from "./offsets.ts";
import { type AppendOutcome, appendOffsets, readOffsetsHead } from "./offsets-log.ts";
import { encodeLakeFile, type LakeRow, toLakeRow } from "./schema.ts";
import type { LakeStore } from "./store.ts";
import { LakeFlushError } from "./writer-errors.ts";
import { type ValidateOptions, type ValidationResult, validateOrder } from "../event/validate-order.ts";

export { LakeFlushError, LakeTopicMismatchError } from "./writer-errors.ts";

export interface Clock {
  now(): number;
}

export interface LakeWriterOptions {
  /** The Kafka topic read; recorded in the offsets log and checked against it. */
  topic: string;
  /** When an offsets entry was written (`writtenAtMs`, for people). Never used to judge an event. */
  clock: Clock;
  /** Rows per row group in a writer file. Default 131,072. */
  rowGroupRows?: number;
}

export interface LakeWriterTotals {
  records: number;
  valid: number;
  invalid: number;
  files: number;
  bytes: number;
  /** Files of a flush that crashed or was fenced before its commit (and never will be committed), deleted on assignment. */
  orphansRemoved: number;
  /**
   * Writer files found on assignment that the partition's offsets log does not describe (written
   * before the log was started afresh): invisible to readers, and left where they are.
   */
  filesLeftAlone: number;
}

/** A partition this writer lost to another writer's claim: dropped, its buffered rows with it. */
export interface FencedPartition {
  partition: number;
  /** This writer's owner epoch of it, now over. */
  epoch: number;
  /** The partition's offsets as the newer owner left them, when they could be read. */
  newest: PartitionOffsets | undefined;
  /** Rows that were buffered and not committed: the new owner reads them again from Kafka. */
  droppedRows: number;
}

/** Every rule of the validator but its time bounds: the lake judges an event by itself, never by a clock. */
const EVENT_RULES_ONLY: ValidateOptions = { nowMs: 0, maxFutureMs: Number.POSITIVE_INFINITY, maxPastMs: Number.POSITIVE_INFINITY };

/**
 * Whether the lake keeps a record: lib/event/validate-order.ts's verdict with every rule but the
 * time bounds (how old an event is, or how far ahead, is the hot path's concern). The same
 * for every writer, whenever it runs: it reads no clock.
 */
export function validateLakeEvent(value: Uint8Array): ValidationResult {
  return validateOrder(value, EVENT_RULES_ONLY);
}

interface PartitionState {
  /** Our newest entry in the partition's offsets log (the claim, then each commit). */
  head: PartitionOffsets;
  /** The next offset to read: past every record handed to `add`/`advance`. */
  position: bigint | undefined;
  rows: LakeRow[];
}

export class LakeWriter {
  readonly totals: LakeWriterTotals = { records: 0, valid: 0, invalid: 0, files: 0, bytes: 0, orphansRemoved: 0, filesLeftAlone: 0 };
  #partitions = new Map<number, PartitionState>();
  #fenced: FencedPartition[] = [];

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

  /** This writer's owner epoch of `partition`, while it owns it. */
  epoch(partition: number): number | undefined {
    return this.#partitions.get(partition)?.head.epoch;
  }

  /**
   * Takes ownership of `partitions` in the lake: for each new one, appends a claim to its
   * offsets log (which fences any earlier owner), then deletes what the log proves a crashed
   * or fenced flush left behind. Returns the offset to read each from (undefined: the lake holds
   * nothing of it yet; start at the log's beginning). Partitions claimed by an earlier call are
   * kept as they are, so after a failure (a full disk: {@link LakeFlushError}) it may be called again.
   */
  async assign(partitions: readonly number[]): Promise<Map<number, bigint | undefined>> {
    const fresh = partitions.filter((p) => !this.#partitions.has(p));
    if (fresh.length > 0) {
      await claimPartitions(this.store, fresh, {
        topic: this.options.topic,
        clock: this.options.clock,
        onClaimed: (partition, claim, cleanUp) => {
          this.#partitions.set(partition, { head: claim, position: claim.nextOffset, rows: [] });
          this.totals.orphansRemoved += cleanUp.removed;
          this.totals.filesLeftAlone += cleanUp.leftAlone;
        },
      });
    }
    const starts = new Map<number, bigint | undefined>();
    for (const p of partitions) starts.set(p, this.#partitions.get(p)!.position);
    return starts;
  }

  /** Gives up partitions: their buffered rows are dropped (the next owner reads them again from the lake's offset). */
  revoke(partitions: readonly number[]): void {
    for (const p of partitions) this.#partitions.delete(p);
  }

  /** The partitions lost to another writer's claim since the last call (see the module comment), oldest first. */
  takeFenced(): FencedPartition[] {
    const fenced = this.#fenced;
    this.#fenced = [];
    return fenced;
  }

  /** Where reading `partition` continues, once its start is known. */
  position(partition: number): bigint | undefined {
    return this.#partitions.get(partition)?.position;
  }

  /** The partition's committed next offset (its offsets log's), while this writer owns it. */
  committed(partition: number): bigint | undefined {
    return this.#partitions.get(partition)?.head.nextOffset;
  }

  /** Sets where an unread partition starts (the log's beginning, when the lake has nothing of it). */
  startAt(partition: number, offset: bigint): void {
    const s = this.#state(partition);
    if (s.position === undefined) s.position = offset;
  }

  /**
   * One record of `partition` at `offset`, in offset order, with its Kafka timestamp when known
   * (kept as the row's `kafka_timestamp`; it does not decide whether the lake keeps the event).
   * `value` is read during the call only.
   */
  add(partition: number, offset: bigint, value: Uint8Array, timestampMs: number | null = null): void {
    const s = this.#state(partition);
    this.totals.records += 1;
    const result = validateLakeEvent(value);
    if (result.ok) {
      s.rows.push(toLakeRow(result.event, result.eventTimeMs, partition, offset, timestampMs));
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
    for (const s of this.#partitions.values()) if (s.position !== undefined && s.position !== s.head.nextOffset) return true;
    return false;
  }

  /**
   * Writes every partition's buffered rows and then commits its offsets. Resolves with the
   * committed next offset of each partition it moved, for the consumer group's commit. A
   * partition another writer has claimed meanwhile is not committed but dropped (`takeFenced()`).
   */
  async flush(): Promise<Map<number, bigint>> {
    const committed = new Map<number, bigint>();
    for (const [partition, s] of [...this.#partitions]) {
      if (s.position === undefined || s.position === s.head.nextOffset) continue;
      const next = s.position;
      const rows = s.rows;
      const byHour = new Map<string, LakeRow[]>();
      for (const row of rows) {
        const hour = hourPartition(row.created_at.getTime());
        let list = byHour.get(hour);
        if (!list) byHour.set(hour, (list = []));
        list.push(row);
      }
      // Files of this partition written by this flush: uncommitted until its commit lands.
      const written: string[] = [];
      try {
        for (const [hour, list] of byHour) {
          const bytes = encodeLakeFile(list, this.options.rowGroupRows === undefined ? {} : { rowGroupRows: this.options.rowGroupRows });
          const path = `${hour}/${writerFileName(partition, s.head.epoch, list[0]!.kafka_offset, list.at(-1)!.kafka_offset)}`;
          await this.store.writeAtomic(path, bytes);
          written.push(path);
          this.totals.files += 1;
          this.totals.bytes += bytes.byteLength;
        }
      } catch (error) {
        // A new owner's claim deletes the temporaries of writes in flight, so a fenced writer's
        // file write fails: that is a refused flush, not a broken lake.
        const newest = await readOffsetsHead(this.store, partition).catch(() => undefined);
        if (newest !== undefined && newest.epoch !== s.head.epoch) {
          this.#fence(partition, s, newest);
          continue;
        }
        await this.#takeBack(partition, written, error);
      }
      const entry: PartitionOffsets = { ...s.head, seq: s.head.seq + 1, nextOffset: next, writtenAtMs: this.options.clock.now() };
      let failure: unknown;
      let outcome: AppendOutcome;
      try {
        outcome = await appendOffsets(this.store, entry);
      } catch (error) {
        failure = error;
        outcome = await this.#afterFailedCommit(partition, entry, written, error);
      }
      if (!outcome.appended) {
        // Fenced: the files stay (should the commit have landed before the claim, they are
        // committed; if not, they are never visible, and the next claim deletes them).
        this.#fence(partition, s, outcome.newest);
        continue;
      }
      // Rows added while the files were written (none today: the worker awaits flush between fetches) stay buffered.
      s.rows = s.rows.slice(rows.length);
      s.head = entry;
      committed.set(partition, next);
      if (failure !== undefined) throw new LakeFlushError(partition, failure, { committed: true });
    }
    return committed;
  }

  /**
   * Skips `partition` ahead to `offset` in the lake, recording the skipped range in its offsets
   * log: for records Kafka deleted (retention) before the lake read them, so that the writer can
   * go on from the log's start. Nothing on disk is touched. Only with nothing read past the
   * committed offset. Resolves false when another writer had claimed the partition (then fenced).
   */
  async skipTo(partition: number, offset: bigint): Promise<boolean> {
    const s = this.#state(partition);
    const from = s.position;
    if (from === undefined || s.rows.length > 0 || from !== (s.head.nextOffset ?? from)) {
      throw new RangeError(`partition ${partition} can skip only from its committed offset with nothing buffered: flush() first`);
    }
    if (offset <= from) throw new RangeError(`partition ${partition}: skipTo() goes forward only: ${offset} is not past ${from}`);
    const entry: PartitionOffsets = {
      ...s.head,
      seq: s.head.seq + 1,
      nextOffset: offset,
      skipped: [...s.head.skipped, { from, to: offset }],
      writtenAtMs: this.options.clock.now(),
    };
    const outcome = await appendOffsets(this.store, entry);
    if (!outcome.appended) {
      this.#fence(partition, s, outcome.newest);
      return false;
    }
    s.head = entry;
    s.position = offset;
    return true;
  }

  /**
   * Writing the commit threw: it may have landed all the same (a rename or link done, its
   * directory's fsync failed). The log says: landed — the flush counts; another owner's entry —
   * fenced; still our previous entry — not landed, so its files are taken back. When the log
   * cannot be read, nothing is deleted and the writer must stop (a restart's claim sorts it out).
   */
  async #afterFailedCommit(partition: number, entry: PartitionOffsets, written: readonly string[], error: unknown): Promise<AppendOutcome> {
    let newest: PartitionOffsets | undefined;
    try {
      newest = await readOffsetsHead(this.store, partition);
    } catch (readError) {
      throw new Error(
        `cannot tell whether partition ${partition}'s commit of offset ${entry.nextOffset} landed: writing it failed (${(error as Error)?.message ?? error}) ` +
          `and reading the log back failed (${(readError as Error)?.message ?? readError}); its files are kept — stop, and the next start sorts them out from the lake's offsets`,
        { cause: error },
      );
    }
    if (newest?.seq === entry.seq && newest.owner === entry.owner) return { appended: true };
    if (newest === undefined || newest.epoch !== entry.epoch) return { appended: false, newest };
    return this.#takeBack(partition, written, error);
  }

  /**
   * A flush failed and its commit did not land: deletes the files it wrote, so that a later commit
   * of this epoch cannot make them visible beside the files of its retry, then throws
   * LakeFlushError. If one cannot be deleted, throws an error that must stop the writer: only a
   * new claim (the next start) retires them safely.
   */
  async #takeBack(partition: number, written: readonly string[], cause: unknown): Promise<never> {
    for (const path of written) {
      try {
        await this.store.remove(path);
      } catch (removeError) {
        throw new Error(
          `partition ${partition}'s flush failed (${(cause as Error)?.message ?? cause}) and its uncommitted file ${path} could not be deleted ` +
            `(${(removeError as Error)?.message ?? removeError}); stopping, so that no later commit of this owner epoch can make it visible — the next start's claim retires it`,
          { cause },
        );
      }
    }
    throw new LakeFlushError(partition, cause);
  }

  #fence(partition: number, s: PartitionState, newest: PartitionOffsets | undefined): void {
    this.#fenced.push({ partition, epoch: s.head.epoch, newest, droppedRows: s.rows.length });
    this.#partitions.delete(partition);
  }

  #state(partition: number): PartitionState {
    const s = this.#partitions.get(partition);
    if (!s) throw new RangeError(`partition ${partition} is not assigned to this lake writer; assign() it first`);
    return s;
  }
}
