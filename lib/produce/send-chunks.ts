/**
 * The producer's send loop: takes chunks from the generator thread in stream order and sends them,
 * one in flight at a time (a partition's sequence numbers must not have gaps in flight) while
 * the next one is prepared. Paced, a chunk goes out once the wall clock has caught up with its
 * last record's stream time; with `paced: false`, as fast as the sink takes them.
 */
import { describeError } from "../runtime/worker-runtime.ts";
import type { ChunkSink } from "./chunk-sink.ts";
import type { RecordFeed } from "./record-feed.ts";
import type { ProduceTally } from "./tally.ts";

export interface SendChunksOptions {
  feed: RecordFeed;
  sink: ChunkSink;
  tally: ProduceTally;
  paced: boolean;
  /** Stream time of the first record, ms since the epoch. */
  streamStartMs: number;
  /** performance.now() at which stream time `streamStartMs` is due. */
  t0: number;
  /** Stop after this much time from `t0`; `undefined`: no limit. */
  durationMs: number | undefined;
  /** True once a stop was asked for (a signal). */
  stopping: () => boolean;
  log: (line: string) => void;
}

/** Why the loop ended: the feed ran out, `durationMs` passed, a stop was asked for, or a send failed for good. */
export type SendEnd = "end" | "duration" | "stopped" | "failed";

export class ChunkSender {
  /** Records handed to the sink and not yet acknowledged. */
  inFlightRecords = 0;
  #inFlight: Promise<void> = Promise.resolve();

  constructor(private readonly options: SendChunksOptions) {}

  /**
   * Sends until the feed ends, the duration passes, a stop is asked for or a send fails. The last
   * chunk may still be in flight when it returns: `settled()` waits for it.
   */
  async run(): Promise<SendEnd> {
    const { feed, sink, tally, paced, streamStartMs, t0, durationMs, stopping, log } = this.options;
    let failed = false;
    let end: SendEnd = "end";
    for (;;) {
      if (stopping()) {
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
        await Bun.sleep(Math.min(50, dueInMs));
        continue;
      }
      const chunk = feed.next()!;
      const prepared = sink.prepare(chunk);
      await this.#inFlight;
      if (failed) break;
      this.inFlightRecords += chunk.records;
      this.#inFlight = sink
        .send(prepared)
        .then(
          () => tally.addChunk(chunk),
          (error) => {
            tally.failed += chunk.records;
            failed = true;
            log(`giving up on ${chunk.records.toLocaleString("en-US")} records: ${describeError(error)}`);
          },
        )
        .finally(() => {
          this.inFlightRecords -= chunk.records;
        });
    }
    return failed ? "failed" : end;
  }

  /** Resolves once the chunk in flight is acknowledged or given up on. */
  settled(): Promise<void> {
    return this.#inFlight;
  }
}
