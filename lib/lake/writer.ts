/**
 * The lake writer's core: valid order events of the Kafka partitions it owns, buffered as columns
 * by event hour (lib/lake/hour-batch.ts) and written to the lake's Delta table in flushes, exactly
 * once (docs/lake.md).
 *
 * Each flush writes its Parquet files, then makes ONE Delta commit (lib/lake/delta-log.ts) with an
 * `add` per file and, per Kafka partition it moved, a `txn` whose application id names the topic
 * and partition and whose version is the last offset the flush covers (Delta's mechanism for
 * idempotent appends). The commit is put-if-absent on the next version: a writer that loses the
 * race reads the commits it missed and tries the next version. Until the commit lands the files
 * are invisible to every reader; a restart resumes each partition after its txn version.
 *
 * Ownership: `assign()` commits, per new partition, a second txn (`…/owner`) whose version is a
 * new owner epoch. Before every commit — and again after each lost race, from the commits it
 * missed — the writer checks that each partition's owner epoch is still its own; a partition
 * another writer claimed meanwhile is fenced: dropped from the commit and from this writer, its
 * rows left to the new owner (`takeFenced()`). Because commits are totally ordered by version, a
 * fenced writer can never commit after the claim that fenced it.
 *
 * Files of a flush that never committed (a crash, a fence) are never referenced by the log;
 * vacuum deletes them after its retention. Nothing here deletes a file.
 *
 * Validity is the event's own (lib/lake/schema.ts's `validateLakeRecord`: every rule of the
 * validator but the time bounds): the lake keeps every valid event whatever its age, and nothing
 * here reads a clock to decide it. Invalid records are counted and skipped (the aggregator
 * forwards them to the DLQ); their offsets still advance the commit.
 */
import { LakeFlushError, LakeTopicMismatchError } from "./writer-errors.ts";
import { checkpointOnInterval } from "./delta-checkpoint.ts";
import { type AddAction, applyCommit, commit, type DeltaAction, type DeltaSnapshot, readCommit } from "./delta-log.ts";
import { catchUp, loadSnapshot } from "./delta-snapshot.ts";
import { DEFAULT_FILE_RETENTION_MS } from "./delta-vacuum.ts";
import { addFileAction, createTableActions, TOPIC_PROPERTY } from "./delta-table.ts";
import { hourPartition, writerFileName } from "./layout.ts";
import type { OrderEvent } from "../event/order-event.ts";
import type { CanonicalFacts } from "../event/parse-canonical-order.ts";
import { HourBatch } from "./hour-batch.ts";
import { encodeInThread, type LakeFileEncoder } from "./encoder-thread.ts";
import { validateLakeRecord } from "./schema.ts";
import type { LakeStore } from "./store.ts";

export { LakeFlushError, LakeTopicMismatchError } from "./writer-errors.ts";

export interface Clock {
  now(): number;
}

export interface LakeWriterTotals {
  records: number;
  valid: number;
  invalid: number;
  /** Data files written (a flush retried after a failed commit writes its files again). */
  files: number;
  bytes: number;
}

export interface LakeWriterOptions {
  /** The Kafka topic read: part of each txn's application id. */
  topic: string;
  /** Commit and file times (`modificationTime`, `commitInfo.timestamp`). Never used to judge an event. */
  clock: Clock;
  /** Rows per row group in a writer file. Default 131,072. */
  rowGroupRows?: number;
  /** A checkpoint after every this many versions. Default 10 (Delta's default). */
  checkpointInterval?: number;
  /** Tombstones older than this are left out of checkpoints (vacuum may have deleted their files). Default 7 days. */
  tombstoneRetentionMs?: number;
  /** Where files are encoded: lib/lake/encoder-thread.ts's EncoderThread, or (default) this thread. */
  encoder?: LakeFileEncoder;
}

/** The txn application id that carries partition `partition`'s last committed offset. */
export function offsetsAppId(topic: string, partition: number): string {
  return `orderpulse-lake/${topic}/${partition}`;
}

/** The partition an {@link offsetsAppId} of `topic` names; undefined for any other id (an owner id, another topic's). */
export function partitionOfOffsetsAppId(topic: string, appId: string): number | undefined {
  const prefix = `orderpulse-lake/${topic}/`;
  if (!appId.startsWith(prefix)) return undefined;
  const rest = appId.slice(prefix.length);
  return /^\d{1,9}$/.test(rest) ? Number(rest) : undefined;
}

/** The txn application id that carries partition `partition`'s owner epoch. */
export function ownerAppId(topic: string, partition: number): string {
  return `${offsetsAppId(topic, partition)}/owner`;
}

