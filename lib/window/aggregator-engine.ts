/**
 * The aggregator worker without Kafka: it owns the per-partition states, validates and routes
 * every record, emits results to the sinks and takes checkpoints. `lib/consume/assigned-feed.ts` feeds
 * it records and assignment changes; tests can drive it with in-memory sinks, stores and a fake
 * clock.
 *
 * Exactly-once results rest on one ordering, in `checkpoint()`:
 *   1. synchronously, per partition: collect the results due, hand them to every sink, and take
 *      the state's snapshot — so the snapshot never claims an emission a sink has not received;
 *   2. await every sink's flush and every forwarded record's acknowledgement;
 *   3. save each partition's snapshot to its state store (lib/window/state-store.ts).
 * A crash before 3 restarts from the previous checkpoint and replays the same records into the
 * same state, so every window's final result is emitted again with the same numbers (sinks
 * store by key, so the replay overwrites rather than adds).
 *
 * Records arrive per partition in offset order. A record below the partition's nextOffset was
 * already applied (a replay after a rebalance or restart) and is skipped.
 *
 * Verdicts depend only on the log, so the same log always gives the same results, DLQ and late
 * topic: an event's time bounds (`maxFutureMs`, `maxPastMs`) are judged against its record's
 * Kafka timestamp (CreateTime, or the broker's LogAppendTime), never this worker's clock, and
 * that timestamp caps how far the event moves the watermark (partition-aggregator.ts). Two
 * exceptions: a record without a timestamp (-1, which no current client writes) is judged
 * against the clock instead — without any reference, one event days ahead would carry the
 * watermark with it; and the idle rule lets a quiet partition's watermark follow the clock.
 */
import { CheckpointError } from "./checkpoint.ts";
import { type StateStore, type StateStoreContext, StateFencedError } from "./state-store.ts";
import {
  type AggregatorSettings,
  DEFAULT_AGGREGATOR_SETTINGS,
  DEFAULT_EMIT_INTERVAL_MS,
  type HeldState,
  PartitionAggregator,
  type PartitionSnapshot,
} from "./partition-aggregator.ts";
import type { PartitionMetrics, ResultSink, WorkerMetrics } from "./result-sink.ts";
import { DEFAULT_MAX_FUTURE_MS, validateForCounting } from "../event/validate-order.ts";
import { assignWindow } from "./assign-window.ts";
import type { WindowResult } from "./window-aggregate.ts";

/** A record to publish to another topic (the DLQ or the late topic). */
export interface ForwardRecord {
  topic: string;
  /** The source record's key, passed on as it came (bytes from Kafka, or a string). */
  key: Uint8Array | string | undefined;
  /** The source record's value; null when it had none (a tombstone), passed on as null. */
  value: Uint8Array | null;
  /** What the worker adds: the reason and the source record's topic, partition and offset. */
  headers: Record<string, string>;
  /**
   * The source record's own headers, as their encoded section (count, then each key and value,
   * lib/kafka/read-record-batches.ts's readRecordHeaders reads it); sent before `headers`.
   */
  sourceHeaders?: Uint8Array;
}

/** Publishes forwarded records; `flush()` resolves once every record sent before the call is acknowledged. */
export interface Forwarder {
  send(record: ForwardRecord): void;
  flush(): Promise<void>;
}

export interface Clock {
  now(): number;
}

/** Where to start a partition that has no usable checkpoint. */
export type ResetPolicy = "earliest" | "latest";

