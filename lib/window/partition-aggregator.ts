/**
 * The windowed aggregator's state for one Kafka partition: pure, synchronous, driven by the
 * engine (`aggregator-engine.ts`, itself fed by lib/consume/assigned-feed.ts), which feeds it
 * every record of the partition in offset order, collects emissions and saves snapshots. Time
 * comes in as arguments; nothing here reads a clock.
 *
 * Semantics (the test oracle in `test/support/oracle.ts` holds the worker to exactly these):
 *
 * - Event time is `created_at` (the validator's `eventTimeMs`). Windows are tumbling,
 *   `[start, start + windowSizeMs)` with `start = Math.floor(t / size) * size` (negative times
 *   work); an event exactly on a window's end belongs to the later window.
 * - Watermark, per partition: (largest *watermark time* of the counted events seen) −
 *   watermarkDelayMs. It starts at -Infinity (null in a checkpoint) and never moves backwards.
 *   An event's watermark time is its event time, but at most its record's Kafka timestamp plus
 *   maxAheadMs: min(t, recordTimestampMs + maxAheadMs). One event from a client whose clock runs
 *   minutes ahead is counted in its (future) window, but cannot carry the watermark past the
 *   minutes the rest of the traffic is still in and turn on-time events late. The record timestamp
 *   is part of the log (CreateTime from the producer, or LogAppendTime from the broker), so
 *   replays agree. (The engine passes its clock for a record without a timestamp; -1 here means
 *   no cap, for callers that have no timestamps at all.)
 * - Each valid event is judged BEFORE its own time advances the watermark, in this order:
 *   1. duplicate — its event_id is in the partition's dedup state: dropped, counted in `duplicates`;
 *   2. late — its window's end <= watermark (that window has closed): not counted, counted in
 *      `late`; the worker forwards it to orders.late. An event whose time equals the watermark is
 *      therefore not late: its window ends after its time;
 *   3. counted — added to its window, its event_id added to the dedup state, then
 *      watermark = max(watermark, watermark time − watermarkDelayMs), and every open window whose end <=
 *      watermark closes (its result is final).
 *   Duplicates and late events do not move the watermark.
 * - Dedup state is the event ids counted in the partition's open windows (as 96-bit fingerprints,
 *   lib/window/fingerprint-set.ts: two ids are taken for one only with probability 2^-96 per
 *   pair; docs/state.md has the bound): an id expires when the window it was counted in closes. A copy arriving after that is judged late (its window
 *   has closed), so no event is ever counted twice — provided copies carry the same created_at,
 *   as the producer's re-sends do. A copy with a different created_at is still a duplicate while
 *   the original's window is open.
 * - Idle: `advanceIdle(nowMs)` — called by the worker when the partition has received nothing
 *   for its idle timeout of processing time — sets watermark = max(watermark, nowMs −
 *   watermarkDelayMs) and closes windows accordingly. This is the only place wall-clock time
 *   affects results: on an idle partition, windows close (and later events become late) based
 *   on when the worker noticed the idleness, so a replay can differ there. It does not change
 *   maxEventTimeMs.
 * - Emission (update mode): `collect(nowMs)` returns, ordered by windowStartMs, every window
 *   closed since the last collect once with final = true (then dropped from state), and every
 *   open window whose totals changed since its last emission, but an open window at most once
 *   per emitIntervalMs of nowMs. Results are keyed by (partition, windowStartMs); a later one
 *   supersedes an earlier one, and a final one is the last for its key.
 * - Offsets: `add()` and `skip()` (for records whose event failed validation) take the record's
 *   offset; `nextOffset` is the offset after the highest one seen (never moves backwards), i.e.
 *   where a restored worker resumes.
 * - Memory is bounded by the watermark: windows and dedup ids live only while their window is
 *   open (plus closed windows until the next collect). An event far in the future (as far as the
 *   validator's bound from its record timestamp allows) opens a window that holds until the
 *   watermark passes it; it is counted, and moves the watermark only up to its record timestamp
 *   plus maxAheadMs.
 *
 * Hot path: `add()` never throws on data. A non-finite eventTimeMs (the validator never passes
 * one) is treated like an invalid record.
 */
import { assignWindow } from "./assign-window.ts";
import type { CountableOrder } from "../event/order-event.ts";
import { FINGERPRINT, fingerprintOf } from "./fingerprint-set.ts";
import { type WindowResult, type WindowSnapshot, WindowAggregate } from "./window-aggregate.ts";

