/**
 * A {@link Forwarder} on a Kafka producer: records are batched (up to `maxBatch`, or every
 * `lingerMs`) and sent without blocking the caller; `flush()` sends what is buffered and
 * resolves once every record handed in so far is acknowledged, or rejects with the first error.
 */
import type { ForwardRecord, Forwarder } from "./aggregator-engine.ts";
import type { OrderProducer } from "./kafka.ts";

export class KafkaForwarder implements Forwarder {
  #buffer: ForwardRecord[] = [];
  #inFlight = new Set<Promise<unknown>>();
  #error: unknown;
  #timer: ReturnType<typeof setTimeout> | undefined;
  sent = 0;

  constructor(
    private readonly producer: OrderProducer,
    private readonly options: { maxBatch?: number; lingerMs?: number } = {},
  ) {}

  send(record: ForwardRecord): void {
    this.#buffer.push(record);
    if (this.#buffer.length >= (this.options.maxBatch ?? 1_000)) this.#sendBuffered();
    else this.#timer ??= setTimeout(() => this.#sendBuffered(), this.options.lingerMs ?? 50);
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
    this.#buffer = [];
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
    void promise.finally(() => this.#inFlight.delete(promise));
  }
}
