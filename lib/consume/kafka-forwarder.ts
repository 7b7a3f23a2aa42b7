/**
 * A {@link Forwarder} on a Kafka producer: records are batched (up to `maxBatch` records or
 * `maxBatchBytes` of values, or every `lingerMs`) and sent without blocking the caller.
 *
 * `flush()` sends what is buffered and resolves once every record handed in BEFORE the call is
 * acknowledged; records sent after it do not hold it back, so steady forwarding cannot keep a
 * checkpoint waiting. Once any send has failed, every later `flush()` rejects with that first
 * error: a record that was not forwarded must never be passed by a checkpoint.
 *
 * Topic limits. A topic takes record batches (one per partition per produce request, compressed
 * when compression is on) of at most its `max.message.bytes`, 1 MiB by default; a larger one is
 * refused with MESSAGE_TOO_LARGE, which would stop the worker, and its restart would replay the
 * same records into the same refusal. So each batch is split, at send time, into produce
 * requests whose records for each topic fit that topic's limit (all partitions of a topic counted
 * together, which bounds every partition's batch), with room for the batch header, each record's
 * largest framing and a codec's worst-case growth on incompressible bytes. The limit is learned
 * per topic through `maxMessageBytes` (the worker describes the topic's config on the broker:
 * the topic may have been made by someone else with any limit) once per process; while that
 * fails, Kafka's default of 1 MiB is assumed and it is asked again at the next batch. A limit
 * lowered while the worker runs fails one send, so the worker stops once, and its restart learns
 * the new limit.
 *
 * A forwarded record carries the source record's key, value (null stays null) and headers, then
 * the worker's own (`reason`, `detail`, `source-topic`, `source-partition`, `source-offset`...).
 * Source headers that cannot be read are left out, with the header `source-headers-unreadable`.
 *
 * A record that does not fit its topic's limit on its own is forwarded truncated rather than
 * dropped or retried forever: its value cut to what fits, with the headers `truncated` (the parts
 * cut, in this order: `value`; `headers` when even an empty value leaves no room for the source
 * record's headers, which are then left out; `key` when the key alone is still too large) and
 * `original-value-bytes` (`original-headers-bytes`, `original-key-bytes`) added to the worker's
 * own. Its `source-topic`, `source-partition` and `source-offset` headers still point at the whole
 * record in the source topic. Bad input never crashes the worker, never stalls it and never
 * vanishes.
 *
 * `send()` never blocks, so the caller must respect `congested()`: once more than
 * `maxPendingBytes` of values are buffered or unacknowledged, stop feeding records until
 * `room()` resolves. Without that, a burst of large invalid records (every one forwarded to the
 * DLQ) piles up in memory as fast as the worker can fetch it.
 */
import type { ForwardRecord, Forwarder } from "../window/aggregator-engine.ts";
import { KAFKA_DEFAULT_MAX_MESSAGE_BYTES } from "../kafka/client.ts";
import { readRecordHeaders } from "../kafka/read-record-batches.ts";

/** The settings the aggregator creates its DLQ and late topics with (see the module comment). */
export const FORWARD_TOPIC_CONFIG: Readonly<Record<string, string>> = {
  "cleanup.policy": "delete",
  // Room for whole forwarder batches (up to `maxBatchBytes`, 4 MiB) and for any record of a source
  // topic with the default 1 MiB limit, forwarded whole with its headers.
  "max.message.bytes": String(8 * 1024 * 1024),
  // Two weeks to look at, or replay, what was rejected or late.
  "retention.ms": String(14 * 86_400_000),
};

/** One message of a produce request, as the forwarder hands it to the producer. */
export interface ForwardMessage {
  topic: string;
  key: string | Buffer | undefined;
  /** undefined: no value (a tombstone). */
  value: Buffer | undefined;
  /** The source record's headers (a null value as undefined), then the worker's; keys may repeat. */
  headers: Map<string | Buffer, string | Buffer | undefined>;
}

/** The one producer call the forwarder makes; an `OrderProducer` (lib/kafka/client.ts) is one. */
export interface ForwardProducer {
  send(options: { messages: ForwardMessage[] }): Promise<unknown>;
}

