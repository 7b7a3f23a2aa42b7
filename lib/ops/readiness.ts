/**
 * Whether a consuming worker is ready: it owns partitions and makes progress. Pure: the worker
 * reports samples of its own counters (`observe`), `check` answers for a moment in time.
 *
 * Not ready when
 * - it owns no partitions (starting, between assignments, or one worker too many in its group);
 * - no fetch has answered for `stallMs` (the fetch loop is stuck, or paused because a sink does
 *   not take results: either way nothing moves);
 * - records are waiting (lag above 0) and none was processed for `stallMs`.
 * An idle topic is ready: its fetches answer with lag 0.
 */

export interface ProgressSample {
  /** Partitions the worker owns now. */
  assigned: number;
  /** Records processed since start; only grows. */
  processed: number;
  /** Records behind the partitions' ends at the last fetch answer, summed; null before one. */
  lag: number | null;
  /** When a fetch last answered (the clock of `observe`'s `nowMs`); null before one. */
  fetchedAtMs: number | null;
}

export type Readiness = { ready: true; reason: string } | { ready: false; reason: string };

export class ReadinessRule {
  readonly stallMs: number;
  #processed = 0;
  #progressAtMs: number;
  /** When the worker last went from no partitions to some. */
  #assignedAtMs: number;
  #last: ProgressSample = { assigned: 0, processed: 0, lag: null, fetchedAtMs: null };

  /** `startMs`: when the worker started (the clock `observe` and `check` use). */
  constructor(stallMs: number, startMs: number) {
    if (!(stallMs > 0)) throw new RangeError(`the stall time must be a positive number of ms: got ${stallMs}`);
    this.stallMs = stallMs;
    this.#progressAtMs = startMs;
    this.#assignedAtMs = startMs;
  }

  /** Takes a sample of the worker's counters at `nowMs`. */
  observe(sample: ProgressSample, nowMs: number): void {
    // Progress: a record processed, or nothing waiting (caught up is as good as moving).
    if (sample.processed !== this.#processed || sample.lag === 0) this.#progressAtMs = nowMs;
    if (sample.assigned > 0 && this.#last.assigned === 0) this.#assignedAtMs = nowMs;
    this.#processed = sample.processed;
    this.#last = sample;
  }

  check(nowMs: number): Readiness {
    const { assigned, lag, fetchedAtMs } = this.#last;
    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    if (assigned === 0) return { ready: false, reason: "no partitions assigned" };
    if (fetchedAtMs === null) {
      return nowMs - this.#assignedAtMs > this.stallMs
        ? { ready: false, reason: `no fetch answered in ${seconds(nowMs - this.#assignedAtMs)} since partitions were assigned` }
        : { ready: true, reason: `${assigned} partitions assigned, first fetch pending` };
    }
    if (nowMs - fetchedAtMs > this.stallMs) return { ready: false, reason: `no fetch answered for ${seconds(nowMs - fetchedAtMs)}` };
    const stalledMs = nowMs - this.#progressAtMs;
    if (lag !== null && lag > 0 && stalledMs > this.stallMs) {
      return { ready: false, reason: `${lag} records waiting and none processed for ${seconds(stalledMs)}` };
    }
    return { ready: true, reason: `${assigned} partitions assigned, lag ${lag ?? "unknown"}` };
  }
}

/** What lib/ops/worker-ops.ts serves at /readyz: a rule with its stall time. */
export interface ReadinessCheck {
  readonly stallMs: number;
  check(nowMs: number): Readiness;
}

/**
 * Readiness of a worker that shows its progress as one growing count (records acknowledged by
 * the broker, compaction passes finished): ready while the count moved within `stallMs`.
 */
export class ProgressRule implements ReadinessCheck {
  readonly stallMs: number;
  readonly #what: string;
  #count = 0;
  #movedAtMs: number;

  /** `what`: the unit of progress, for the reason, e.g. "record acknowledged". */
  constructor(stallMs: number, startMs: number, what: string) {
    if (!(stallMs > 0)) throw new RangeError(`the stall time must be a positive number of ms: got ${stallMs}`);
    this.stallMs = stallMs;
    this.#movedAtMs = startMs;
    this.#what = what;
  }

  observe(count: number, nowMs: number): void {
    if (count !== this.#count) this.#movedAtMs = nowMs;
    this.#count = count;
  }

  check(nowMs: number): Readiness {
    const quietMs = nowMs - this.#movedAtMs;
    return quietMs > this.stallMs
      ? { ready: false, reason: `no ${this.#what} for ${(quietMs / 1000).toFixed(1)} s` }
      : { ready: true, reason: `${this.#count} so far, the last ${(quietMs / 1000).toFixed(1)} s ago` };
  }
}
