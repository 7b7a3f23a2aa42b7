/**
 * One Fetch request, at the newest version both this code and the broker speak (v4 to v17), with
 * the response's records left as bytes.
 *
 * The request body is the Kafka client's own encoder for that version (fetchV4 … fetchV17); only
 * the response parsing is ours, one parser for every version, so each partition's records stay
 * one byte range for lib/kafka/read-record-batches.ts instead of becoming objects and Buffers.
 *
 * Versions (Kafka's FetchRequest.json / FetchResponse.json): v4 (Kafka 0.11) brings the
 * isolation level, last stable offset and aborted transactions, which read_committed needs, so it
 * is the floor; v5 log start offsets; v7 fetch sessions (we open none: session 0, epoch -1); v9
 * leader epochs; v11 the preferred read replica; v12 flexible encoding (compact fields, tagged
 * fields); v13 topic ids instead of names; v15 no replica id; v16 and v17 only tagged fields.
 */
import {
  type Connection,
  fetchV4,
  fetchV5,
  fetchV6,
  fetchV7,
  fetchV8,
  fetchV9,
  fetchV10,
  fetchV11,
  fetchV12,
  fetchV13,
  fetchV14,
  fetchV15,
  fetchV16,
  fetchV17,
  type Reader,
  readKnownTaggedFields,
} from "@platformatic/kafka";
import { negotiatedVersion, negotiateVersion, type VersionRange } from "./api-versions.ts";
import type { AbortedTransaction } from "./read-record-batches.ts";

const FETCH_API_KEY = 1;
/** The Fetch versions this module speaks. */
export const FETCH_VERSIONS: VersionRange = { min: 4, max: 17 };
const NEEDS = "Fetch v4 or later (Kafka 0.11 or later, or a compatible broker with record batch v2 and transactions)";
/** Fetch isolation level: only committed transactions' records (the consumer's default, kept). */
const READ_COMMITTED = 1;

const encoders = [fetchV4, fetchV5, fetchV6, fetchV7, fetchV8, fetchV9, fetchV10, fetchV11, fetchV12, fetchV13, fetchV14, fetchV15, fetchV16, fetchV17].map((
  m,
) => m.createRequest as (...args: unknown[]) => ReturnType<typeof fetchV17.createRequest>);

/** One partition of a Fetch response, its records left as bytes. */
export interface RawFetchPartition {
  partition: number;
  errorCode: number;
  highWatermark: bigint;
  abortedTransactions: AbortedTransaction[] | null;
  /** The partition's record batches, contiguous; null when there are none. */
  records: Uint8Array | null;
}

export interface RawFetchRequest {
  maxWaitMs: number;
  minBytes?: number;
  maxBytes: number;
  /** The topic's name (Fetch before v13) … */
  topic: string;
  /** … and its id (v13 and later). */
  topicId: string;
  partitions: { partition: number; fetchOffset: bigint; partitionMaxBytes: number }[];
}

/**
 * One Fetch request on `connection` for partitions of one topic, read_committed, sessionless
 * (every request names every partition, so every answer reports every partition's high
 * watermark), at the newest version the broker serves up to v17 (asked once per connection;
 * lib/kafka/api-versions.ts). Rejects with an UnsupportedBrokerError for a broker below v4.
 * `versions` narrows the range (within v4-v17), e.g. to test an older version on a new broker.
 */
export function rawFetch(connection: Connection, request: RawFetchRequest, versions: VersionRange = FETCH_VERSIONS): Promise<RawFetchPartition[]> {
  let version: number | undefined;
  try {
    version = negotiatedVersion(connection, FETCH_API_KEY, "Fetch", checkedRange(versions), NEEDS);
  } catch (error) {
    return Promise.reject(error);
  }
  // Only the first request on a connection waits for the broker's versions; the rest are sent
  // without waiting on a promise first.
  if (version === undefined) return fetchVersion(connection, versions).then((v) => sendFetch(connection, request, v));
  return sendFetch(connection, request, version);
}