export const ADD_OUTCOMES = ["counted", "duplicate", "late", "invalid"] as const;
export type AddOutcome = (typeof ADD_OUTCOMES)[number];

/** Settings that change results: a checkpoint may only be restored under the same ones. */
export interface AggregatorSettings {
  windowSizeMs: number;
  watermarkDelayMs: number;
  maxDimensionValues: number;
  /** How far past its record's Kafka timestamp an event's time may move the watermark. */
  maxAheadMs: number;
}

export interface AggregatorOptions {
  /** Tumbling window length. Default 60_000. */
  windowSizeMs?: number;
  /** How far the watermark trails the largest counted event time. Default 120_000. */
  watermarkDelayMs?: number;
  /** Named keys per dimension per window before values go to "other". Default 50. */
  maxDimensionValues?: number;
  /** How far past its record's Kafka timestamp an event's time may move the watermark. Default 10_000. */
  maxAheadMs?: number;
  /** Minimum processing time between two emissions of the same open window. Default 1000. */
  emitIntervalMs?: number;
  /** Where the worker starts reading: nextOffset until a record is seen. Default 0n. */
  startOffset?: bigint;
}

export const DEFAULT_AGGREGATOR_SETTINGS: Readonly<AggregatorSettings> = {
  windowSizeMs: 60_000,
  watermarkDelayMs: 120_000,
  maxDimensionValues: 50,
  maxAheadMs: 10_000,
};
export const DEFAULT_EMIT_INTERVAL_MS = 1000;

export interface PartitionCounters {
  counted: number;
  duplicates: number;
  late: number;
  /** Records skipped because their event failed validation. */
  invalid: number;
}

export interface PartitionStats extends PartitionCounters {
  topic: string;
  partition: number;
  nextOffset: bigint;
  /** -Infinity until the first counted event (or idle advance). */
  watermarkMs: number;
  /** -Infinity until the first counted event. */
  maxEventTimeMs: number;
  openWindows: number;
}

export interface HeldState {
  ids: number;
  customers: number;
  bytes: number;
  /** Customer fingerprints added since this process made or restored the state. */
  customersAdded: number;
}

/** Everything needed to continue exactly where a partition left off (encoded by `lib/window/checkpoint.ts`). */
export interface PartitionSnapshot {
  topic: string;
  partition: number;
  nextOffset: bigint;
  watermarkMs: number;
  maxEventTimeMs: number;
  counters: PartitionCounters;
  /** Open windows and closed ones not yet collected, with their dedup ids. */
  windows: WindowSnapshot[];
}

export class PartitionAggregator {
  readonly settings: Readonly<AggregatorSettings>;
  readonly emitIntervalMs: number;
  private readonly windows = new Map<number, WindowAggregate>();
  /** The open windows (the values of `windows`), for the duplicate check on every event. */
  private open: WindowAggregate[] = [];
  /** Closed windows awaiting their final emission. */
  private closed: WindowAggregate[] = [];
  /** The window the last counted event went to (maybe closed since: check before use). */
  private lastWindow: WindowAggregate | undefined;
  /** Smallest end among open windows, so most events skip the closing scan. */
  private earliestOpenEndMs = Infinity;
  /**
   * A number, not a bigint like the offsets of the public API: compared on every record, and
   * exact below 2^53 (the record batch reader rejects anything beyond).
   */
  private lastOffset: number;
  private watermark = -Infinity;
  private maxEventTime = -Infinity;
  private readonly counters: PartitionCounters = { counted: 0, duplicates: 0, late: 0, invalid: 0 };
  /** Customers added to windows' sets by this process (not restored state): with the counted events, the state's growth. */
  private customersAdded = 0;

