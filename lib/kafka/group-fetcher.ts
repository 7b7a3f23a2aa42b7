/**
 * Reading a topic as a member of a consumer group, with the caller in charge of positions.
 *
 * The group (joined through @platformatic/kafka's Consumer, which also heartbeats and rejoins on
 * rebalances) only decides which partitions this member owns. Each `fetchOnce()` asks the
 * partitions' leaders for records from exactly the offsets the caller passes — for the
 * aggregator, its checkpoints' next offsets — and hands every record to a callback
 * synchronously, batch by batch: no per-message promise, no stream buffer, and natural
 * backpressure (the next fetch starts when the caller asks for it).
 *
 * Fairness: every partition gets its own byte budget (`partitionMaxBytes`) in a request, and
 * the order of partitions rotates between requests, so a busy partition cannot starve the others.
 *
 * The Fetch requests are ours, sent on the consumer's connections: the client's own fetch turned
 * every record into objects and Buffers, a third of the aggregator's time. Here a partition's
 * records stay one byte range, read by lib/kafka/read-record-batches.ts (`fetchRanges()`);
 * `fetchOnce()` builds Buffers on top for callers that want them. Each leader is asked for the
 * Fetch versions it serves, and spoken to in the newest we share (lib/kafka/raw-fetch.ts: v4,
 * Kafka 0.11, to v17), even when brokers of one cluster differ during an upgrade; tested against
 * Kafka 3.3 to 4.1 (README: Kafka compatibility).
 *
 * What a round reports per partition: its high watermark and next position when the broker
 * served it; otherwise why not (`unread`: no leader known, or the broker's error code), so a
 * caller can tell "read to the end, nothing new" from "not read". Positions move past control
 * batches and aborted transactions' records (the next offset is not the last record's plus one).
 *
 * Bad bytes (see lib/kafka/read-record-batches.ts): a corrupt batch goes to `onCorruptBatch` and
 * is skipped, so it never stalls the partition nor the others; without that option it fails the
 * round with a CorruptBatchError. A log that cannot be framed on from some offset throws an
 * {@link UnreadablePartitionError} naming topic, partition and offset: no retry can pass it.
 */
import { compressionsAlgorithmsByBitmask, crc32c, protocolErrorsCodesById } from "@platformatic/kafka";
import { createRequire } from "node:module";
import { UnsupportedBrokerError, type VersionRange } from "./api-versions.ts";
import { clientConnection, type OrderConsumer } from "./client.ts";
import { decompressLz4Frame, type Lz4Output } from "./lz4-frame.ts";
import {
  type AbortedTransaction,
  type BatchRecordHandler,
  COMPRESSION_CODECS,
  type CorruptBatch,
  CorruptBatchError,
  nextOffsetAfter,
  readRecordBatches,
  UnreadableBatchError,
} from "./read-record-batches.ts";
import { type RawFetchPartition, rawFetch } from "./raw-fetch.ts";

/** Kafka error code OFFSET_OUT_OF_RANGE. */
const OFFSET_OUT_OF_RANGE = 1;

