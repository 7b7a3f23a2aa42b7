/**
 * Runs the simulator on a `Worker` thread (workers/record-generator.ts) so that generating
 * records overlaps with sending them: the generator stays a few batches ahead, and the sending
 * thread takes records in stream order, one at a time, as the simulator would give them.
 */
import { type FedRecord, type RecordBatch, unpackRecords } from "../lib/record-batch.ts";
import type { SimulatorOptions } from "../lib/simulator.ts";

/** Thread messages, in both directions. */
export type ToGenerator =
  | { type: "start"; options: SimulatorOptions; batchSize: number; count: number | undefined; ahead: number; partitions: number | undefined }
  | { type: "more" };
export type FromGenerator =
  | { type: "batch"; batch: RecordBatch }
  | { type: "end" }
  | { type: "error"; message: string; range: boolean };

export interface RecordFeedOptions {
  /** Records per batch the generator hands over. */
  batchSize: number;
  /** Stop after this many records; `undefined` = never. */
  count: number | undefined;
  /** Batches generated ahead of the one being taken. Default 3. */
  ahead?: number;
  /** Assign each record the Kafka partition of its key among this many (at most 256). Default: none (-1). */
  partitions?: number;
}

export class RecordFeed {
  readonly #worker: Worker;
  readonly #queue: FedRecord[][] = [];
  #cursor = 0;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(options: SimulatorOptions, feed: RecordFeedOptions) {
    this.#worker = new Worker(new URL("./record-generator.ts", import.meta.url));
    this.#worker.onmessage = (event: MessageEvent<FromGenerator>) => {
      const message = event.data;
      switch (message.type) {
        case "batch":
          this.#queue.push(unpackRecords(message.batch));
          break;
        case "end":
          this.#ended = true;
          break;
        case "error":
          this.#error = message.range ? new RangeError(message.message) : new Error(message.message);
          break;
        default: {
          const unknown: never = message;
          throw new Error(`unknown generator message ${JSON.stringify(unknown)}`);
        }
      }
      this.#wake?.();
    };
    this.#worker.onerror = (event) => {
      this.#error = new Error(`record generator failed: ${event.message}`);
      this.#wake?.();
    };
    const start: ToGenerator = { type: "start", options, batchSize: feed.batchSize, count: feed.count, ahead: feed.ahead ?? 3, partitions: feed.partitions };
    this.#worker.postMessage(start);
  }

  /** The next record in stream order, or `undefined` when none is ready yet (see `ready()`). */
  next(): FedRecord | undefined {
    const head = this.#queue[0];
    if (head === undefined) return undefined;
    const record = head[this.#cursor++]!;
    if (this.#cursor === head.length) {
      this.#queue.shift();
      this.#cursor = 0;
      this.#worker.postMessage({ type: "more" } satisfies ToGenerator);
    }
    return record;
  }

  /** True once every record there will be has been taken. */
  get done(): boolean {
    return this.#ended && this.#queue.length === 0;
  }

  /** Resolves when a record is ready or the feed is done; rejects if the generator failed. */
  async ready(): Promise<void> {
    while (this.#queue.length === 0 && !this.#ended && this.#error === undefined) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
    if (this.#error !== undefined && this.#queue.length === 0) throw this.#error;
  }

  close(): void {
    this.#worker.terminate();
  }
}