  /** Throws a RangeError naming the bad option. */
  constructor(
    readonly topic: string,
    readonly partition: number,
    options: AggregatorOptions = {},
  ) {
    const settings = {
      windowSizeMs: options.windowSizeMs ?? DEFAULT_AGGREGATOR_SETTINGS.windowSizeMs,
      watermarkDelayMs: options.watermarkDelayMs ?? DEFAULT_AGGREGATOR_SETTINGS.watermarkDelayMs,
      maxDimensionValues: options.maxDimensionValues ?? DEFAULT_AGGREGATOR_SETTINGS.maxDimensionValues,
      maxAheadMs: options.maxAheadMs ?? DEFAULT_AGGREGATOR_SETTINGS.maxAheadMs,
    };
    if (!Number.isSafeInteger(settings.windowSizeMs) || settings.windowSizeMs <= 0) {
      throw new RangeError(`window size must be a positive integer of ms: got ${settings.windowSizeMs}`);
    }
    if (!Number.isSafeInteger(settings.watermarkDelayMs) || settings.watermarkDelayMs < 0) {
      throw new RangeError(`watermark delay must be a non-negative integer of ms: got ${settings.watermarkDelayMs}`);
    }
    if (!Number.isSafeInteger(settings.maxDimensionValues) || settings.maxDimensionValues < 0) {
      throw new RangeError(`max dimension values must be a non-negative integer: got ${settings.maxDimensionValues}`);
    }
    if (!Number.isSafeInteger(settings.maxAheadMs) || settings.maxAheadMs < 0) {
      throw new RangeError(`max ahead must be a non-negative integer of ms: got ${settings.maxAheadMs}`);
    }
    const emitIntervalMs = options.emitIntervalMs ?? DEFAULT_EMIT_INTERVAL_MS;
    if (!(emitIntervalMs >= 0)) throw new RangeError(`emit interval must be a non-negative number of ms: got ${emitIntervalMs}`);
    const startOffset = options.startOffset ?? 0n;
    if (startOffset < 0n) throw new RangeError(`start offset must be >= 0: got ${startOffset}`);
    this.settings = Object.freeze(settings);
    this.emitIntervalMs = emitIntervalMs;
    if (startOffset > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`start offset must be below 2^53: got ${startOffset}`);
    this.lastOffset = Number(startOffset) - 1;
  }

  get watermarkMs(): number {
    return this.watermark;
  }

  get nextOffset(): bigint {
    return BigInt(this.lastOffset + 1);
  }

  /** Whether the record at `offset` was added or skipped already (a replay). */
  hasRead(offset: number): boolean {
    return offset <= this.lastOffset;
  }

  /**
   * Judge and maybe count one validated event read at `offset`. `recordTimestampMs` is its
   * record's Kafka timestamp (-1 or omitted: none), which caps how far it moves the watermark.
   */
  add(offset: bigint | number, event: CountableOrder, eventTimeMs: number, recordTimestampMs = -1): AddOutcome {
    const at = typeof offset === "bigint" ? Number(offset) : offset;
    if (at > this.lastOffset) this.lastOffset = at;
    if (!Number.isFinite(eventTimeMs)) {
      this.counters.invalid += 1;
      return "invalid";
    }
    fingerprintOf(event.event_id);
    const idA = FINGERPRINT[0]!;
    const idB = FINGERPRINT[1]!;
    const idC = FINGERPRINT[2]!;
    const open = this.open;
    for (let i = 0; i < open.length; i++) {
      if (open[i]!.eventIds.has(idA, idB, idC)) {
        this.counters.duplicates += 1;
        return "duplicate";
      }
    }
    const { windowSizeMs, watermarkDelayMs } = this.settings;
    const windowStartMs = assignWindow(eventTimeMs, windowSizeMs);
    const windowEndMs = windowStartMs + windowSizeMs;
    if (windowEndMs <= this.watermark) {
      this.counters.late += 1;
      return "late";
    }
    // Most events fall in the window of the event before them.
    let window = this.lastWindow !== undefined && this.lastWindow.windowStartMs === windowStartMs && !this.lastWindow.closed ? this.lastWindow : this.windows.get(windowStartMs);
    if (window === undefined) {
      window = new WindowAggregate(windowStartMs, windowEndMs, this.settings.maxDimensionValues);
      this.windows.set(windowStartMs, window);
      this.open.push(window);
      if (windowEndMs < this.earliestOpenEndMs) this.earliestOpenEndMs = windowEndMs;
    }
    const customersBefore = window.customers.size;
    window.addCounted(event, idA, idB, idC);
    this.customersAdded += window.customers.size - customersBefore;
    this.lastWindow = window;
    this.counters.counted += 1;
    if (eventTimeMs > this.maxEventTime) this.maxEventTime = eventTimeMs;
    const capMs = recordTimestampMs < 0 ? Infinity : recordTimestampMs + this.settings.maxAheadMs;
    this.raiseWatermark((eventTimeMs < capMs ? eventTimeMs : capMs) - watermarkDelayMs);
    return "counted";
  }

