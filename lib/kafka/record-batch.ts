/**
 * Kafka record batches (message format v2) built by hand, for the producer's hot path: records
 * are appended to one growing buffer per partition as they are generated, with no per-record
 * objects, and a batch is those bytes compressed behind a 61-byte header.
 *
 * The layout is Kafka's (KIP-98, "Record Batch" in the protocol guide):
 *
 *   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 = 2 |
 *   crc uint32 (CRC-32C of everything after it) | attributes int16 (bits 0-2: compression) |
 *   lastOffsetDelta int32 | baseTimestamp int64 | maxTimestamp int64 | producerId int64 |
 *   producerEpoch int16 | baseSequence int32 | recordCount int32 | records
 *
 *   record = length varint | attributes int8 = 0 | timestampDelta varlong | offsetDelta varint |
 *            keyLength varint | key | valueLength varint | value | headerCount varint |
 *            (headerKeyLength varint | headerKey | headerValueLength varint | headerValue)*
 *
 * Varints are zig-zag encoded. lib/kafka/record-batch.test.ts holds the encoder to
 * @platformatic/kafka's own `createRecordsBatch` byte for byte, and test/produce.test.ts to the
 * real broker.
 */
import { zstdCompressSync, constants as zlibConstants } from "node:zlib";
import { compressionsAlgorithms, crc32c } from "@platformatic/kafka";

export type Compression = "none" | "gzip" | "snappy" | "lz4" | "zstd";

/** Attribute bits 0-2 of each compression codec. */
export const COMPRESSION_CODES: Record<Compression, number> = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 };

/** Bytes of a batch before its records. */
export const BATCH_HEADER_BYTES = 61;
/** The partition leader epoch a producer sends: none (the broker sets it). */
const NO_PARTITION_LEADER_EPOCH = -1;

/** Bytes the zig-zag varint of `n` takes (|n| < 2^31). */
export function varintSize(n: number): number {
  let v = ((n << 1) ^ (n >> 31)) >>> 0;
  let size = 1;
  while (v >= 0x80) {
    v >>>= 7;
    size++;
  }
  return size;
}