export interface FetchOptions {
  /** How long the broker may hold a request open while it has less than `minBytes`. Default 500 ms. */
  maxWaitMs?: number;
  /**
   * The broker answers once it has this many bytes for the request, or after `maxWaitMs`.
   * Default 1 (at once). On live traffic a larger value means fewer, fuller fetches: each request
   * has a fixed cost, and with 1 a worker keeping up with 20,000 events/s sent hundreds a second.
   */
  minBytes?: number;
  /** Byte budget per request. Default 4 MiB. */
  maxBytes?: number;
  /**
   * Byte budget per partition per request. Default 256 KiB. The budget counts compressed bytes:
   * a burst of highly compressible values (lz4 reaches 255:1) turned a 2 MiB budget into GBs of
   * records per fetch for `fetchOnce`, which copies every record.
   */
  partitionMaxBytes?: number;
  /**
   * Send the next request as soon as a response arrives, for the positions that response leads
   * to, so the broker reads while this process decodes. Used only if the caller then asks for
   * exactly those positions; otherwise dropped. Default true.
   */
  prefetch?: boolean;
  /**
   * Check every record batch's CRC-32C (native, @node-rs/crc32 through the client). Default
   * true: it costs about 1 % of the aggregator's CPU, and a corrupt batch is then found (see
   * `onCorruptBatch`) instead of feeding bad bytes on. The client's own decoding never checked it.
   */
  verifyCrc?: boolean;
  /**
   * A corrupt batch (CRC mismatch, message format v0/v1, codec 5-7, records that do not
   * decompress or do not fit; lib/kafka/read-record-batches.ts) of `partition`: reported here,
   * synchronously during delivery, and skipped — the partition's next position is past it, and
   * the round goes on. The batch's bytes are valid only during the call. Default: none, and a
   * corrupt batch fails the round with an Error (its cause a CorruptBatchError) naming topic,
   * partition and offset, every time it is fetched again.
   */
  onCorruptBatch?: (partition: number, batch: CorruptBatch) => void;
  /**
   * The Fetch versions to choose from (within lib/kafka/raw-fetch.ts's v4-v17): each leader is
   * spoken to in the newest of them it serves. Default all; narrowed by tests of older versions.
   */
  versions?: VersionRange;
  /**
   * A stop: once aborted, a round in flight throws the signal's reason at once, without waiting
   * for its responses (a broker that is away keeps a round in the client's metadata retries for
   * seconds), and no further round is sent. Its responses, should they come, are dropped.
   */
  signal?: AbortSignal;
}

/** Returning `false` stops the fetch's delivery after this record (see `fetchOnce`). */
export type RecordHandler = (partition: number, offset: bigint, key: Buffer | null, value: Buffer | null) => void | boolean;

/**
 * One record as byte ranges of `data` (see lib/kafka/read-record-batches.ts): valid only during the
 * call; a null key or value has start and end -1. The offset is a number (exact below 2^53).
 */
export type RecordRangeHandler = (partition: number, ...record: Parameters<BatchRecordHandler>) => void | boolean;

export interface FetchResult {
  /** Records handed to the callback. */
  records: number;
  /** Per partition: the offset to fetch next (past every batch returned, control batches included). */
  nextPositions: Map<number, bigint>;
  /** Per partition: the log end (high watermark) the broker reported. */
  highWatermarks: Map<number, bigint>;
  /**
   * Per partition asked for that the broker did not serve this round, and why: no leader (left
   * out of the request), a leader that did not answer, or the error code the leader answered with
   * for it (e.g. "NOT_LEADER_OR_FOLLOWER (6)"). Such a partition keeps its position and has no
   * high watermark here: it was not read, which is not the same as having nothing new. (A
   * partition not reached because the handler stopped the delivery is in none of the maps.)
   */
  unread: Map<number, string>;
}

/** The partition's committed position lies outside the log (retention removed it, or the topic was recreated). */
export class OffsetOutOfRangeError extends Error {
  override name = "OffsetOutOfRangeError";
  readonly code = "OFFSET_OUT_OF_RANGE";
  constructor(
    readonly partition: number,
    readonly offset: bigint,
  ) {
    super(`partition ${partition}: offset ${offset} is no longer (or not yet) in the log`);
  }
}

/**
 * A partition's log cannot be read on from `offset` (an offset at or beyond 2^53, or bytes that
 * do not frame a batch: lib/kafka/read-record-batches.ts's UnreadableBatchError, the cause).
 * Fetching it again returns the same bytes, so retrying cannot help.
 */
export class UnreadablePartitionError extends Error {
  override name = "UnreadablePartitionError";
  readonly code = "UNREADABLE_PARTITION";
  constructor(
    readonly topic: string,
    readonly partition: number,
    /** The offset the unreadable batch claims. */
    readonly offset: bigint,
    cause: UnreadableBatchError,
  ) {
    super(`${topic}/${partition}: ${cause.message}`, { cause });
  }
}