export interface KafkaForwarderOptions {
  /** Records per batch before it is sent. Default 1 000. */
  maxBatch?: number;
  /** Bytes of values per batch before it is sent (then split to the topics' limits). Default 4 MiB. */
  maxBatchBytes?: number;
  /** Longest time a record waits in the buffer, in ms. Default 50. */
  lingerMs?: number;
  /** Bytes of values buffered or unacknowledged before {@link KafkaForwarder.congested}. Default 32 MiB. */
  maxPendingBytes?: number;
  /**
   * The topic's effective `max.message.bytes` (lib/kafka/client.ts' `topicMaxMessageBytes`).
   * Default: Kafka's default, 1 MiB, for every topic.
   */
  maxMessageBytes?: (topic: string) => Promise<number>;
}

/** Below this a topic cannot hold even a forwarded record's own headers; sends to it fail. */
const MIN_MAX_MESSAGE_BYTES = 4 * 1024;

/**
 * The most bytes of records one produce request may carry for a topic with this
 * `max.message.bytes`: the limit less the record batch's header and a compression frame's (1 KiB
 * covers both), less 1/64 for a codec's growth on incompressible bytes (lz4 at most 1/255, gzip
 * and zstd less, snappy's framing far less in practice).
 */
export function recordBudget(maxMessageBytes: number): number {
  return maxMessageBytes - 1024 - Math.ceil(maxMessageBytes / 64);
}

const utf8 = new TextEncoder();
/** A record's value bytes; a null value (a tombstone) has none. */
const valueBytes = (r: ForwardRecord) => (r.value === null ? 0 : r.value.byteLength);
const byteLength = (text: string) => Buffer.byteLength(text, "utf8");

/**
 * The most bytes a record adds to a record batch: its fields' varint lengths at their widest
 * (5 bytes, 10 for the timestamp delta), the attributes byte, key, value and headers (the source
 * record's, as their encoded section, and the worker's).
 */
export function recordBytes(key: Uint8Array | string | undefined, valueBytes: number, headers: Readonly<Record<string, string>>, sourceHeaderBytes = 0): number {
  let bytes = 5 + 1 + 10 + 5 + 5 + 5 + valueBytes + 5 + sourceHeaderBytes;
  if (key !== undefined) bytes += typeof key === "string" ? byteLength(key) : key.byteLength;
  for (const name in headers) bytes += 10 + byteLength(name) + byteLength(headers[name]!);
  return bytes;
}

/** {@link recordBytes} of a forward record. */
export function forwardRecordBytes(r: ForwardRecord): number {
  return recordBytes(r.key, valueBytes(r), r.headers, r.sourceHeaders?.byteLength ?? 0);
}

/**
 * `record` cut down to `budget` bytes of {@link recordBytes}, with headers saying what was cut
 * and how large it was (see the module comment): the value; then, while nothing fits, the source
 * record's headers; then the key, to half of what is left (the value gets the rest).
 */
export function truncateRecord(record: ForwardRecord, budget: number): ForwardRecord {
  const cut = ["value"];
  const headers: Record<string, string> = { ...record.headers, truncated: "", "original-value-bytes": String(valueBytes(record)) };
  let { key, sourceHeaders } = record;
  const fixedBytes = () => recordBytes(key, 0, { ...headers, truncated: cut.join(",") }, sourceHeaders?.byteLength ?? 0);
  if (sourceHeaders !== undefined && fixedBytes() > budget) {
    cut.push("headers");
    headers["original-headers-bytes"] = String(sourceHeaders.byteLength);
    sourceHeaders = undefined;
  }
  if (key !== undefined && fixedBytes() > budget) {
    const keyBytes = typeof key === "string" ? utf8.encode(key) : key;
    cut.push("key");
    headers["original-key-bytes"] = String(keyBytes.byteLength);
    key = undefined;
    const room = budget - fixedBytes(); // without the key
    key = keyBytes.subarray(0, Math.max(0, Math.floor(room / 2)));
  }
  headers.truncated = cut.join(",");
  const room = budget - recordBytes(key, 0, headers, sourceHeaders?.byteLength ?? 0);
  if (room < 0) throw new RangeError(`topic ${record.topic}: a limit of ${budget} bytes of records cannot hold a forwarded record's headers`);
  const truncated: ForwardRecord = { topic: record.topic, key, value: record.value === null ? null : record.value.subarray(0, room), headers };
  if (sourceHeaders !== undefined) truncated.sourceHeaders = sourceHeaders;
  return truncated;
}

/**
 * `records`, in order, split into produce requests whose records for each topic add up to at
 * most that topic's `budget` of {@link recordBytes}; a record over its budget on its own is
 * {@link truncateRecord truncated} to it.
 */