/** A partition this writer lost to another writer's claim: dropped, its buffered rows with it. */
export interface FencedPartition {
  partition: number;
  /** This writer's owner epoch of it, now over. */
  epoch: number;
  /** The epoch of the claim that fenced it. */
  newerEpoch: number;
  /** Rows that were buffered and not committed: the new owner reads them again from Kafka. */
  droppedRows: number;
}

interface PartitionState {
  epoch: number;
  /** The next offset after the partition's last committed one; undefined while nothing of it is in the table. */
  committed: bigint | undefined;
  /** The next offset to read: past every record handed to `add`/`advance`. */
  position: bigint | undefined;
  /** Valid rows read and not committed (in a flush in flight or waiting for one). */
  rows: number;
  /** The next offset after the last record `addRange` took, as a number (-1: none since `position` was last brought up to date). */
  read: number;
}

export class LakeWriter {
  readonly totals: LakeWriterTotals = { records: 0, valid: 0, invalid: 0, files: 0, bytes: 0 };
  /** Commits made by this writer (claims, flushes, skips), lost races retried, checkpoints written and failed. */
  readonly commits = { made: 0, raced: 0, checkpoints: 0, checkpointFailures: 0 };
  /** Why the last checkpoint could not be written (the commit before it stands; the next interval tries again). */
  lastCheckpointError: unknown;
  /** 8 hex digits naming this writer's files (with a flush number): no other writer, before or after, writes one of its names. */
  readonly run = crypto.randomUUID().slice(0, 8);
  #flushes = 0;
  #partitions = new Map<number, PartitionState>();
  #fenced: FencedPartition[] = [];
  #snapshot: DeltaSnapshot | undefined;
  /** Rows read since the last flush took its batch. */
  #pending: HourBatch;
  /** Rows of a flush that did not commit (or must be written again without some), older than `#pending`'s. */
  #carried: HourBatch | undefined;

  constructor(
    private readonly store: LakeStore,
    private readonly options: LakeWriterOptions,
  ) {
    this.#pending = new HourBatch(options.rowGroupRows);
  }