function sendFetch(connection: Connection, request: RawFetchRequest, version: number): Promise<RawFetchPartition[]> {
  const topics = [
    {
      topicId: version >= 13 ? request.topicId : request.topic,
      partitions: request.partitions.map((p) => ({ ...p, currentLeaderEpoch: -1, lastFetchedEpoch: -1 })),
    },
  ];
  const flexible = version >= 12;
  const encode = encoders[version - FETCH_VERSIONS.min]!;
  return new Promise((resolve, reject) => {
    connection.send(
      FETCH_API_KEY,
      version,
      // Session id 0 with epoch -1: a full fetch that opens no fetch session on the broker.
      () => encode(request.maxWaitMs, request.minBytes ?? 1, request.maxBytes, READ_COMMITTED, 0, -1, topics, [], ""),
      parseRawFetchResponse as never,
      flexible,
      flexible,
      (error: Error | null, response: unknown) => (error ? reject(error) : resolve(response as RawFetchPartition[])),
    );
  });
}

/** The Fetch version `rawFetch` speaks to `connection`'s broker, within `versions`. */
export async function fetchVersion(connection: Connection, versions: VersionRange = FETCH_VERSIONS): Promise<number> {
  return negotiateVersion(connection, FETCH_API_KEY, "Fetch", checkedRange(versions), NEEDS);
}

function checkedRange(versions: VersionRange): VersionRange {
  if (versions.min < FETCH_VERSIONS.min || versions.max > FETCH_VERSIONS.max) {
    throw new RangeError(`Fetch versions v${versions.min}-v${versions.max}: this code speaks v${FETCH_VERSIONS.min}-v${FETCH_VERSIONS.max}`);
  }
  return versions;
}

/**
 * A Fetch response of any version from 4 to 17 (Kafka's FetchResponse.json, field by field),
 * records left as bytes. Partition errors are returned, not thrown, so the caller can tell
 * OFFSET_OUT_OF_RANGE from the rest; a request-level error (v7+) is thrown.
 */
export function parseRawFetchResponse(_correlationId: number, _apiKey: number, version: number, reader: Reader): RawFetchPartition[] {
  const flexible = version >= 12;
  reader.readInt32(); // throttle_time_ms
  let errorCode = 0;
  if (version >= 7) {
    errorCode = reader.readInt16();
    reader.readInt32(); // session_id
  }
  const partitions: RawFetchPartition[] = [];
  reader.readArray(
    (r) => {
      if (version >= 13) r.readUUID(); // topic_id: one topic per request
      else r.readString(flexible); // topic name
      r.readArray(
        (r) => {
          const partition = r.readInt32();
          const partitionError = r.readInt16();
          const highWatermark = r.readInt64();
          r.readInt64(); // last_stable_offset (v4+)
          if (version >= 5) r.readInt64(); // log_start_offset
          const abortedTransactions = r.readNullableArray(
            (r) => ({ producerId: Number(r.readInt64()), firstOffset: Number(r.readInt64()) }),
            flexible,
            flexible,
          );
          if (version >= 11) r.readInt32(); // preferred_read_replica
          // RECORDS: an int32 length (-1 for null), or from v12 an unsigned varint of length + 1 (0 for null).
          const size = flexible ? r.readUnsignedVarInt() - 1 : r.readInt32();
          let records: Uint8Array | null = null;
          if (size > 0) {
            records = r.buffer.slice(r.position, r.position + size);
            r.skip(size);
          }
          if (flexible) readKnownTaggedFields(r, {}); // diverging_epoch, current_leader, snapshot_id
          partitions.push({ partition, errorCode: partitionError, highWatermark, abortedTransactions, records });
        },
        flexible,
        false,
      );
    },
    flexible,
    flexible,
  );
  if (flexible) readKnownTaggedFields(reader, {}); // node_endpoints (v16+)
  if (errorCode !== 0) throw new Error(`the broker refused the fetch: error code ${errorCode}`);
  return partitions;
}
