/**
 * An idempotent Kafka producer for record sets that are already encoded (lib/kafka/record-batch.ts):
 * the order producer's hot path, where the generator thread writes Kafka records directly and the
 * sending thread only compresses them, stamps the producer id and sequence numbers, and sends.
 *
 * It uses @platformatic/kafka's client for everything but the records: the bootstrap and
 * metadata, the producer id (InitProducerId), the connections (with SASL and TLS) and the
 * request framing; it builds the Produce request body itself around the finished batches, at
 * the newest version each leader serves from v3 (Kafka 0.11, record batch v2) to v11
 * (lib/kafka/api-versions.ts). v9 and later are the flexible encoding; the body is otherwise
 * the same.
 *
 * Exactly-once into the log: each partition's batches carry consecutive sequence numbers from
 * the producer id the broker gave us, and a batch that failed is resent with the same bytes, so
 * the broker appends it once whether or not an earlier attempt got through (it answers a
 * repeat with DUPLICATE_SEQUENCE_NUMBER, which counts as success here). Sends are strictly one
 * after another — `send` must not be called again before the previous one settled — so a
 * partition's sequence never has a gap in flight.
 */
import {
  produceV3,
  produceV4,
  produceV5,
  produceV6,
  produceV7,
  produceV8,
  produceV9,
  produceV10,
  produceV11,
  protocolErrors,
  protocolErrorsCodesById,
  Writer,
} from "@platformatic/kafka";
import { negotiateVersion, UnsupportedBrokerError, type VersionRange } from "./api-versions.ts";
import { clientConnection, createProducer, type KafkaConnection, type OrderProducer } from "./client.ts";
import { type Compression, encodeRecordBatch, type RecordSetData } from "./record-batch.ts";

/** The records of one partition, ready to become one batch. */
export interface PartitionRecords extends RecordSetData {
  partition: number;
}

/** Batches with their sequence numbers fixed: sent, and if need be resent, exactly as they are. */
export interface PreparedSend {
  batches: { partition: number; count: number; bytes: Buffer }[];
  records: number;
}

const PRODUCE_API_KEY = 0;
/** The Produce versions this producer speaks: from v3, the first with record batch v2 and idempotence. */
export const PRODUCE_VERSIONS: VersionRange = { min: 3, max: 11 };
const NEEDS = "Produce v3 or later (Kafka 0.11 or later, or a compatible broker with record batch v2 and idempotent producers)";
/** The first Produce version that may carry zstd batches (KIP-110). */
const ZSTD_FROM = 7;
/** The first Produce version with the flexible encoding (compact strings and arrays, tagged fields). */
const FLEXIBLE_FROM = 9;
const DUPLICATE_SEQUENCE_NUMBER = 46;
/** Kafka's acks=all: the write is acknowledged once every in-sync replica has it. */
const ACKS_ALL = -1;

/** A partition's write failed in a way that resending cannot fix. */
export class ProduceRejectedError extends Error {
  override name = "ProduceRejectedError";
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly errorCode: number,
  ) {
    const name = errorName(errorCode);
    const hint = errorCode === 45 || errorCode === 59 || errorCode === 47
      ? "; the broker lost or fenced this producer's state (topic deleted or truncated?): restart the producer"
      : errorCode === 10 || errorCode === 18
      ? "; lower --batch or raise the topic's max.message.bytes"
      : "";
    super(`the broker rejected a batch for ${topic}[${partition}]: ${name} (error code ${errorCode})${hint}`);
  }
}

function errorName(errorCode: number): string {
  return protocolErrorsCodesById[errorCode as keyof typeof protocolErrorsCodesById] ?? `error code ${errorCode}`;
}

function canRetry(errorCode: number): boolean {
  const name = protocolErrorsCodesById[errorCode as keyof typeof protocolErrorsCodesById];
  return name !== undefined && (protocolErrors as Record<string, { canRetry: boolean }>)[name]?.canRetry === true;
}

interface PartitionResponse {
  index: number;
  errorCode: number;
}

const responseParsers = [produceV3, produceV4, produceV5, produceV6, produceV7, produceV8, produceV9, produceV10, produceV11].map((m) =>
  m.parseResponse as (...args: Parameters<typeof produceV9.parseResponse>) => ReturnType<typeof produceV9.parseResponse>
);

