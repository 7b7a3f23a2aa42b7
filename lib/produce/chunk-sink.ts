/**
 * Where the producer's chunks go: JSON lines on stdout, or record batches to Kafka through the
 * batch producer (lib/kafka/batch-producer.ts).
 */
import type { BatchProducer, PreparedSend } from "../kafka/batch-producer.ts";
import type { RecordChunk } from "./record-chunk.ts";

/**
 * `prepare` runs while the previous chunk may still be in flight; `send` resolves once every
 * record of the chunk is safely out. Chunks are sent one after another.
 */
export interface ChunkSink {
  prepare(chunk: RecordChunk): unknown;
  send(prepared: unknown): Promise<void>;
  close(): Promise<void>;
}

export class StdoutSink implements ChunkSink {
  prepare(chunk: RecordChunk): Uint8Array {
    return chunk.lines ?? new Uint8Array(0);
  }
  send(lines: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => process.stdout.write(lines, (error) => (error ? reject(error) : resolve())));
  }
  async close(): Promise<void> {}
}

export class KafkaSink implements ChunkSink {
  constructor(
    private readonly producer: BatchProducer,
    private readonly hooks: { onError: (error: unknown, attempt: number) => void; giveUp: () => boolean },
  ) {}
  prepare(chunk: RecordChunk): PreparedSend {
    return this.producer.prepare(chunk.sets);
  }
  send(prepared: PreparedSend): Promise<void> {
    return this.producer.send(prepared, this.hooks);
  }
  async close(): Promise<void> {
    await this.producer.close();
  }
}