export class GroupFetcher {
  #rotation = 0;
  /** The request already sent for where the last response leaves every partition; see `fetchRanges()`. */
  #prefetched: { positions: Map<number, bigint>; responses: Promise<FetchRound> } | undefined;

  constructor(
    private readonly consumer: OrderConsumer,
    readonly topic: string,
    private readonly options: FetchOptions = {},
  ) {}

  /** Subscribes to the topic and joins the group; resolves once the first assignment is known. */
  async join(group: { sessionTimeoutMs: number; heartbeatIntervalMs: number; rebalanceTimeoutMs?: number }): Promise<void> {
    this.consumer.topics.trackAll(this.topic);
    await this.consumer.joinGroup({
      sessionTimeout: group.sessionTimeoutMs,
      heartbeatInterval: group.heartbeatIntervalMs,
      rebalanceTimeout: group.rebalanceTimeoutMs ?? Math.max(group.sessionTimeoutMs, 10_000),
    });
  }

  /** The partitions of the topic the group currently assigns to this member, ascending. */
  assigned(): number[] {
    const assignment = this.consumer.assignments?.find((a) => a.topic === this.topic);
    return [...(assignment?.partitions ?? [])].sort((a, b) => a - b);
  }

  /**
   * One round of fetch requests (one per leader) for `positions`; every returned record at or
   * after its partition's position goes to `onRecord` in offset order, as a Buffer of its key and
   * value (copies: they may be kept), until `onRecord` returns false: then that partition's next
   * position is the record after it, and partitions not reached yet keep theirs (absent from
   * `nextPositions`). Throws {@link OffsetOutOfRangeError} when a position is outside its
   * partition's log.
   */
  fetchOnce(positions: ReadonlyMap<number, bigint>, onRecord: RecordHandler): Promise<FetchResult> {
    return this.fetchRanges(positions, (partition, offset, data, valueStart, valueEnd, keyStart, keyEnd) => {
      const key = keyStart < 0 ? null : Buffer.from(data.subarray(keyStart, keyEnd));
      const value = valueStart < 0 ? null : Buffer.from(data.subarray(valueStart, valueEnd));
      return onRecord(partition, BigInt(offset), key, value);
    });
  }

