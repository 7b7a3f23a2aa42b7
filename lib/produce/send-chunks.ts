/**
 * The producer's send loop: takes chunks from the generator thread in stream order and sends them,
 * one in flight at a time (a partition's sequence numbers must not have gaps in flight) while
 * the next one is prepared. Paced, a chunk goes out once the wall clock has caught up with its
 * last record's stream time; with `paced: false`, as fast as the sink takes them.
 *
 * A stop is bounded whatever the sink does: once `signal` aborts, the loop sends nothing more and
 * returns without waiting for the chunk in flight, and `settle(deadline)` waits for that chunk
 * only until the deadline. A send can hang for good (a broker that went away mid-request), so
 * nothing here may wait on one without a bound once a stop was asked for.
 */
import { describeError } from "../runtime/worker-runtime.ts";
import type { ChunkSink } from "./chunk-sink.ts";
import type { RecordFeed } from "./record-feed.ts";
import type { ProduceTally } from "./tally.ts";

export interface SendChunksOptions {
  feed: Pick<RecordFeed, "peek" | "next" | "done" | "ready">;
  sink: ChunkSink;
  tally: ProduceTally;
  paced: boolean;
  /** Stream time of the first record, ms since the epoch. */
  streamStartMs: number;
  /** performance.now() at which stream time `streamStartMs` is due. */
  t0: number;
  /** Stop after this much time from `t0`; `undefined`: no limit. */
  durationMs: number | undefined;
  /** Aborted when a stop is asked for (a signal): nothing more is sent, and `run()` returns at once. */
  signal: AbortSignal;
  log: (line: string) => void;
}

/** Why the loop ended: the feed ran out, `durationMs` passed, a stop was asked for, or a send failed for good. */
export type SendEnd = "end" | "duration" | "stopped" | "failed";

export class ChunkSender {
  /** Records handed to the sink and not yet acknowledged. */
  inFlightRecords = 0;
  #inFlight: Promise<void> = Promise.resolve();
  /** Set by `settle()` when its deadline passed: a late answer for the chunk in flight changes nothing. */
  #abandoned = false;
  readonly #stopped: Promise<void>;

  constructor(private readonly options: SendChunksOptions) {
    const { signal } = options;
    this.#stopped = signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  }

  /**
   * Sends until the feed ends, the duration passes, a stop is asked for or a send fails. The last
   * chunk may still be in flight when it returns: `settle()` waits for it.
   */
  async run(): Promise<SendEnd> {
    const { feed, sink, tally, paced, streamStartMs, t0, durationMs, signal, log } = this.options;
    let failed = false;
    let end: SendEnd = "end";
    for (;;) {
      if (signal.aborted) {
        end = "stopped";
        break;
      }
      if (failed) break;
      if (durationMs !== undefined && performance.now() - t0 >= durationMs) {
        end = "duration";
        break;
      }
      const next = feed.peek();
      if (next === undefined) {
        if (feed.done) break;
        await feed.ready();
        continue;
      }
      const dueInMs = paced ? next.lastEmittedMs - streamStartMs - (performance.now() - t0) : 0;
      if (dueInMs >= 1) {
        await Promise.race([Bun.sleep(Math.min(50, dueInMs)), this.#stopped]);
        continue;
      }
      const chunk = feed.next()!;
      const prepared = sink.prepare(chunk);
      // A stop while the previous chunk is still in flight must not wait for it (its broker may
      // never answer); this chunk is then never sent.
      await Promise.race([this.#inFlight, this.#stopped]);
      if (failed) break;
      if (signal.aborted) continue;
      this.inFlightRecords += chunk.records;
      this.#inFlight = sink
        .send(prepared)
        .then(
          () => {
            if (!this.#abandoned) tally.addChunk(chunk);
          },
          (error) => {
            if (this.#abandoned) return;
            tally.failed += chunk.records;
            failed = true;
            log(`giving up on ${chunk.records.toLocaleString("en-US")} records: ${describeError(error)}`);
          },
        )
        .finally(() => {
          if (!this.#abandoned) this.inFlightRecords -= chunk.records;
        });
    }
    return failed ? "failed" : end;
  }

  /**
   * Waits until the chunk in flight is acknowledged or given up on, or until `deadlineMs`
   * (performance.now() time), whichever comes first. Returns the records still not acknowledged
   * at that moment; they are counted as failed in the tally, and an answer that comes later is
   * ignored (the broker may still have appended them: not acknowledged is not known lost).
   */
  async settle(deadlineMs: number): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadlineMs - performance.now()))));
    await Promise.race([this.#inFlight, timedOut]);
    clearTimeout(timer);
    if (this.inFlightRecords === 0) return 0;
    const unacknowledged = this.inFlightRecords;
    this.#abandoned = true;
    this.options.tally.failed += unacknowledged;
    return unacknowledged;
  }
}