export function splitByBudget(records: readonly ForwardRecord[], budget: (topic: string) => number): ForwardRecord[][] {
  const requests: ForwardRecord[][] = [];
  let request: ForwardRecord[] = [];
  let used = new Map<string, number>();
  for (let record of records) {
    const limit = budget(record.topic);
    let bytes = forwardRecordBytes(record);
    if (bytes > limit) {
      record = truncateRecord(record, limit);
      bytes = forwardRecordBytes(record);
    }
    const before = used.get(record.topic) ?? 0;
    if (before > 0 && before + bytes > limit) {
      requests.push(request);
      request = [];
      used = new Map();
    }
    request.push(record);
    used.set(record.topic, (used.get(record.topic) ?? 0) + bytes);
  }
  if (request.length > 0) requests.push(request);
  return requests;
}

function toMessage(r: ForwardRecord): ForwardMessage {
  const headers: ForwardMessage["headers"] = new Map();
  if (r.sourceHeaders !== undefined) {
    try {
      for (const [key, value] of readRecordHeaders(r.sourceHeaders, 0, r.sourceHeaders.byteLength)) headers.set(bufferOf(key), value === null ? undefined : bufferOf(value));
    } catch {
      headers.clear();
      headers.set("source-headers-unreadable", "true");
    }
  }
  for (const name in r.headers) headers.set(name, r.headers[name]!);
  return {
    topic: r.topic,
    key: r.key === undefined || typeof r.key === "string" ? r.key : bufferOf(r.key),
    value: r.value === null ? undefined : bufferOf(r.value),
    headers,
  };
}

const bufferOf = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export class KafkaForwarder implements Forwarder {
  #buffer: ForwardRecord[] = [];
  #bufferBytes = 0;
  /** Bytes of values sent and not yet acknowledged. */
  #inFlightBytes = 0;
  /** One promise per batch handed to the producer, settled (never rejected) once it is acknowledged or failed. */
  #inFlight = new Set<Promise<void>>();
  /** Batches wait here for their topics' limits, one after another, so they are sent in order. */
  #ready: Promise<void> = Promise.resolve();
  #limits = new Map<string, number>();
  #error: unknown;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Records acknowledged by the broker. */
  sent = 0;

  constructor(
    private readonly producer: ForwardProducer,
    private readonly options: KafkaForwarderOptions = {},
  ) {}

  send(record: ForwardRecord): void {
    this.#buffer.push(record);
    this.#bufferBytes += valueBytes(record);
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

  /**
   * Resolves once every record handed to {@link send} before this call is acknowledged; rejects
   * if any send has failed (see the module comment).
   */
  async flush(): Promise<void> {
    this.#sendBuffered();
    // Every record handed in so far is in one of these batches (the buffer was just sent, and a
    // batch leaves the buffer whole); batches made after this call hold only later records.
    await Promise.all([...this.#inFlight]);
    if (this.#error !== undefined) throw new Error("forwarding records to Kafka failed", { cause: this.#error });
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
    const ready = this.#ready.then(() => this.#learnLimits(batch));
    this.#ready = ready;
    const promise = ready
      .then(() => {
        const budgets = (topic: string) => recordBudget(this.#limits.get(topic) ?? KAFKA_DEFAULT_MAX_MESSAGE_BYTES);
        // Sent together, in order: the producer pipelines them on its connections. The batch is
        // done once every request is answered, and failed if any was.
        return Promise.allSettled(
          splitByBudget(batch, budgets).map((records) =>
            this.producer.send({ messages: records.map(toMessage) }).then(() => {
              this.sent += records.length;
            }),
          ),
        ).then((outcomes) => {
          for (const outcome of outcomes) if (outcome.status === "rejected") throw outcome.reason;
        });
      })
      .then(
        () => {},
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

  /** Asks for the limit of each topic in `batch` not known yet; never rejects. */
  async #learnLimits(batch: readonly ForwardRecord[]): Promise<void> {
    const lookup = this.options.maxMessageBytes;
    if (!lookup) return;
    const unknown = new Set<string>();
    for (const r of batch) if (!this.#limits.has(r.topic)) unknown.add(r.topic);
    await Promise.all(
      [...unknown].map((topic) =>
        lookup(topic).then(
          (bytes) => {
            if (bytes < MIN_MAX_MESSAGE_BYTES) throw new RangeError(`topic ${topic}: max.message.bytes ${bytes} is below the ${MIN_MAX_MESSAGE_BYTES} a forwarded record's headers need`);
            this.#limits.set(topic, bytes);
          },
          () => {}, // Kafka's default meanwhile; asked again at the next batch
        ),
      ),
    ).catch((error: unknown) => {
      this.#error ??= error;
    });
  }
}