  /** Valid rows read and not committed, the flush in flight's included. */
  get bufferedRows(): number {
    let n = 0;
    for (const s of this.#partitions.values()) n += s.rows;
    return n;
  }

  /** Valid rows read and not committed that no flush in flight holds: what the next flush takes. */
  get waitingRows(): number {
    return this.#pending.rows + (this.#carried?.rows ?? 0);
  }

  owned(): number[] {
    return [...this.#partitions.keys()].sort((a, b) => a - b);
  }

  /** This writer's owner epoch of `partition`, while it owns it. */
  epoch(partition: number): number | undefined {
    return this.#partitions.get(partition)?.epoch;
  }

  /** The table version this writer last saw (-1 before the table exists). */
  get version(): number {
    return this.#snapshot?.version ?? -1;
  }

  /**
   * Takes ownership of `partitions`: one commit claiming each new one under a new owner epoch
   * (creating the table first if there is none). Returns the offset to read each from (undefined:
   * the table holds nothing of it yet). Partitions already owned are kept as they are.
   */
  async assign(partitions: readonly number[]): Promise<Map<number, bigint | undefined>> {
    const fresh = partitions.filter((p) => !this.#partitions.has(p));
    if (fresh.length > 0) {
      let snapshot = await this.#table();
      for (;;) {
        const epochs = new Map(fresh.map((p) => [p, Number(snapshot.transactions.get(ownerAppId(this.options.topic, p)) ?? 0n) + 1]));
        const actions: DeltaAction[] = [
          this.#commitInfo("CLAIM PARTITIONS", { partitions: fresh.join(","), epochs: [...epochs.values()].join(",") }),
          ...fresh.map((p): DeltaAction => ({ txn: { appId: ownerAppId(this.options.topic, p), version: BigInt(epochs.get(p)!), lastUpdated: this.options.clock.now() } })),
        ];
        const landed = await this.#commit(snapshot, actions);
        if (landed) {
          snapshot = landed;
          for (const p of fresh) {
            const last = snapshot.transactions.get(offsetsAppId(this.options.topic, p));
            const committed = last === undefined ? undefined : last + 1n;
            this.#partitions.set(p, { epoch: epochs.get(p)!, committed, position: committed, rows: 0, read: -1 });
          }
          break;
        }
        snapshot = await catchUp(this.store, snapshot);
        this.#snapshot = snapshot;
      }
    }
    return new Map(partitions.map((p) => [p, position(this.#partitions.get(p)!)]));
  }

  /** Gives up partitions: their buffered rows are dropped (the next owner reads them again from the table's txn). */
  revoke(partitions: readonly number[]): void {
    let buffered = false;
    for (const p of partitions) {
      buffered ||= (this.#partitions.get(p)?.rows ?? 0) > 0;
      this.#partitions.delete(p);
    }
    if (buffered) this.#dropRowsOfLostPartitions();
  }

  takeFenced(): FencedPartition[] {
    const fenced = this.#fenced;
    this.#fenced = [];
    return fenced;
  }

  position(partition: number): bigint | undefined {
    const s = this.#partitions.get(partition);
    return s && position(s);
  }

  /** The partition's committed next offset, while this writer owns it. */
  committed(partition: number): bigint | undefined {
    return this.#partitions.get(partition)?.committed;
  }

  /** Sets where an unread partition starts (the log's beginning, when the table has nothing of it). */
  startAt(partition: number, offset: bigint): void {
    const s = this.#state(partition);
    if (position(s) === undefined) s.position = offset;
  }

  /** One record of `partition` at `offset`, in offset order, with its Kafka timestamp when known. `value` is read during the call only. */
  add(partition: number, offset: bigint, value: Uint8Array, timestampMs: number | null = null): void {
    this.addRange(partition, Number(offset), value, 0, value.length, timestampMs);
  }

  /**
   * `add` of the record whose value is `bytes[start, end)` (the fetch's own buffer: no copy, no
   * view), at an offset below 2^53 (Kafka's are). What the fetch loop calls for every record.
   */
  addRange(partition: number, offset: number, bytes: Uint8Array, start: number, end: number, timestampMs: number | null): void {
    const s = this.#state(partition);
    this.totals.records += 1;
    const result = validateLakeRecord(bytes, start, end);
    if (result.ok) {
      const group = this.#pending.groupFor(result.eventTimeMs);
      const event = result.event;
      // The validator's fast path leaves byte ranges of `bytes` (no strings); its general path, an OrderEvent.
      if ("orderIdStart" in event) group.appendFacts(bytes, event as CanonicalFacts, result.eventTimeMs, partition, offset, timestampMs);
      else group.appendEvent(event as OrderEvent, result.eventTimeMs, partition, offset, timestampMs);
      s.rows += 1;
      this.totals.valid += 1;
    } else {
      this.totals.invalid += 1;
    }
    // A number here, a bigint only when asked for (position()): no BigInt per record.
    if (offset + 1 > s.read) s.read = offset + 1;
  }

  /** The fetch moved past `next` (control batches, records before the position): nothing to store, but the offset counts. */
  advance(partition: number, next: bigint): void {
    const s = this.#partitions.get(partition);
    if (!s) return;
    const at = position(s);
    if (at === undefined || next > at) s.position = next;
  }

  /** True when some owned partition has read past its committed offset. */
  get dirty(): boolean {
    for (const s of this.#partitions.values()) {
      const at = position(s);
      if (at !== undefined && at !== s.committed) return true;
    }
    return false;
  }

  /**
   * Writes every moved partition's buffered rows — one file per event hour, holding the rows of
   * every partition the flush covers — then commits them all in one Delta commit. Resolves with
   * the committed next offset of each partition it moved, for the consumer group's commit. A
   * partition another writer claimed meanwhile is dropped (`takeFenced()`) and the flush starts
   * over without it (its rows are in the files written so far, which then stay uncommitted).
   * Throws {@link LakeFlushError} when a file or the commit cannot be written and the commit did
   * not land: then nothing of the flush is committed, the rows stay buffered, and `flush()` may
   * be called again (it writes them afresh, under new names).
   */
  async flush(): Promise<Map<number, bigint>> {
    const moved = [...this.#partitions].filter(([, s]) => position(s) !== undefined && s.position !== s.committed);
    if (moved.length === 0) return new Map();
    // What the commit covers, fixed now: rows added meanwhile go into the next batch.
    const covers = new Map(moved.map(([partition, s]) => [partition, s.position!]));
    let batch = this.#carried === undefined ? this.#pending : this.#carried.concat(this.#pending);
    this.#carried = undefined;
    this.#pending = new HourBatch(this.options.rowGroupRows);
    {
      const seq = ++this.#flushes;
      const adds: AddAction[] = [];
      try {
        // Encoded (and for a local lake written) on the encoder thread, while this one goes on reading.
        const layout = batch.files();
        const files = layout.files.map(({ hourStartMs, groups, inShared }) => ({ path: `${hourPartition(hourStartMs)}/${writerFileName(this.run, seq)}`, groups, ...(inShared ? { hourStartMs } : {}) }));
        const written = await (this.options.encoder ?? encodeInThread).writeFiles(this.store, files, layout.shared);
        written.forEach(({ size, summary }, i) => {
          adds.push(addFileAction(files[i]!.path, size, summary, { modificationTime: this.options.clock.now(), dataChange: true }));
          this.totals.files += 1;
          this.totals.bytes += size;
        });
      } catch (error) {
        this.#carried = batch;
        throw new LakeFlushError(Math.min(...covers.keys()), error);
      }
      adds.sort((x, y) => (x.path < y.path ? -1 : 1));
      let snapshot = await this.#table();
      const recovered = new Map<number, bigint>();
      for (;;) {
        let fenced = false;
        for (const partition of [...covers.keys()]) {
          const s = this.#partitions.get(partition)!;
          const epoch = Number(snapshot.transactions.get(ownerAppId(this.options.topic, partition)) ?? 0n);
          if (epoch !== s.epoch) {
            this.#fence(partition, s, epoch);
            covers.delete(partition);
            fenced = true;
            continue;
          }
          // The table is past what we know we committed, under our own epoch: only we commit this
          // partition, so an earlier flush of ours landed although its write reported an error and
          // could not be read back. Take its rows as done, and write what is left afresh.
          const last = snapshot.transactions.get(offsetsAppId(this.options.topic, partition));
          if (last !== undefined && last + 1n > (s.committed ?? -1n)) {
            s.committed = last + 1n;
            const at = position(s);
            if (at === undefined || at < s.committed) s.position = s.committed;
            recovered.set(partition, s.committed);
          }
        }
        // The files hold rows of a fenced partition, or rows already committed: write them again without.
        if (fenced || recovered.size > 0) {
          const before = batch.rowsByPartition();
          batch = batch.filter((partition, offset) => {
            if (!this.#partitions.has(partition)) return false;
            const done = recovered.get(partition);
            return done === undefined || offset >= Number(done);
          });
          const after = batch.rowsByPartition();
          for (const [partition] of recovered) this.#partitions.get(partition)!.rows -= (before.get(partition) ?? 0) - (after.get(partition) ?? 0);
          this.#carried = batch;
          const rest = await this.flush();
          for (const [partition, next] of recovered) if (!rest.has(partition)) rest.set(partition, next);
          return rest;
        }
        if (covers.size === 0) {
          this.#carried = batch;
          return new Map();
        }
        const actions: DeltaAction[] = [this.#commitInfo("WRITE", { mode: "Append", partitions: [...covers.keys()].join(",") })];
        actions.push(...adds.map((add): DeltaAction => ({ add })));
        for (const [partition, next] of covers) {
          actions.push({ txn: { appId: offsetsAppId(this.options.topic, partition), version: next - 1n, lastUpdated: this.options.clock.now() } });
        }
        let landed: DeltaSnapshot | undefined;
        try {
          landed = await this.#commit(snapshot, actions);
        } catch (error) {
          this.#carried = batch;
          throw new LakeFlushError(Math.min(...covers.keys()), error, { what: "commit" });
        }
        if (landed) {
          const counts = batch.rowsByPartition();
          const result = new Map<number, bigint>();
          for (const [partition, next] of covers) {
            const s = this.#partitions.get(partition)!;
            s.committed = next;
            s.rows -= counts.get(partition) ?? 0;
            result.set(partition, next);
          }
          // Its files are written and committed: the next batch's rows go into its buffers.
          batch.release();
          return result;
        }
        snapshot = await catchUp(this.store, snapshot);
        this.#snapshot = snapshot;
      }
    }
  }

  /**
   * Skips `partition` ahead to `offset` (records Kafka deleted before the lake read them): a
   * commit whose txn says everything before `offset` is done, naming the skipped range in its
   * commitInfo. Only with nothing read past the committed offset. Resolves false when another
   * writer had claimed the partition (then fenced).
   */
  async skipTo(partition: number, offset: bigint): Promise<boolean> {
    const s = this.#state(partition);
    const from = position(s);
    if (from === undefined || s.rows > 0 || from !== (s.committed ?? from)) {
      throw new RangeError(`partition ${partition} can skip only from its committed offset with nothing buffered: flush() first`);
    }
    if (offset <= from) throw new RangeError(`partition ${partition}: skipTo() goes forward only: ${offset} is not past ${from}`);
    let snapshot = await this.#table();
    for (;;) {
      const epoch = Number(snapshot.transactions.get(ownerAppId(this.options.topic, partition)) ?? 0n);
      if (epoch !== s.epoch) {
        this.#fence(partition, s, epoch);
        return false;
      }
      const landed = await this.#commit(snapshot, [
        this.#commitInfo("SKIP LOST RECORDS", { partition: String(partition), from: String(from), to: String(offset) }),
        { txn: { appId: offsetsAppId(this.options.topic, partition), version: offset - 1n, lastUpdated: this.options.clock.now() } },
      ]);
      if (landed) {
        s.committed = offset;
        s.position = offset;
        return true;
      }
      snapshot = await catchUp(this.store, snapshot);
      this.#snapshot = snapshot;
    }
  }

  /**
   * The newest snapshot this writer knows, the table created first when there is none (naming
   * the topic). A table that names another topic is refused with a LakeTopicMismatchError: its
   * rows are another stream's.
   */
  async #table(): Promise<DeltaSnapshot> {
    this.#snapshot ??= await loadSnapshot(this.store);
    while (this.#snapshot.version < 0) {
      const created = await this.#commit(this.#snapshot, createTableActions(crypto.randomUUID(), this.options.clock.now(), this.options.topic));
      this.#snapshot = created ?? (await catchUp(this.store, this.#snapshot));
    }
    const topic = this.#snapshot.metadata?.configuration[TOPIC_PROPERTY];
    if (topic !== undefined && topic !== this.options.topic) {
      throw new LakeTopicMismatchError(
        `the lake's table holds the events of topic ${JSON.stringify(topic)} (its property ${TOPIC_PROPERTY}), not ${JSON.stringify(this.options.topic)}: point this writer at another table`,
      );
    }
    return this.#snapshot;
  }

  /**
   * Commits `actions` as the version after `base`: the new snapshot when it landed, undefined
   * when another commit took that version. A write that fails may have landed all the same (the
   * object stored, the answer lost): the commit is read back and recognised by its commitInfo's
   * txnId; if it cannot be read back either, the error is thrown.
   */
  async #commit(base: DeltaSnapshot, actions: DeltaAction[]): Promise<DeltaSnapshot | undefined> {
    const version = base.version + 1;
    const txnId = (actions[0] as { commitInfo?: { txnId?: string } }).commitInfo?.txnId;
    let won: boolean;
    try {
      won = await commit(this.store, version, actions);
    } catch (error) {
      const there = await readCommit(this.store, version).catch(() => {
        throw error;
      });
      if (there === undefined) throw error;
      won = txnId !== undefined && (there[0] as { commitInfo?: { txnId?: string } }).commitInfo?.txnId === txnId;
    }
    if (!won) {
      this.commits.raced += 1;
      return undefined;
    }
    this.commits.made += 1;
    const next = applyCommit(base, version, actions);
    this.#snapshot = next;
    const checkpoint = await checkpointOnInterval(this.store, next, {
      interval: this.options.checkpointInterval ?? 10,
      tombstonesSinceMs: this.options.clock.now() - (this.options.tombstoneRetentionMs ?? DEFAULT_FILE_RETENTION_MS),
    });
    if (checkpoint.written) this.commits.checkpoints += 1;
    if (checkpoint.error !== undefined) {
      this.commits.checkpointFailures += 1;
      this.lastCheckpointError = checkpoint.error;
    }
    return next;
  }

  #commitInfo(operation: string, operationParameters: Record<string, string>): DeltaAction {
    return { commitInfo: { txnId: crypto.randomUUID(), timestamp: this.options.clock.now(), operation, operationParameters, engineInfo: "orderpulse-lake-writer", isBlindAppend: true } };
  }

  #fence(partition: number, s: PartitionState, newerEpoch: number): void {
    this.#fenced.push({ partition, epoch: s.epoch, newerEpoch, droppedRows: s.rows });
    this.#partitions.delete(partition);
    if (s.rows > 0) this.#dropRowsOfLostPartitions();
  }

  /** Drops the waiting rows of partitions this writer no longer owns (a flush in flight filters its own batch). */
  #dropRowsOfLostPartitions(): void {
    const owned = (partition: number) => this.#partitions.has(partition);
    this.#pending = this.#pending.filter(owned);
    if (this.#carried !== undefined) this.#carried = this.#carried.filter(owned);
  }

  #state(partition: number): PartitionState {
    const s = this.#partitions.get(partition);
    if (!s) throw new RangeError(`partition ${partition} is not assigned to this lake writer; assign() it first`);
    return s;
  }
}

/** The partition's next offset to read, brought up to date with what `addRange` took. */
function position(s: PartitionState): bigint | undefined {
  if (s.read >= 0) {
    const read = BigInt(s.read);
    if (s.position === undefined || read > s.position) s.position = read;
    s.read = -1;
  }
  return s.position;
}
