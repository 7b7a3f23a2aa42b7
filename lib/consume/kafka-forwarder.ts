/**
 * A {@link Forwarder} on a Kafka producer: records are batched (up to `maxBatch` records or
 * `maxBatchBytes`, or every `lingerMs`) and sent without blocking the caller; `flush()` sends
 * what is buffered and resolves once every record handed in so far is acknowledged, or rejects
 * with the first error.
 *
 * `send()` never blocks, so the caller must respect `congested()`: once more than
 * `maxPendingBytes` of values are buffered or unacknowledged, stop feeding records until
 * `room()` resolves. Without that, a burst of large invalid records (every one forwarded to the
 * DLQ) piles up in memory as fast as the worker can fetch it.
 */
import type { ForwardRecord, Forwarder } from "../window/aggregator-engine.ts";
import type { OrderProducer } from "../kafka/client.ts";

export class KafkaForwarder implements Forwarder {
  #buffer: ForwardRecord[] = [];
  #bufferBytes = 0;
  /** Bytes of values sent and not yet acknowledged. */
  #inFlightBytes = 0;
  #inFlight = new Set<Promise<unknown>>();
  #error: unknown;
  #timer: ReturnType<typeof setTimeout> | undefined;
  sent = 0;

  constructor(
    private readonly producer: OrderProducer,
    private readonly options: { maxBatch?: number; maxBatchBytes?: number; lingerMs?: number; maxPendingBytes?: number } = {},
  ) {}

  send(record: ForwardRecord): void {
    this.#buffer.push(record);
    this.#bufferBytes += record.value.byteLength;
    if (this.#buffer.length >= (this.options.maxBatch ?? 1_000) || this.#bufferBytes >= (this.options.maxBatchBytes ?? 4 * 1024 * 1024)) this.#sendBuffered();
    else this.#timer ??= setTimeout(() => this.#sendBuffered(), this.options.lingerMs ?? 50);
  }

  /** True while more than `maxPendingBytes` (default 32 MiB) of values wait to be acknowledged. */
  congested(): boolean {
    return this.#bufferBytes + this.#inFlightBytes > (this.options.maxPendingBytes ?? 32 * 1024 * 1024);
  }

  /** Resolves once the forwarder is no longer {@link congested}. */
  async room(): Promise<void> {
    this.#sendBuffered();
    while (this.congested() && this.#inFlight.size > 0) await Promise.race(this.#inFlight);
  }

  async flush(): Promise<void> {
    this.#sendBuffered();
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    if (this.#error !== undefined) {
      const error = this.#error;
      this.#error = undefined;
      throw new Error("forwarding records to Kafka failed", { cause: error });
    }
  }

  #sendBuffered(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#buffer.length === 0) return;
    const batch = this.#buffer;
    const bytes = this.#bufferBytes;
    this.#buffer = [];
    this.#bufferBytes = 0;
    this.#inFlightBytes += bytes;
    const messages = batch.map((r) => ({
      topic: r.topic,
      key: r.key === undefined || typeof r.key === "string" ? r.key : Buffer.from(r.key.buffer, r.key.byteOffset, r.key.byteLength),
      value: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength),
      headers: r.headers,
    }));
    const promise = this.producer.send({ messages }).then(
      () => {
        this.sent += batch.length;
      },
      (error: unknown) => {
        this.#error ??= error;
      },
    );
    this.#inFlight.add(promise);
    void promise.finally(() => {
      this.#inFlight.delete(promise);
      this.#inFlightBytes -= bytes;
    });
  }
}