  /**
   * {@link fetchOnce} without a Buffer per record: each record is handed over as byte ranges of
   * the response (lib/kafka/read-record-batches.ts). The hot path of the aggregator.
   *
   * The Fetch request (lib/kafka/raw-fetch.ts: sessionless, at the newest version each leader
   * serves, v4 to v17) goes out on the consumer's own connection to the leader; only the
   * response parsing is ours, so each partition's records stay one byte range. A leader that
   * serves no Fetch version from v4 on fails the round with an UnsupportedBrokerError.
   */
  async fetchRanges(positions: ReadonlyMap<number, bigint>, onRecord: RecordRangeHandler): Promise<FetchResult> {
    if (positions.size === 0) return { records: 0, nextPositions: new Map(), highWatermarks: new Map(), unread: new Map() };
    const signal = this.options.signal;
    signal?.throwIfAborted();
    const prefetched = this.#prefetched;
    this.#prefetched = undefined;
    const pending = prefetched && samePositions(prefetched.positions, positions) ? prefetched.responses : this.#request(positions);
    const round = await (signal ? untilAborted(pending, signal) : pending);
    if (this.options.prefetch !== false && !signal?.aborted) {
      const next = nextPositionsOf(round.responses, positions);
      if (next) {
        const request = this.#request(next);
        request.catch(() => {}); // a failure surfaces when (and if) the prefetch is used
        this.#prefetched = { positions: next, responses: request };
        // The request reaches the socket a few promise steps later (the cached metadata, the
        // leader's connection): one turn of the event loop puts it on the wire before this
        // round's records take the thread. Delivered first, it went out only after them, and the
        // broker answered while nothing else could run: the lake writer (4 MiB rounds then)
        // waited 0.8 s per 2,000,000 records for responses it had asked for ahead.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    return this.#deliver(round, positions, onRecord);
  }

  /**
   * One round of requests, one per leader, for `positions`. A partition without a leader is left
   * out, and a leader that cannot be reached fails only its own partitions: both are reported in
   * `unserved`, and the other leaders' partitions are read as usual. Throws only when no leader
   * could be asked at all (the cluster is away), or the metadata cannot be had.
   */
  async #request(positions: ReadonlyMap<number, bigint>): Promise<FetchRound> {
    const metadata = await this.#leaders();

    const partitions = [...positions.keys()];
    const shift = this.#rotation++ % partitions.length;
    const rotated = [...partitions.slice(shift), ...partitions.slice(0, shift)];
    const byLeader = new Map<number, number[]>();
    const unserved = new Map<number, string>();
    for (const partition of rotated) {
      const leader = metadata.leaders[partition] ?? -1;
      if (leader < 0) {
        // Leaderless for now (its broker down, an election under way): asked again next round.
        unserved.set(partition, `no leader${metadata.why.has(partition) ? ` (${metadata.why.get(partition)})` : ""}`);
        continue;
      }
      let list = byLeader.get(leader);
      if (!list) byLeader.set(leader, (list = []));
      list.push(partition);
    }

    const partitionMaxBytes = this.options.partitionMaxBytes ?? 256 * 1024;
    const requests = [...byLeader].map(async ([node, list]) => {
      const broker = metadata.brokers.get(node);
      if (!broker) throw new Error(`no address for broker ${node} in the metadata`);
      const connection = await clientConnection(this.consumer, broker);
      return rawFetch(connection, {
        maxWaitMs: this.options.maxWaitMs ?? 500,
        minBytes: this.options.minBytes ?? 1,
        maxBytes: this.options.maxBytes ?? 4 * 1024 * 1024,
        topic: this.topic,
        topicId: metadata.topicId,
        partitions: list.map((partition) => ({ partition, fetchOffset: positions.get(partition)!, partitionMaxBytes })),
      }, this.options.versions);
    });
    const settled = await Promise.allSettled(requests);
    const responses: RawFetchPartition[][] = [];
    const lists = [...byLeader.values()];
    let failure: unknown;
    settled.forEach((outcome, i) => {
      if (outcome.status === "fulfilled") return void responses.push(outcome.value);
      // A broker too old for any Fetch version we speak stays so: no point in asking it again.
      if (outcome.reason instanceof UnsupportedBrokerError) throw outcome.reason;
      failure ??= outcome.reason;
      for (const partition of lists[i]!) unserved.set(partition, `its leader did not answer: ${(outcome.reason as Error)?.message ?? outcome.reason}`);
    });
    if (failure !== undefined) {
      this.consumer.clearMetadata(); // a broker gone or moved: ask again next round
      if (responses.length === 0 && byLeader.size > 0) throw failure;
    }
    return { responses, unserved };
  }

  /**
   * The topic's id, each partition's leader (-1 for none) and the brokers' addresses. The
   * client's metadata call fails as a whole when one partition has no leader (its broker down):
   * then the partial answer it carries is used, the leaderless partitions marked so, and the
   * others are read on. Other failures (the cluster away) are retried by the client, then thrown.
   */
  async #leaders(): Promise<TopicLeaders> {
    let metadata;
    try {
      metadata = await this.consumer.metadata({ topics: [this.topic], retries: 0 });
    } catch (error) {
      const partial = partialMetadata(error, this.topic);
      if (partial) return partial;
      metadata = await this.consumer.metadata({ topics: [this.topic] });
    }
    const topicMetadata = metadata.topics.get(this.topic);
    if (!topicMetadata) throw new Error(`topic ${this.topic} has no metadata; does it exist?`);
    return { topicId: topicMetadata.id, leaders: topicMetadata.partitions.map((p) => p?.leader ?? -1), why: new Map(), brokers: metadata.brokers };
  }