  /** Account for a record whose event failed validation, so nextOffset moves past it. */
  skip(offset: bigint | number): void {
    const at = typeof offset === "bigint" ? Number(offset) : offset;
    if (at > this.lastOffset) this.lastOffset = at;
    this.counters.invalid += 1;
  }

  /** The partition has been idle: let the watermark follow processing time. See the module comment. */
  advanceIdle(nowMs: number): void {
    this.raiseWatermark(nowMs - this.settings.watermarkDelayMs);
  }

  /** Results to emit now, ordered by windowStartMs; see the module comment for which. */
  collect(nowMs: number): WindowResult[] {
    const results: WindowResult[] = [];
    for (const window of this.closed) results.push(window.toResult(this.partition, true, nowMs));
    this.closed = [];
    for (const window of this.windows.values()) {
      if (!window.changedSinceEmit || nowMs - window.lastEmittedAtMs < this.emitIntervalMs) continue;
      results.push(window.toResult(this.partition, false, nowMs));
      window.changedSinceEmit = false;
      window.lastEmittedAtMs = nowMs;
    }
    return results.sort((a, b) => a.windowStartMs - b.windowStartMs);
  }

  stats(): PartitionStats {
    return {
      topic: this.topic,
      partition: this.partition,
      nextOffset: this.nextOffset,
      watermarkMs: this.watermark,
      maxEventTimeMs: this.maxEventTime,
      openWindows: this.windows.size,
      ...this.counters,
    };
  }

  /**
   * What the state holds in its windows: event ids (de-duplication), customers (distinct counts)
   * and the bytes of their fingerprint sets. Windows' totals and dimensions are not counted.
   */
  held(): HeldState {
    const held = { ids: 0, customers: 0, bytes: 0, customersAdded: this.customersAdded };
    for (const window of [...this.closed, ...this.windows.values()]) {
      held.ids += window.eventIds.size;
      held.customers += window.customers.size;
      held.bytes += window.eventIds.byteLength + window.customers.byteLength;
    }
    return held;
  }

  snapshot(): PartitionSnapshot {
    return {
      topic: this.topic,
      partition: this.partition,
      nextOffset: this.nextOffset,
      watermarkMs: this.watermark,
      maxEventTimeMs: this.maxEventTime,
      counters: { ...this.counters },
      windows: [...this.closed, ...this.windows.values()].map((w) => w.snapshot()),
    };
  }

  /**
   * Rebuild a partition's state; continuing it gives exactly what the snapshotted one would
   * have. `options` must carry the settings the snapshot was taken under (the checkpoint
   * decoder checks them); `startOffset` is ignored in favour of the snapshot's nextOffset.
   */
  static restore(snapshot: PartitionSnapshot, options: AggregatorOptions = {}): PartitionAggregator {
    const state = new PartitionAggregator(snapshot.topic, snapshot.partition, { ...options, startOffset: snapshot.nextOffset });
    state.watermark = snapshot.watermarkMs;
    state.maxEventTime = snapshot.maxEventTimeMs;
    Object.assign(state.counters, snapshot.counters);
    const { windowSizeMs, maxDimensionValues } = state.settings;
    for (const saved of snapshot.windows) {
      const window = WindowAggregate.restore(saved, windowSizeMs, maxDimensionValues);
      if (window.closed) {
        state.closed.push(window);
        continue;
      }
      state.windows.set(window.windowStartMs, window);
      state.open.push(window);
      if (window.windowEndMs < state.earliestOpenEndMs) state.earliestOpenEndMs = window.windowEndMs;
    }
    return state;
  }

  private raiseWatermark(candidateMs: number): void {
    if (!(candidateMs > this.watermark)) return;
    this.watermark = candidateMs;
    if (this.earliestOpenEndMs > candidateMs) return;
    let earliest = Infinity;
    for (const [start, window] of this.windows) {
      if (window.windowEndMs <= candidateMs) {
        window.closed = true;
        this.closed.push(window);
        this.windows.delete(start);
        // Dedup ids expire with their window: a later copy is late, never counted twice.
        window.expireIds();
      } else if (window.windowEndMs < earliest) {
        earliest = window.windowEndMs;
      }
    }
    this.earliestOpenEndMs = earliest;
    this.open = [...this.windows.values()];
  }
}