export interface EngineOptions {
  topic: string;
  dlqTopic: string;
  /** null: late events are counted but not forwarded. */
  lateTopic: string | null;
  settings?: Partial<AggregatorSettings>;
  emitIntervalMs?: number;
  /** Processing time without records after which a partition's watermark follows the clock. Default 30 s. */
  idleTimeoutMs?: number;
  /** How far ahead of its record's Kafka timestamp created_at may be before the event is invalid. Default 5 min. */
  maxFutureMs?: number;
  /** How far behind its record's Kafka timestamp created_at may be before the event is invalid. Default 1 day. */
  maxPastMs?: number;
  clock: Clock;
  sinks: ResultSink[];
  forwarder: Forwarder;
  /** The state store of one partition, made when the partition is assigned and kept while it is owned. */
  stateStore(context: StateStoreContext): StateStore;
  /** Applied only to partitions whose checkpoint is missing or unusable; see `assign()`. */
  reset?: ResetPolicy;
  worker?: string;
  /**
   * Measure end-to-end latency (created_at to the emission that first includes the event) on
   * every Nth counted event; 0 or unset: off. See `latency()`.
   */
  latencySampleEvery?: number;
  /** Called with each sampled latency in ms (a metrics histogram). */
  onLatency?: (ms: number) => void;
}

/** Latency samples in ms, summarised. */
export interface LatencySummary {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

interface Owned {
  state: PartitionAggregator;
  store: StateStore;
  lastRecordAtMs: number;
  lastCheckpointAtMs: number | null;
  lag: bigint | null;
  /** When the lag was last reported (a fetch answered); null before the first. */
  lagAtMs: number | null;
}

/** Latency histogram buckets: one per ms up to a minute. */
const LATENCY_BUCKETS = 60_000;

/** How recent a "caught up" report must be for a quiet partition to count as idle. */
const FRESH_LAG_MS = 2_000;

export interface Totals {
  records: number;
  counted: number;
  duplicates: number;
  late: number;
  invalid: number;
  skippedReplays: number;
}

export class AggregatorEngine {
  readonly settings: AggregatorSettings;
  readonly totals: Totals = { records: 0, counted: 0, duplicates: 0, late: 0, invalid: 0, skippedReplays: 0 };
  readonly invalidByReason = new Map<string, number>();
  #owned = new Map<number, Owned>();
  #options: EngineOptions;
  #fetchAnsweredAtMs: number | null = null;
  #idleTimeoutMs: number;
  #maxFutureMs: number;
  #validateOptions: { nowMs: number; maxFutureMs: number; maxPastMs?: number };
  #latencyEvery: number;
  #latencyCount = 0;
  /** "partition/windowStartMs" → created_at of the sampled events not yet emitted. */
  #latencyPending = new Map<string, number[]>();
  /** Latency samples (integer ms) from 0 to LATENCY_BUCKETS − 1, counted per ms: a percentile needs no sort. */
  #latencyHistogram: Uint32Array | undefined;
  /** Samples outside the histogram (negative: created_at ahead of this clock; or a minute and more). */
  #latencyOutliers: number[] = [];
  #latencyCountTotal = 0;

  constructor(options: EngineOptions) {
    this.#options = options;
    this.settings = { ...DEFAULT_AGGREGATOR_SETTINGS, ...options.settings };
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.#maxFutureMs = options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
    // One options object for every record (only nowMs, the record's timestamp, changes), not a new one per call.
    this.#validateOptions = {
      nowMs: 0,
      maxFutureMs: this.#maxFutureMs,
      ...(options.maxPastMs === undefined ? {} : { maxPastMs: options.maxPastMs }),
    };
    this.#latencyEvery = options.latencySampleEvery ?? 0;
  }

