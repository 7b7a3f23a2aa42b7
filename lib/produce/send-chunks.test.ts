import { expect, test } from "bun:test";
import type { ChunkSink } from "./chunk-sink.ts";
import type { RecordChunk } from "./record-chunk.ts";
import { ChunkSender } from "./send-chunks.ts";
import { KIND_FAULTS, ProduceTally } from "./tally.ts";

function chunk(records: number): RecordChunk {
  const counts = new Uint32Array(KIND_FAULTS.length);
  counts[0] = records;
  return { records, counts, firstEmittedMs: 0, lastEmittedMs: 0, sets: [], lines: null };
}

/** A feed of `chunks`, then done. */
function feedOf(chunks: RecordChunk[]) {
  return {
    peek: () => chunks[0],
    next: () => chunks.shift(),
    get done() {
      return chunks.length === 0;
    },
    ready: () => Promise.resolve(),
  };
}

/** A sink whose sends wait until `answer()` is called (a broker that does not answer until then). */
function heldSink() {
  const held: (() => void)[] = [];
  const sink: ChunkSink = {
    prepare: (c) => c,
    send: () => new Promise<void>((resolve) => held.push(resolve)),
    close: async () => {},
  };
  return { sink, sends: () => held.length, answer: () => held.splice(0).forEach((resolve) => resolve()) };
}

function sender(chunks: RecordChunk[], sink: ChunkSink, signal: AbortSignal, tally = new ProduceTally()) {
  return new ChunkSender({ feed: feedOf(chunks), sink, tally, paced: false, streamStartMs: 0, t0: performance.now(), durationMs: undefined, signal, log: () => {} });
}

test("ChunkSender.run() returns on a stop without waiting for the chunk in flight", async () => {
  const stop = new AbortController();
  const { sink, sends } = heldSink();
  const s = sender([chunk(5), chunk(7)], sink, stop.signal);
  const running = s.run();
  while (sends() === 0) await Bun.sleep(1);
  stop.abort();
  expect({ end: await running, sends: sends(), inFlight: s.inFlightRecords }).toEqual({ end: "stopped", sends: 1, inFlight: 5 });
});

test("ChunkSender.settle() gives up at its deadline and counts what is in flight as failed, once", async () => {
  const stop = new AbortController();
  const tally = new ProduceTally();
  const { sink, sends, answer } = heldSink();
  const s = sender([chunk(5)], sink, stop.signal, tally);
  const running = s.run();
  while (sends() === 0) await Bun.sleep(1);
  stop.abort();
  await running;
  const unacknowledged = await s.settle(performance.now() + 20);
  answer(); // an acknowledgement after the deadline changes nothing
  await Bun.sleep(1);
  expect({ unacknowledged, sent: tally.sent, failed: tally.failed }).toEqual({ unacknowledged: 5, sent: 0, failed: 5 });
});

test("ChunkSender.settle() returns 0 once the chunk in flight is acknowledged before the deadline", async () => {
  const tally = new ProduceTally();
  const { sink, sends, answer } = heldSink();
  const s = sender([chunk(5)], sink, new AbortController().signal, tally);
  const running = s.run();
  while (sends() === 0) await Bun.sleep(1);
  answer();
  expect(await running).toBe("end");
  expect({ unacknowledged: await s.settle(performance.now() + 10_000), sent: tally.sent, failed: tally.failed }).toEqual({ unacknowledged: 0, sent: 5, failed: 0 });
});