/** Writes the zig-zag varint of `n` (|n| < 2^31); returns the end. */
export function putVarint(buf: Uint8Array, at: number, n: number): number {
  let v = ((n << 1) ^ (n >> 31)) >>> 0;
  while (v >= 0x80) {
    buf[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[at++] = v;
  return at;
}

/** Writes the zig-zag varlong of a safe integer `n`; returns the end. */
export function putVarlong(buf: Uint8Array, at: number, n: number): number {
  if (n >= -0x40000000 && n < 0x40000000) return putVarint(buf, at, n);
  let v = n >= 0 ? n * 2 : -n * 2 - 1; // zig-zag, exact below 2^52
  while (v >= 0x80) {
    buf[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[at++] = v;
  return at;
}

function varlongSize(n: number): number {
  if (n >= -0x40000000 && n < 0x40000000) return varintSize(n);
  let v = n >= 0 ? n * 2 : -n * 2 - 1;
  let size = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    size++;
  }
  return size;
}

/** A record's header section: the count, then each key and value with their lengths. */
export function encodeHeaders(headers: readonly (readonly [Uint8Array, Uint8Array])[]): Uint8Array {
  let size = varintSize(headers.length);
  for (const [k, v] of headers) size += varintSize(k.length) + k.length + varintSize(v.length) + v.length;
  const out = new Uint8Array(size);
  let at = putVarint(out, 0, headers.length);
  for (const [k, v] of headers) {
    at = putVarint(out, at, k.length);
    out.set(k, at);
    at = putVarint(out, at + k.length, v.length);
    out.set(v, at);
    at += v.length;
  }
  return out;
}

/** The records of one future batch, appended one by one into a growing buffer. */
export class RecordSet {
  bytes: Uint8Array;
  length = 0;
  count = 0;
  /** Timestamp of the first record (ms); the batch's base timestamp. */
  firstTimestamp = 0;
  maxTimestamp = 0;

  constructor(initialBytes = 64 * 1024) {
    this.bytes = new Uint8Array(initialBytes);
  }

  /**
   * Appends one record. `headers` is an encoded header section (`encodeHeaders`), of which the
   * first `headersLength` bytes are used. A `null` key is Kafka's null key.
   */
  append(timestampMs: number, key: Uint8Array | null, value: Uint8Array, headers: Uint8Array, headersLength = headers.length): void {
    if (this.count === 0) {
      this.firstTimestamp = timestampMs;
      this.maxTimestamp = timestampMs;
    } else if (timestampMs > this.maxTimestamp) {
      this.maxTimestamp = timestampMs;
    }
    const timestampDelta = timestampMs - this.firstTimestamp;
    const keyLength = key === null ? -1 : key.length;
    const body = 1 + varlongSize(timestampDelta) + varintSize(this.count) + varintSize(keyLength) + Math.max(0, keyLength) +
      varintSize(value.length) + value.length + headersLength;
    const need = this.length + varintSize(body) + body;
    if (need > this.bytes.length) this.#grow(need);
    const buf = this.bytes;
    let at = putVarint(buf, this.length, body);
    buf[at++] = 0; // attributes
    at = putVarlong(buf, at, timestampDelta);
    at = putVarint(buf, at, this.count);
    at = putVarint(buf, at, keyLength);
    if (key !== null) {
      for (let i = 0; i < key.length; i++) buf[at + i] = key[i]!;
      at += key.length;
    }
    at = putVarint(buf, at, value.length);
    buf.set(value, at);
    at += value.length;
    for (let i = 0; i < headersLength; i++) buf[at + i] = headers[i]!;
    this.length = at + headersLength;
    this.count++;
  }

  /** The appended records' bytes (a view). */
  records(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  #grow(need: number): void {
    const bytes = new Uint8Array(Math.max(need, this.bytes.length * 2));
    bytes.set(this.bytes.subarray(0, this.length));
    this.bytes = bytes;
  }
}

export interface BatchOptions {
  compression: Compression;
  /** Idempotent producer's id and epoch; -1 and -1 for a producer without one. */
  producerId: bigint;
  producerEpoch: number;
  /** Sequence number of the first record (idempotent producer); -1 without one. */
  baseSequence: number;
}

/** What `encodeRecordBatch` needs of a record set: plain data, so it can cross threads. */
export interface RecordSetData {
  records: Uint8Array;
  count: number;
  firstTimestamp: number;
  maxTimestamp: number;
}

/** zstd at level 1: on this data about as small as the default level 3, and a quarter faster. */
const ZSTD_PARAMS = { params: { [zlibConstants.ZSTD_c_compressionLevel]: 1 } };

function compress(records: Uint8Array, compression: Compression): Uint8Array {
  if (compression === "none") return records;
  const bytes = Buffer.from(records.buffer, records.byteOffset, records.byteLength);
  if (compression === "zstd") return zstdCompressSync(bytes, ZSTD_PARAMS);
  return compressionsAlgorithms[compression].compressSync(bytes);
}

/** One record batch of `set`'s records, compressed, with its header and checksum. */
export function encodeRecordBatch(set: RecordSetData, options: BatchOptions): Buffer {
  if (set.count === 0) throw new RangeError("a record batch needs at least one record");
  const records = compress(set.records, options.compression);
  const batch = Buffer.allocUnsafe(BATCH_HEADER_BYTES + records.length);
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  view.setBigInt64(0, 0n); // base offset: the broker assigns offsets
  view.setInt32(8, batch.length - 12); // length of what follows this field
  view.setInt32(12, NO_PARTITION_LEADER_EPOCH);
  view.setInt8(16, 2); // magic
  // 17..20: CRC, below
  view.setInt16(21, COMPRESSION_CODES[options.compression]);
  view.setInt32(23, set.count - 1); // last offset delta
  view.setBigInt64(27, BigInt(set.firstTimestamp));
  view.setBigInt64(35, BigInt(set.maxTimestamp));
  view.setBigInt64(43, options.producerId);
  view.setInt16(51, options.producerEpoch);
  view.setInt32(53, options.baseSequence);
  view.setInt32(57, set.count);
  batch.set(records, BATCH_HEADER_BYTES);
  view.setUint32(17, crc32c(batch.subarray(21)));
  return batch;
}