  get partitions(): number[] {
    return [...this.#owned.keys()].sort((a, b) => a - b);
  }

  nextOffset(partition: number): bigint | undefined {
    return this.#owned.get(partition)?.state.nextOffset;
  }

  /**
   * Takes ownership of `partitions` (those not owned yet): restores each from its checkpoint, or
   * starts it fresh. Returns the offset to read each from.
   *
   * - A valid checkpoint: its state and its nextOffset.
   * - No checkpoint and no committed offset for the group (`hasCommittedOffset` false): a new
   *   pipeline; start at `reset` (default earliest) with empty state.
   * - No checkpoint but a committed offset, or a checkpoint that is corrupt, truncated, of
   *   another version or other settings: the state is lost. Without `reset` this throws a
   *   {@link CheckpointError} (the worker stops with its message); with it, the partition
   *   starts empty at that end and the problem is reported through `onReset`.
   */
  async assign(
    partitions: number[],
    resolve: {
      offsetAt(partition: number, end: ResetPolicy): Promise<bigint>;
      hasCommittedOffset(partition: number): Promise<boolean>;
      onReset?(partition: number, why: string): void;
    },
  ): Promise<Map<number, bigint>> {
    const starts = new Map<number, bigint>();
    const now = this.#options.clock.now();
    // Every new partition's state is read at once (a changelog restore is mostly waiting on the broker).
    const loads = new Map<number, { store: StateStore; loaded: Promise<PartitionSnapshot | undefined> }>();
    for (const partition of partitions) {
      if (this.#owned.has(partition)) continue;
      const store = this.#options.stateStore({ topic: this.#options.topic, partition, settings: this.settings });
      const loaded = store.load();
      loaded.catch(() => {}); // each is awaited below, in partition order
      loads.set(partition, { store, loaded });
    }
    for (const partition of partitions) {
      const owned = this.#owned.get(partition);
      if (owned) {
        starts.set(partition, owned.state.nextOffset);
        continue;
      }
      const { store, loaded } = loads.get(partition)!;
      let state: PartitionAggregator | undefined;
      let problem: CheckpointError | undefined;
      let saved: PartitionSnapshot | undefined;
      try {
        saved = await loaded;
        if (saved) state = PartitionAggregator.restore(saved, this.#stateOptions());
      } catch (error) {
        if (!(error instanceof CheckpointError)) throw error;
        problem = new CheckpointError(error.code, `partition ${partition}: ${error.message}`, { cause: error });
      }
      if (!saved && !problem && (await resolve.hasCommittedOffset(partition))) {
        problem = new CheckpointError(
          "corrupt",
          `partition ${partition}: the consumer group has committed offsets but there is no checkpoint ` +
            "(was the checkpoint directory lost or not shared between hosts?); restart with --reset earliest|latest to rebuild state",
        );
      }
      if (problem) {
        if (!this.#options.reset) throw problem;
        resolve.onReset?.(partition, problem.message);
      }
      if (!state) {
        const startOffset = await resolve.offsetAt(partition, this.#options.reset ?? "earliest");
        state = new PartitionAggregator(this.#options.topic, partition, { ...this.#stateOptions(), startOffset });
      }
      this.#owned.set(partition, { state, store, lastRecordAtMs: now, lastCheckpointAtMs: null, lag: null, lagAtMs: null });
      starts.set(partition, state.nextOffset);
    }
    return starts;
  }

  /**
   * Gives up partitions: their state is dropped unsaved at once, nothing more is emitted or saved
   * for them, and every sink drops their queued results (`ResultSink.revoke`), so none can land
   * after the new owner's. Resolves once the sinks have nothing of theirs in flight.
   */
  async revoke(partitions: number[]): Promise<void> {
    const gone = partitions.filter((p) => this.#owned.delete(p));
    if (gone.length > 0) await Promise.all(this.#options.sinks.map((s) => s.revoke?.(gone)));
  }

  /**
   * One record of an owned partition, with its Kafka timestamp (-1: none). Never throws on the
   * record's content; a record of a partition not owned (a stale fetch after a rebalance) is ignored.
   */
  process(partition: number, offset: bigint, key: Uint8Array | string | undefined, value: Uint8Array, timestampMs = -1): void {
    this.#apply(partition, Number(offset), value, 0, value.length, -1, -1, key, timestampMs, -1, -1);
  }

  /**
   * The hot path: {@link process} of a record given as byte ranges of `data` (a fetch response
   * or a decompressed batch), as lib/kafka/read-record-batches.ts hands them over. A null value
   * (start -1) is judged as an empty one and forwarded as null; a null key (start -1) is no key.
   * `data[headersStart, headersEnd)` holds the record's headers (-1: none), copied only when the
   * record is forwarded. Nothing is copied unless the record is forwarded, and then only its own
   * bytes.
   */
  processRange(
    partition: number,
    offset: number,
    data: Uint8Array,
    valueStart: number,
    valueEnd: number,
    keyStart: number,
    keyEnd: number,
    timestampMs = -1,
    headersStart = -1,
    headersEnd = -1,
  ): void {
    this.#apply(partition, offset, data, valueStart, valueEnd, keyStart, keyEnd, undefined, timestampMs, headersStart, headersEnd);
  }

  /**
   * `key` when given, else the key is `data[keyStart, keyEnd)` (none when keyStart is -1). A
   * value start of -1 is a null value.
   */
  #apply(
    partition: number,
    offset: number,
    data: Uint8Array,
    valueStart: number,
    valueEnd: number,
    keyStart: number,
    keyEnd: number,
    key: Uint8Array | string | undefined,
    timestampMs: number,
    headersStart: number,
    headersEnd: number,
  ): void {
    const owned = this.#owned.get(partition);
    if (!owned) return;
    const { state } = owned;
    if (state.hasRead(offset)) {
      this.totals.skippedReplays += 1;
      return;
    }
    const now = this.#options.clock.now();
    owned.lastRecordAtMs = now;
    this.totals.records += 1;
    // The record's timestamp; the clock only for a record without one (see the module comment).
    const referenceMs = timestampMs >= 0 ? timestampMs : now;
    const options = this.#validateOptions;
    options.nowMs = referenceMs;
    const result = valueStart < 0 ? validateForCounting(EMPTY, 0, 0, options) : validateForCounting(data, valueStart, valueEnd, options);
    if (!result.ok) {
      state.skip(offset);
      this.totals.invalid += 1;
      this.invalidByReason.set(result.reason, (this.invalidByReason.get(result.reason) ?? 0) + 1);
      this.#forward(this.#options.dlqTopic, partition, offset, data, valueStart, valueEnd, keyStart, keyEnd, key, headersStart, headersEnd, {
        reason: result.reason,
        detail: result.detail.slice(0, 500),
      });
      return;
    }
    const watermarkBefore = state.watermarkMs;
    const outcome = state.add(offset, result.event, result.eventTimeMs, referenceMs);
    switch (outcome) {
      case "counted":
        this.totals.counted += 1;
        if (this.#latencyEvery > 0 && ++this.#latencyCount % this.#latencyEvery === 0) {
          const key = `${partition}/${assignWindow(result.eventTimeMs, this.settings.windowSizeMs)}`;
          const pending = this.#latencyPending.get(key);
          if (pending) pending.push(result.eventTimeMs);
          else this.#latencyPending.set(key, [result.eventTimeMs]);
        }
        return;
      case "duplicate":
        this.totals.duplicates += 1;
        return;
      case "late":
        this.totals.late += 1;
        if (this.#options.lateTopic !== null) {
          this.#forward(this.#options.lateTopic, partition, offset, data, valueStart, valueEnd, keyStart, keyEnd, key, headersStart, headersEnd, {
            reason: "late",
            // created_at in its one valid form is the ISO text of the event time.
            detail: `created_at ${new Date(result.eventTimeMs).toISOString()} is in a window that closed at watermark ${new Date(watermarkBefore).toISOString()}`,
            "watermark-ms": String(watermarkBefore),
          });
        }
        return;
      case "invalid":
        // The validator never passes a non-finite time; counted like any invalid record.
        this.totals.invalid += 1;
        return;
      default:
        outcome satisfies never;
    }
  }

  /**
   * Emits what is due (update mode) and lets idle partitions' watermarks follow the clock.
   *
   * Idle means the partition really has nothing: no record for the idle timeout, AND a fetch
   * answered within the last 2 s that it is read to its end. A partition that is merely not being
   * read — fetching paused by backpressure, a slow broker, a backlog elsewhere — is not idle, or
   * its windows would close early and its own backlog would turn late.
   */
  async tick(): Promise<WindowResult[]> {
    const now = this.#options.clock.now();
    const results: WindowResult[] = [];
    for (const owned of this.#owned.values()) {
      const caughtUpRecently = owned.lag === 0n && owned.lagAtMs !== null && now - owned.lagAtMs <= FRESH_LAG_MS;
      if (caughtUpRecently && now - owned.lastRecordAtMs >= this.#idleTimeoutMs) owned.state.advanceIdle(now);
      for (const r of owned.state.collect(now)) results.push(r);
    }
    this.#recordLatency(results);
    if (results.length > 0) await Promise.all(this.#options.sinks.map((s) => s.write(results)));
    return results;
  }

  /** End-to-end latency of the sampled events so far (created_at → first emission including them). */
  latency(): LatencySummary | undefined {
    const total = this.#latencyCountTotal;
    if (total === 0) return undefined;
    const histogram = this.#latencyHistogram!;
    const low = this.#latencyOutliers.filter((ms) => ms < 0).sort((a, b) => a - b);
    const high = this.#latencyOutliers.filter((ms) => ms >= 0).sort((a, b) => a - b);
    // The k-th smallest sample (1-based): the negative outliers, then the histogram, then the rest.
    const kth = (k: number): number => {
      if (k <= low.length) return low[k - 1]!;
      let seen = low.length;
      for (let ms = 0; ms < histogram.length; ms++) {
        seen += histogram[ms]!;
        if (seen >= k) return ms;
      }
      return high[k - seen - 1]!;
    };
    const at = (q: number) => kth(Math.min(total, Math.max(1, Math.ceil(q * total))));
    return { samples: total, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: kth(total) };
  }

  #addLatency(ms: number): void {
    this.#latencyHistogram ??= new Uint32Array(LATENCY_BUCKETS);
    this.#latencyCountTotal += 1;
    this.#options.onLatency?.(ms);
    if (Number.isInteger(ms) && ms >= 0 && ms < LATENCY_BUCKETS) this.#latencyHistogram[ms]! += 1;
    else this.#latencyOutliers.push(ms);
  }

  #recordLatency(results: readonly WindowResult[]): void {
    if (this.#latencyEvery === 0) return;
    for (const r of results) {
      const key = `${r.partition}/${r.windowStartMs}`;
      const pending = this.#latencyPending.get(key);
      if (!pending) continue;
      for (const createdAtMs of pending) this.#addLatency(r.emittedAtMs - createdAtMs);
      this.#latencyPending.delete(key);
    }
  }

  /**
   * Saves every owned partition's checkpoint after its results and forwarded records are
   * durable (see the module comment). Returns the saved positions, for committing to the group.
   * `stillOwned` is asked right before each save, so a partition revoked meanwhile is not saved
   * over its new owner's checkpoint.
   */
  async checkpoint(stillOwned: (partition: number) => boolean = () => true): Promise<Map<number, bigint>> {
    const now = this.#options.clock.now();
    const results: WindowResult[] = [];
    const snapshots = new Map<number, { owned: Owned; snapshot: PartitionSnapshot }>();
    for (const [partition, owned] of this.#owned) {
      for (const r of owned.state.collect(now)) results.push(r);
      snapshots.set(partition, { owned, snapshot: owned.state.snapshot() });
    }
    this.#recordLatency(results);
    if (results.length > 0) await Promise.all(this.#options.sinks.map((s) => s.write(results)));
    await Promise.all([...this.#options.sinks.map((s) => s.flush()), this.#options.forwarder.flush()]);
    const saved = new Map<number, bigint>();
    await Promise.all(
      [...snapshots].map(async ([partition, { owned, snapshot }]) => {
        // Still owned by this same ownership (not revoked, nor revoked and assigned again meanwhile).
        if (this.#owned.get(partition) !== owned || !stillOwned(partition)) return;
        try {
          await owned.store.save(snapshot);
        } catch (error) {
          // Another worker owns the partition now (the group has not told this one yet): not ours to save.
          if (error instanceof StateFencedError) return;
          throw error;
        }
        owned.lastCheckpointAtMs = now;
        saved.set(partition, snapshot.nextOffset);
      }),
    );
    return saved;
  }

  /**
   * The worker could not read `partitions` (default: every owned one): a fetch went unanswered
   * (the broker is away), the broker did not serve them (no leader, or an error code for the
   * partition), or fetching waits for a full sink. For each, the quiet time that makes it idle
   * starts again now, and its last lag report no longer counts as fresh. Otherwise an outage
   * longer than the idle timeout would let watermarks follow the clock the moment the partition
   * is served again — before the producer has re-sent what it held — and turn those events late.
   */
  noteUnread(partitions?: Iterable<number>): void {
    const now = this.#options.clock.now();
    const unread = partitions === undefined ? this.#owned.values() : [...partitions].flatMap((p) => this.#owned.get(p) ?? []);
    for (const owned of unread) {
      if (owned.lastRecordAtMs < now) owned.lastRecordAtMs = now;
      owned.lagAtMs = null;
    }
  }

  /** True when every owned partition has been read to the end offset a fetch reported for it within the last 2 s. */
  caughtUp(): boolean {
    // Only a recent answer counts: a lag of 0 reported before the broker went away says nothing now.
    const now = this.#options.clock.now();
    for (const owned of this.#owned.values()) {
      if (owned.lag !== 0n || owned.lagAtMs === null || now - owned.lagAtMs > FRESH_LAG_MS) return false;
    }
    return true;
  }

  /** What the owned partitions' windows hold (see PartitionAggregator.held()), summed. */
  held(): HeldState {
    const held = { ids: 0, customers: 0, bytes: 0, customersAdded: 0 };
    for (const owned of this.#owned.values()) {
      const h = owned.state.held();
      held.ids += h.ids;
      held.customers += h.customers;
      held.bytes += h.bytes;
      held.customersAdded += h.customersAdded;
    }
    return held;
  }

  /** When a fetch last answered for an owned partition (the engine's clock); null before one. */
  fetchAnsweredAtMs(): number | null {
    return this.#fetchAnsweredAtMs;
  }

  /** Bytes the state stores of the owned partitions wrote so far. */
  stateBytesWritten(): number {
    let bytes = 0;
    for (const owned of this.#owned.values()) bytes += owned.store.bytesWritten;
    return bytes;
  }

  /**
   * A fetch answered for the partition: records its lag, the end offset minus the fetch position
   * (`position`, default the state's next offset), for metrics, idleness and `caughtUp()`. The
   * fetch position is what counts: it moves past transaction markers and aborted records, which
   * the state's next offset (the last record's plus one) never does — a commit marker at the end
   * of a partition would otherwise keep its lag at 1 forever.
   */
  setEndOffset(partition: number, endOffset: bigint, position?: bigint): void {
    const owned = this.#owned.get(partition);
    if (!owned) return;
    const read = position !== undefined && position > owned.state.nextOffset ? position : owned.state.nextOffset;
    owned.lag = endOffset > read ? endOffset - read : 0n;
    owned.lagAtMs = this.#options.clock.now();
    this.#fetchAnsweredAtMs = owned.lagAtMs;
  }

  /**
   * A corrupt record batch of an owned partition (CRC mismatch, unsupported format or codec,
   * records that do not decompress or fit; lib/kafka/read-record-batches.ts), skipped by the
   * fetcher: its bytes go to the DLQ as one record with reason `corrupt_batch`, the detail, and
   * the source topic, partition and first and last offsets; it counts as one invalid record (the
   * partition's next offset moves past it, so a restart does not read it again). A batch already
   * read (a replay after a restart or rebalance) is skipped as a replay.
   */
  skipCorruptBatch(partition: number, batch: { firstOffset: number; lastOffset: number; detail: string; bytes: Uint8Array }): void {
    const owned = this.#owned.get(partition);
    if (!owned) return;
    if (owned.state.hasRead(batch.lastOffset)) {
      this.totals.skippedReplays += 1;
      return;
    }
    owned.lastRecordAtMs = this.#options.clock.now();
    owned.state.skip(batch.lastOffset);
    this.totals.records += 1;
    this.totals.invalid += 1;
    this.invalidByReason.set(CORRUPT_BATCH, (this.invalidByReason.get(CORRUPT_BATCH) ?? 0) + 1);
    this.#options.forwarder.send({
      topic: this.#options.dlqTopic,
      key: undefined,
      value: copyOf(batch.bytes, 0, batch.bytes.length),
      headers: this.#provenance(partition, batch.firstOffset, {
        reason: CORRUPT_BATCH,
        detail: batch.detail.slice(0, 500),
        "source-first-offset": String(batch.firstOffset),
        "source-last-offset": String(batch.lastOffset),
      }),
    });
  }

  metrics(eventsPerSecond: number): WorkerMetrics {
    const now = this.#options.clock.now();
    const partitions: PartitionMetrics[] = [];
    for (const [partition, owned] of [...this.#owned].sort((a, b) => a[0] - b[0])) {
      const watermarkMs = owned.state.watermarkMs;
      const stats = owned.state.stats();
      partitions.push({
        partition,
        events: stats.counted + stats.duplicates + stats.late + stats.invalid,
        counted: stats.counted,
        duplicates: stats.duplicates,
        late: stats.late,
        invalid: stats.invalid,
        watermarkMs,
        watermarkDelayMs: Number.isFinite(watermarkMs) ? now - watermarkMs : null,
        lag: owned.lag,
        checkpointAgeMs: owned.lastCheckpointAtMs === null ? null : now - owned.lastCheckpointAtMs,
      });
    }
    const { counted, duplicates, late, invalid } = this.totals;
    return { worker: this.#options.worker ?? "aggregate", atMs: now, eventsPerSecond, counted, duplicates, late, invalid, partitions };
  }

  #stateOptions() {
    return { ...this.settings, emitIntervalMs: this.#options.emitIntervalMs ?? DEFAULT_EMIT_INTERVAL_MS };
  }

  /**
   * Sends a copy of the record — its key, value (null stays null) and own headers — with the
   * worker's `extra` headers and its provenance. Copies: `data` is a whole fetch response, or a
   * decompression buffer that the next batch overwrites.
   */
  #forward(
    topic: string,
    partition: number,
    offset: number,
    data: Uint8Array,
    valueStart: number,
    valueEnd: number,
    keyStart: number,
    keyEnd: number,
    key: Uint8Array | string | undefined,
    headersStart: number,
    headersEnd: number,
    extra: Record<string, string>,
  ): void {
    const record: ForwardRecord = {
      topic,
      key: key ?? keyOf(data, keyStart, keyEnd),
      value: valueStart < 0 ? null : copyOf(data, valueStart, valueEnd),
      headers: this.#provenance(partition, offset, extra),
    };
    // A header section of one byte is the count 0: no headers.
    if (headersStart >= 0 && headersEnd - headersStart > 1) record.sourceHeaders = copyOf(data, headersStart, headersEnd);
    this.#options.forwarder.send(record);
  }

  #provenance(partition: number, offset: number, extra: Record<string, string>): Record<string, string> {
    return {
      ...extra,
      "source-topic": this.#options.topic,
      "source-partition": String(partition),
      "source-offset": String(offset),
    };
  }
}

const EMPTY = new Uint8Array(0);
/** The DLQ reason of a record batch that could not be read (see `skipCorruptBatch`). */
export const CORRUPT_BATCH = "corrupt_batch";

/** A copy of the key bytes, or undefined for a record without a key. */
function keyOf(data: Uint8Array, keyStart: number, keyEnd: number): Uint8Array | undefined {
  return keyStart < 0 ? undefined : copyOf(data, keyStart, keyEnd);
}

/** A copy of `data[start, end)`: Uint8Array's slice, which copies also when `data` is a Buffer (whose slice is a view). */
function copyOf(data: Uint8Array, start: number, end: number): Uint8Array {
  return Uint8Array.prototype.slice.call(data, start, end);
}
