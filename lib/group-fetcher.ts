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
 */
import type { OrderConsumer } from "./kafka.ts";

/** Kafka's batch attribute bit for control batches (transaction markers): not data. */
const IS_CONTROL_BATCH = 1 << 5;
/** Kafka error code OFFSET_OUT_OF_RANGE. */
const OFFSET_OUT_OF_RANGE = 1;

export interface FetchOptions {
  /** How long the broker may hold a request open when there is no data. Default 500 ms. */
  maxWaitMs?: number;
  /** Byte budget per request. Default 4 MiB. */
  maxBytes?: number;
  /**
   * Byte budget per partition per request. Default 256 KiB. The budget counts compressed bytes,
   * and the client decodes a whole response at once: a burst of highly compressible values
   * (lz4 reaches 255:1) turned the former 2 MiB budget into GBs of decoded records per fetch.
   */
  partitionMaxBytes?: number;
}

/**
 * Called for each record in offset order. Returning `false` stops the round after this record:
 * the rest of the response is dropped and fetched again next round (the caller's way to apply
 * backpressure in the middle of a large, highly compressed response).
 */
export type RecordHandler = (partition: number, offset: bigint, key: Buffer | null, value: Buffer | null) => void | boolean;

export interface FetchResult {
  /** Records handed to the callback. */
  records: number;
  /** Per partition: the offset to fetch next (past every batch returned, control batches included). */
  nextPositions: Map<number, bigint>;
  /** Per partition: the log end (high watermark) the broker reported. */
  highWatermarks: Map<number, bigint>;
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

export class GroupFetcher {
  #rotation = 0;

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
   * after its partition's position goes to `onRecord` in offset order, until `onRecord` returns
   * false: then that partition's next position is the record after it, and partitions not
   * reached yet keep theirs (absent from `nextPositions`).
   * Throws {@link OffsetOutOfRangeError} when a position is outside its partition's log.
   */
  async fetchOnce(positions: ReadonlyMap<number, bigint>, onRecord: RecordHandler): Promise<FetchResult> {
    const result: FetchResult = { records: 0, nextPositions: new Map(), highWatermarks: new Map() };
    if (positions.size === 0) return result;
    const metadata = await this.consumer.metadata({ topics: [this.topic] });
    const topicMetadata = metadata.topics.get(this.topic);
    if (!topicMetadata) throw new Error(`topic ${this.topic} has no metadata; does it exist?`);

    const partitions = [...positions.keys()];
    const shift = this.#rotation++ % partitions.length;
    const rotated = [...partitions.slice(shift), ...partitions.slice(0, shift)];
    const byLeader = new Map<number, number[]>();
    for (const partition of rotated) {
      const leader = topicMetadata.partitions[partition]?.leader;
      if (leader === undefined || leader < 0) continue; // leaderless for now: try again next round
      let list = byLeader.get(leader);
      if (!list) byLeader.set(leader, (list = []));
      list.push(partition);
    }

    const responses = await Promise.all(
      [...byLeader].map(([node, list]) =>
        this.consumer.fetch({
          node,
          maxWaitTime: this.options.maxWaitMs ?? 500,
          minBytes: 1,
          maxBytes: this.options.maxBytes ?? 4 * 1024 * 1024,
          topics: [
            {
              topicId: topicMetadata.id,
              partitions: list.map((partition) => ({
                partition,
                fetchOffset: positions.get(partition)!,
                partitionMaxBytes: this.options.partitionMaxBytes ?? 256 * 1024,
                currentLeaderEpoch: -1,
                lastFetchedEpoch: -1,
              })),
            },
          ],
        }),
      ),
    );

    let stopped = false;
    for (const response of responses) {
      for (const topicResponse of response.responses) {
        for (const p of topicResponse.partitions) {
          if (stopped) break;
          const partition = p.partitionIndex;
          const from = positions.get(partition);
          if (from === undefined) continue;
          if (p.errorCode === OFFSET_OUT_OF_RANGE) throw new OffsetOutOfRangeError(partition, from);
          if (p.errorCode !== 0) continue; // transient (leader moving, ...): fetched again next round
          result.highWatermarks.set(partition, p.highWatermark);
          let next = from;
          batches: for (const batch of p.records ?? []) {
            const batchEnd = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
            if (batchEnd > next) next = batchEnd;
            if ((batch.attributes & IS_CONTROL_BATCH) !== 0) continue;
            for (const record of batch.records) {
              const offset = batch.firstOffset + BigInt(record.offsetDelta);
              // A batch may start before the requested offset; those records were read already.
              if (offset < from) continue;
              result.records += 1;
              if (onRecord(partition, offset, record.key, record.value) === false) {
                next = offset + 1n;
                stopped = true;
                break batches;
              }
            }
          }
          result.nextPositions.set(partition, next);
        }
      }
    }
    return result;
  }
}