/** The client's Produce response parser of the response's version, keeping the response when some partitions failed. */
function parseProduceResponse(...args: Parameters<typeof produceV9.parseResponse>): { responses: { partitionResponses: PartitionResponse[] }[] } {
  try {
    return responseParsers[args[2] - PRODUCE_VERSIONS.min]!(...args);
  } catch (error) {
    const response = (error as { response?: unknown }).response;
    if (response) return response as { responses: { partitionResponses: PartitionResponse[] }[] };
    throw error;
  }
}

export interface BatchProducerOptions {
  topic: string;
  compression: Compression;
  /** Role appended to the client id. */
  role: string;
  /** How long the broker may take to acknowledge a request, ms. Default 30 000. */
  timeoutMs?: number;
  /**
   * The Produce versions to choose from (within v3-v11): each leader is sent the newest of them
   * it serves. Default all; narrowed by tests of older versions.
   */
  versions?: VersionRange;
}

export class BatchProducer {
  readonly #client: OrderProducer;
  readonly #options: Required<BatchProducerOptions>;
  readonly #sequences = new Map<number, number>();
  #producerId = -1n;
  #producerEpoch = -1;

  constructor(conn: KafkaConnection, options: BatchProducerOptions) {
    this.#client = createProducer(conn, { role: options.role, compression: "none", timeoutMs: options.timeoutMs });
    const versions = options.versions ?? PRODUCE_VERSIONS;
    if (versions.min < PRODUCE_VERSIONS.min || versions.max > PRODUCE_VERSIONS.max) {
      throw new RangeError(`Produce versions v${versions.min}-v${versions.max}: this producer speaks v${PRODUCE_VERSIONS.min}-v${PRODUCE_VERSIONS.max}`);
    }
    this.#options = { timeoutMs: 30_000, ...options, versions };
  }