  /** The records of a round's responses to `onRecord`, and where each partition goes next. */
  #deliver({ responses, unserved }: FetchRound, positions: ReadonlyMap<number, bigint>, onRecord: RecordRangeHandler): FetchResult {
    const result: FetchResult = { records: 0, nextPositions: new Map(), highWatermarks: new Map(), unread: new Map() };
    for (const [partition, why] of unserved) if (positions.has(partition)) result.unread.set(partition, why);
    const onCorruptBatch = this.options.onCorruptBatch;
    let partition = -1;
    const readOptions = {
      decompress,
      ...(this.options.verifyCrc === false ? {} : { crc32c: crc32cOf }),
      ...(onCorruptBatch ? { onCorruptBatch: (batch: CorruptBatch) => onCorruptBatch(partition, batch) } : {}),
      abortedTransactions: null as AbortedTransaction[] | null,
    };
    for (const response of responses) {
      for (const p of response) {
        partition = p.partition;
        const from = positions.get(partition);
        if (from === undefined) continue;
        if (p.errorCode === OFFSET_OUT_OF_RANGE) throw new OffsetOutOfRangeError(partition, from);
        if (p.errorCode !== 0) {
          // Not served (leader moving, partition unknown to this broker, its log failing, ...):
          // fetched again next round, from fresh metadata; meanwhile reported as not read.
          result.unread.set(partition, `${protocolErrorsCodesById[p.errorCode] ?? "error"} (${p.errorCode})`);
          this.consumer.clearMetadata();
          continue;
        }
        result.highWatermarks.set(partition, p.highWatermark);
        let next = from;
        if (p.records) {
          readOptions.abortedTransactions = p.abortedTransactions;
          let read;
          try {
            read = readRecordBatches(
              p.records,
              Number(from),
              (offset, data, valueStart, valueEnd, keyStart, keyEnd, timestampMs, headersStart, headersEnd) =>
                onRecord(p.partition, offset, data, valueStart, valueEnd, keyStart, keyEnd, timestampMs, headersStart, headersEnd),
              readOptions,
            );
          } catch (error) {
            if (error instanceof UnreadableBatchError) throw new UnreadablePartitionError(this.topic, partition, error.offset, error);
            const what = error instanceof CorruptBatchError ? `${error.message}; records at offsets ${error.firstOffset}-${error.lastOffset} are not read` : (error as Error).message;
            throw new Error(`${this.topic}/${partition} from offset ${from}: ${what}`, { cause: error });
          }
          result.records += read.records;
          if (read.nextOffset > Number(from)) next = BigInt(read.nextOffset);
          if (read.stopped) {
            // The handler asked to stop: this partition resumes after the record it stopped at;
            // the partitions not reached keep their positions (absent from nextPositions).
            result.nextPositions.set(partition, next);
            return result;
          }
        }
        result.nextPositions.set(partition, next);
      }
    }
    for (const partition of positions.keys()) {
      if (!result.highWatermarks.has(partition) && !result.unread.has(partition)) result.unread.set(partition, "not in the broker's answer");
    }
    return result;
  }
}

/** What one round of requests brought back: the leaders' answers, and the partitions no leader was asked for (and why). */
interface FetchRound {
  responses: RawFetchPartition[][];
  unserved: Map<number, string>;
}

interface TopicLeaders {
  topicId: string;
  /** Per partition, its leader's node id; -1 for none. */
  leaders: number[];
  /** Why a partition has no leader, when the metadata said (an error code's name). */
  why: Map<number, string>;
  brokers: Map<number, { host: string; port: number }>;
}

/**
 * The answer inside a metadata error whose only errors are some partitions' (no leader, an
 * election under way, a replica away): the topic's id, leaders with -1 for those partitions, and
 * the brokers. Undefined for any other error.
 */
function partialMetadata(error: unknown, topic: string): TopicLeaders | undefined {
  const response = findMetadataResponse(error, 0);
  const t = response?.topics.find((x) => x.name === topic);
  if (!response || !t || t.errorCode !== 0) return undefined;
  const leaders: number[] = [];
  const why = new Map<number, string>();
  for (const p of t.partitions) {
    leaders[p.partitionIndex] = p.errorCode === 0 ? p.leaderId : -1;
    if (p.errorCode !== 0) why.set(p.partitionIndex, `${protocolErrorsCodesById[p.errorCode] ?? "error"} (${p.errorCode})`);
  }
  return { topicId: t.topicId, leaders, why, brokers: new Map(response.brokers.map((b) => [b.nodeId, { host: b.host, port: b.port }])) };
}

