/**
 * The generator thread of workers/record-feed.ts: runs the simulator and posts its records in
 * order, packed per batch, staying at most `ahead` batches ahead of the ones taken.
 */
import { partitionForKey } from "../lib/partition.ts";
import { packRecords, transferablesOf } from "../lib/record-batch.ts";
import { type SimRecord, Simulator } from "../lib/simulator.ts";
import type { FromGenerator, ToGenerator } from "./record-feed.ts";

declare const self: Worker;

let sim: Simulator | undefined;
let batchSize = 0;
let remaining = Infinity;
let credits = 0;
let partitionOf: ((key: string) => number) | undefined;

const post = (message: FromGenerator, transfer: ArrayBuffer[] = []) => self.postMessage(message, transfer);

function pump(): void {
  while (sim !== undefined && credits > 0 && remaining > 0) {
    const n = Math.min(batchSize, remaining);
    const records = new Array<SimRecord>(n);
    for (let i = 0; i < n; i++) records[i] = sim.next();
    remaining -= n;
    credits--;
    const batch = packRecords(records, partitionOf);
    post({ type: "batch", batch }, transferablesOf(batch));
    if (remaining === 0) post({ type: "end" });
  }
}

self.onmessage = (event: MessageEvent<ToGenerator>) => {
  const message = event.data;
  switch (message.type) {
    case "start":
      try {
        sim = new Simulator(message.options);
      } catch (error) {
        post({ type: "error", message: error instanceof Error ? error.message : String(error), range: error instanceof RangeError });
        return;
      }
      batchSize = message.batchSize;
      remaining = message.count ?? Infinity;
      credits = message.ahead + 1;
      if (message.partitions !== undefined) {
        const partitions = message.partitions;
        // Customers come back, so most keys are hashed once per run.
        const cache = new Map<string, number>();
        partitionOf = (key) => {
          let partition = cache.get(key);
          if (partition === undefined) {
            // Kafka's Java partitioner, so that key → partition is the standard mapping.
            partition = partitionForKey(key, partitions);
            cache.set(key, partition);
          }
          return partition;
        };
      }
      if (remaining === 0) post({ type: "end" });
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