  /** The topic's partition count; gets this producer's id from the broker on the first call. */
  async partitions(): Promise<number> {
    if (this.#producerEpoch < 0) {
      const info = await this.#client.initIdempotentProducer({});
      this.#producerId = info.producerId;
      this.#producerEpoch = info.producerEpoch;
    }
    const metadata = await this.#client.metadata({ topics: [this.#options.topic] });
    const count = metadata.topics.get(this.#options.topic)?.partitionsCount;
    if (!count) throw new Error(`topic ${this.#options.topic} has no partitions in the broker's metadata`);
    return count;
  }

  /**
   * Compresses each partition's records into a batch and gives it the partition's next sequence
   * numbers. Prepared sends must be sent in the order they were prepared.
   */
  prepare(sets: readonly PartitionRecords[]): PreparedSend {
    if (this.#producerEpoch < 0) throw new Error("BatchProducer.prepare before partitions(): the producer has no id yet");
    const batches: PreparedSend["batches"] = [];
    let records = 0;
    for (const set of sets) {
      if (set.count === 0) continue;
      const baseSequence = this.#sequences.get(set.partition) ?? 0;
      // Sequence numbers wrap at 2^31, as Kafka's do.
      this.#sequences.set(set.partition, (baseSequence + set.count) % 2 ** 31);
      const bytes = encodeRecordBatch(set, {
        compression: this.#options.compression,
        producerId: this.#producerId,
        producerEpoch: this.#producerEpoch,
        baseSequence,
      });
      batches.push({ partition: set.partition, count: set.count, bytes });
      records += set.count;
    }
    return { batches, records };
  }

  /**
   * Sends `prepared` and resolves once the broker has every batch. A failed attempt (broker
   * down, leader moving, timeout) is reported to `onError` and resent after a pause, with the
   * same bytes, until it succeeds or `giveUp()` says stop. A batch the broker rejects for good
   * rejects with {@link ProduceRejectedError}.
   */
  async send(prepared: PreparedSend, hooks: { onError: (error: unknown, attempt: number) => void; giveUp: () => boolean }): Promise<void> {
    let pending = prepared.batches;
    for (let attempt = 1; pending.length > 0; attempt++) {
      let failure: unknown;
      try {
        const reasons = new Map<number, string>();
        pending = await this.#sendOnce(pending, attempt > 1, reasons);
        if (pending.length > 0) {
          const which = pending.map((b) => `${this.#options.topic}[${b.partition}]: ${reasons.get(b.partition) ?? "not written"}`);
          failure = new Error(`not written yet, will resend: ${which.join(", ")}`);
        }
      } catch (error) {
        if (error instanceof ProduceRejectedError || error instanceof UnsupportedBrokerError) throw error;
        failure = error;
      }
      if (failure === undefined) return;
      hooks.onError(failure, attempt);
      if (hooks.giveUp()) throw failure;
      await Bun.sleep(Math.min(2_000, 100 * attempt));
    }
  }

  /** One round of requests, one per leader; returns the batches to try again. */
  async #sendOnce(batches: PreparedSend["batches"], refreshMetadata: boolean, reasons: Map<number, string>): Promise<PreparedSend["batches"]> {
    const topic = this.#options.topic;
    const metadata = await this.#client.metadata({ topics: [topic], forceUpdate: refreshMetadata });
    const partitions = metadata.topics.get(topic)?.partitions ?? [];
    const byLeader = new Map<number, PreparedSend["batches"]>();
    const retry: PreparedSend["batches"] = [];
    for (const batch of batches) {
      const leader = partitions[batch.partition]?.leader;
      if (leader === undefined || leader < 0) {
        reasons.set(batch.partition, "no leader known yet");
        retry.push(batch);
        continue;
      }
      let list = byLeader.get(leader);
      if (!list) byLeader.set(leader, (list = []));
      list.push(batch);
    }
    const results = await Promise.all([...byLeader].map(async ([leader, list]) => {
      const broker = metadata.brokers.get(leader);
      if (!broker) {
        for (const batch of list) reasons.set(batch.partition, `leader ${leader} not in the metadata`);
        return list;
      }
      const connection = await clientConnection(this.#client, broker);
      const version = await negotiateVersion(connection, PRODUCE_API_KEY, "Produce", this.#options.versions, NEEDS);
      if (this.#options.compression === "zstd" && version < ZSTD_FROM) {
        // The broker would answer UNSUPPORTED_COMPRESSION_TYPE for every batch.
        throw new UnsupportedBrokerError(
          `the broker at ${broker.host}:${broker.port} takes Produce up to v${version}; zstd batches need v${ZSTD_FROM} (Kafka 2.1 or later): use another compression (--compression lz4)`,
        );
      }
      const flexible = version >= FLEXIBLE_FROM;
      const response = await new Promise<ReturnType<typeof parseProduceResponse>>((resolve, reject) =>
        connection.send(
          PRODUCE_API_KEY,
          version,
          () => this.#request(list, flexible),
          parseProduceResponse as never,
          flexible,
          flexible,
          (error: Error | null, r: unknown) => (error ? reject(error) : resolve(r as ReturnType<typeof parseProduceResponse>)),
        )
      );
      const failed: PreparedSend["batches"] = [];
      const codes = new Map<number, number>();
      for (const t of response.responses) for (const p of t.partitionResponses) codes.set(p.index, p.errorCode);
      for (const batch of list) {
        const code = codes.get(batch.partition);
        if (code === 0 || code === DUPLICATE_SEQUENCE_NUMBER) continue;
        if (code !== undefined && !canRetry(code)) throw new ProduceRejectedError(topic, batch.partition, code);
        reasons.set(batch.partition, code === undefined ? "no answer for this partition" : errorName(code));
        failed.push(batch);
      }
      return failed;
    }));
    return [...retry, ...results.flat()];
  }

  /** A Produce request body: v3-v8 with int16/int32 lengths, v9 and later compact with tagged fields. */
  #request(batches: PreparedSend["batches"], flexible: boolean): Writer {
    const writer = Writer.create()
      .appendString(null, flexible) // transactional id
      .appendInt16(ACKS_ALL)
      .appendInt32(this.#options.timeoutMs)
      .appendArray([this.#options.topic], (w, topic) => {
        w.appendString(topic, flexible).appendArray(batches, (w, batch) => {
          w.appendInt32(batch.partition);
          if (flexible) w.appendUnsignedVarInt(batch.bytes.length + 1);
          else w.appendInt32(batch.bytes.length);
          w.append(batch.bytes);
        }, flexible, flexible);
      }, flexible, flexible);
    return flexible ? writer.appendTaggedFields() : writer;
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}