interface RawMetadataResponse {
  brokers: { nodeId: number; host: string; port: number }[];
  topics: { errorCode: number; name: string; topicId: string; partitions: { errorCode: number; partitionIndex: number; leaderId: number }[] }[];
}

/** The Metadata response a client error carries (a ResponseError's `response`), searched through its `errors` and causes. */
function findMetadataResponse(error: unknown, depth: number): RawMetadataResponse | undefined {
  if (depth > 4 || typeof error !== "object" || error === null) return undefined;
  const response = (error as { response?: Partial<RawMetadataResponse> }).response;
  if (response && Array.isArray(response.topics) && Array.isArray(response.brokers)) return response as RawMetadataResponse;
  for (const inner of (error as { errors?: unknown[] }).errors ?? []) {
    const found = findMetadataResponse(inner, depth + 1);
    if (found) return found;
  }
  return findMetadataResponse((error as { cause?: unknown }).cause, depth + 1);
}

/**
 * Where `positions` stand once `responses` are delivered (what `#deliver` reports as nextPositions,
 * from the batch headers alone), or undefined when a partition reported an error: then the next
 * positions are not known before delivery.
 */
function nextPositionsOf(responses: readonly RawFetchPartition[][], positions: ReadonlyMap<number, bigint>): Map<number, bigint> | undefined {
  const next = new Map(positions);
  for (const response of responses) {
    for (const p of response) {
      const from = positions.get(p.partition);
      if (from === undefined) continue;
      if (p.errorCode !== 0) return undefined;
      if (!p.records) continue;
      const after = nextOffsetAfter(p.records, Number(from));
      if (after > Number(from)) next.set(p.partition, BigInt(after));
    }
  }
  return next;
}

function samePositions(a: ReadonlyMap<number, bigint>, b: ReadonlyMap<number, bigint>): boolean {
  if (a.size !== b.size) return false;
  for (const [partition, offset] of a) if (b.get(partition) !== offset) return false;
  return true;
}

/** Where lz4 batches are decompressed, reused from batch to batch (read-record-batches' data contract allows it). */
const lz4Output: Lz4Output = { buffer: new Uint8Array(1 << 20), length: 0 };

/**
 * A batch's records decompressed: lz4 (the producer's codec) by lib/kafka/lz4-frame.ts into a reused
 * buffer, so the result is valid until the next call; snappy (WASM), gzip and zstd (node:zlib,
 * native in Bun) by the Kafka client's decompressors.
 */
export function decompress(codec: Exclude<(typeof COMPRESSION_CODECS)[number], "none">, compressed: Uint8Array): Uint8Array {
  if (codec === "lz4") {
    decompressLz4Frame(compressed, lz4Output);
    return lz4Output.buffer.subarray(0, lz4Output.length);
  }
  const algorithm = compressionsAlgorithmsByBitmask[COMPRESSION_CODECS.indexOf(codec)];
  if (!algorithm) throw new Error(`no ${codec} decompression in the Kafka client`);
  return algorithm.decompressSync(Buffer.from(compressed.buffer, compressed.byteOffset, compressed.byteLength));
}

/**
 * CRC-32C: @node-rs/crc32 (native) on a view of the bytes, resolved where the Kafka client finds
 * it (its optional dependency); else the client's crc32c. Called directly because the client's
 * wrapper copies every batch into a new Uint8Array before hashing it.
 */
export const crc32cOf: (bytes: Uint8Array) => number = (() => {
  try {
    const native = createRequire(import.meta.resolve("@platformatic/kafka"))("@node-rs/crc32") as { crc32c(input: Buffer): number };
    return (bytes: Uint8Array) => native.crc32c(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch {
    return (bytes: Uint8Array) => crc32c(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
})();

/** `promise`, or a rejection with `signal`'s reason as soon as it aborts (`promise` is then left to settle unheard). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
