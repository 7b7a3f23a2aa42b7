/**
 * Runs the simulator on a `Worker` thread (lib/produce/record-generator.ts) so that generating and
 * encoding records overlaps with sending them: the generator stays a few chunks ahead, and the
 * sending thread takes chunks in stream order.
 */
import type { ChunkMode, RecordChunk } from "./record-chunk.ts";
import type { SimulatorOptions } from "../event/simulator.ts";

export interface GeneratorStart {
  options: SimulatorOptions;
  mode: ChunkMode;
  /** Most records in a chunk. */
  chunkRecords: number;
  /** Most stream time a chunk covers, ms (Infinity: no limit). */
  chunkSpanMs: number;
  /** Stop after this many records; `undefined` = never. */
  count: number | undefined;
  /** Chunks generated ahead of the one being taken. */
  ahead: number;
}

/** Thread messages, in both directions. */
export type ToGenerator = { type: "start"; start: GeneratorStart } | { type: "more" };
export type FromGenerator =
  | { type: "chunk"; chunk: RecordChunk }
  | { type: "end"; cpuMs: number }
  | { type: "error"; message: string; range: boolean };

export class RecordFeed {
  readonly #worker: Worker;
  readonly #queue: RecordChunk[] = [];
  #ended = false;
  #generatorCpuMs: number | undefined;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(start: Omit<GeneratorStart, "ahead"> & { ahead?: number }) {
    this.#worker = new Worker(new URL("./record-generator.ts", import.meta.url));
    this.#worker.onmessage = (event: MessageEvent<FromGenerator>) => {
      const message = event.data;
      switch (message.type) {
        case "chunk":
          this.#queue.push(message.chunk);
          break;
        case "end":
          this.#ended = true;
          this.#generatorCpuMs = message.cpuMs;
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
    this.#worker.postMessage({ type: "start", start: { ahead: 3, ...start } } satisfies ToGenerator);
  }

  /** The next chunk in stream order, or `undefined` when none is ready yet (see `ready()`). */
  next(): RecordChunk | undefined {
    const chunk = this.#queue.shift();
    if (chunk !== undefined) this.#worker.postMessage({ type: "more" } satisfies ToGenerator);
    return chunk;
  }

  /** The next chunk without taking it. */
  peek(): RecordChunk | undefined {
    return this.#queue[0];
  }

  /** CPU time the generator thread used, ms, once it has generated its last record (with a count). */
  get generatorCpuMs(): number | undefined {
    return this.#generatorCpuMs;
  }

  /** True once every chunk there will be has been taken. */
  get done(): boolean {
    return this.#ended && this.#queue.length === 0;
  }

  /** Resolves when a chunk is ready or the feed is done; rejects if the generator failed. */
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
