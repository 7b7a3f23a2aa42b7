/**
 * The generator thread of lib/produce/record-feed.ts: runs the simulator and posts its records in
 * stream order as chunks (lib/produce/record-chunk.ts), already encoded as Kafka records per partition
 * or as JSON lines, staying at most `ahead` chunks ahead of the ones taken.
 */
import { ChunkBuilder } from "./record-chunk.ts";
import { Simulator } from "../event/simulator.ts";
import type { FromGenerator, GeneratorStart, ToGenerator } from "./record-feed.ts";

declare const self: Worker;

let sim: Simulator | undefined;
let builder: ChunkBuilder | undefined;
let start: GeneratorStart | undefined;
let remaining = Infinity;
let credits = 0;

const post = (message: FromGenerator, transfer: ArrayBuffer[] = []) => self.postMessage(message, transfer);

function pump(): void {
  while (sim !== undefined && builder !== undefined && start !== undefined && credits > 0 && remaining > 0) {
    const limit = Math.min(start.chunkRecords, remaining);
    const spanMs = start.chunkSpanMs;
    while (builder.records < limit) {
      const record = sim.next();
      // Its Kafka timestamp is the stream time it goes out at, which the aggregator judges created_at against.
      builder.add(record, record.emittedAtMs);
      // Paced streams go out chunk by chunk: a chunk covers at most spanMs of stream time.
      if (record.emittedAtMs - builder.firstEmittedMs >= spanMs) break;
    }
    remaining -= builder.records;
    credits--;
    const { chunk, transfer } = builder.take();
    post({ type: "chunk", chunk }, transfer);
    if (remaining === 0) post({ type: "end", cpuMs: cpuMs() });
  }
}

/** This thread's CPU time so far, ms. */
function cpuMs(): number {
  const usage = process.threadCpuUsage();
  return (usage.user + usage.system) / 1000;
}

self.onmessage = (event: MessageEvent<ToGenerator>) => {
  const message = event.data;
  switch (message.type) {
    case "start":
      try {
        sim = new Simulator(message.start.options);
        builder = new ChunkBuilder(message.start.mode);
      } catch (error) {
        post({ type: "error", message: error instanceof Error ? error.message : String(error), range: error instanceof RangeError });
        return;
      }
      start = message.start;
      remaining = start.count ?? Infinity;
      credits = start.ahead + 1;
      if (remaining === 0) post({ type: "end", cpuMs: cpuMs() });
      pump();
      break;
    case "more":
      credits++;
      pump();
      break;
    default: {
      const unknown: never = message;
      throw new Error(`unknown message ${JSON.stringify(unknown)}`);
    }
  }
};
