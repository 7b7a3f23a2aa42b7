/**
 * Kafka record batches (message format v2) read straight from the bytes of a fetch response:
 * every data record goes to a callback as its offset and the byte ranges of its key and value,
 * with no object, Buffer or view made per record.
 *
 * Why not the Kafka client's own decoding: it builds a Buffer per key and per value, reads
 * offsets as BigInt and goes through a chunked buffer for every varint, which cost about a third
 * of the aggregator's time (bench/results/aggregate.md). Here the loop reads plain bytes.
 *
 * Batch layout (KIP-98): baseOffset int64, batchLength int32, partitionLeaderEpoch int32,
 * magic int8 (= 2), crc uint32 (CRC-32C of everything after it), attributes int16 (bits 0-2
 * compression, bit 4 transactional, bit 5 control), lastOffsetDelta int32, baseTimestamp int64,
 * maxTimestamp int64, producerId int64, producerEpoch int16, baseSequence int32, recordCount
 * int32, then the records (compressed as one block when the codec is not 0). A record: length,
 * attributes int8, timestampDelta, offsetDelta, key length, key, value length, value, headers —
 * lengths and deltas as zigzag varints, -1 for a null key or value.
 *
 * Offsets are numbers here, not bigint: exact below 2^53 (a partition appending a million
 * records a second would need 285 years to get there), and a batch claiming more is rejected.
 * The caller converts at its edge.
 *
 * What it skips, still moving `nextOffset` past them: records before `fromOffset` (the broker
 * returns whole batches, so the first may start earlier), control batches (transaction markers)
 * and, given the broker's list of aborted transactions (read_committed), the records of aborted
 * transactions. A last batch cut off by the response's size limit is left for the next fetch.
 *
 * Corrupt input never stalls a reader nor vanishes. Two kinds:
 * - A corrupt batch — a CRC mismatch when `crc32c` is given, a message format other than v2
 *   (v0/v1 entries, or an unknown magic), a codec other than 0-4, records that fail to
 *   decompress or do not fit their batch — still has a length that frames it. With
 *   `onCorruptBatch` it is reported (its offsets, what is wrong, its bytes) and skipped: reading
 *   goes on with the next batch and `nextOffset` moves past it. Without, it throws a
 *   {@link CorruptBatchError}. Records of the batch handed over before the fault was found stay
 *   handed over (a real broker validates records on append, so in practice the fault is found
 *   before the first). A batch entirely before `fromOffset` was dealt with already: skipped silently.
 * - An unreadable log — an offset at or beyond 2^53 (not representable here), a length too short
 *   to frame a batch, or a batch behind the one before it (the framing is broken) — throws an
 *   {@link UnreadableBatchError} naming the offset: nothing after it can be found, so nothing can
 *   be skipped.
 */

/** Bits 0-2 of a batch's attributes: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd. */
export const COMPRESSION_CODECS = ["none", "gzip", "snappy", "lz4", "zstd"] as const;
export type CompressionCodec = (typeof COMPRESSION_CODECS)[number];

const CODEC_MASK = 0b111;
const IS_TRANSACTIONAL = 1 << 4;
const IS_CONTROL = 1 << 5;
const IS_LOG_APPEND_TIME = 1 << 3;
/** A record timestamp the producer did not set. */
export const NO_TIMESTAMP = -1;
/** Bytes of a batch before its first record. */
export const BATCH_HEADER_BYTES = 61;
/** Bytes of baseOffset and batchLength, which batchLength does not count. */
const LOG_OVERHEAD = 12;
/** The smallest length of a v0 message (crc, magic, attributes, key and value lengths): below it nothing is framed. */
const MIN_ENTRY_LENGTH = 14;
const CONTROL_TYPE_ABORT = 0;

/**
 * One data record. `data` holds its bytes: the fetch response itself, or the decompressed
 * records of its batch. Valid only during the call: copy a range to keep it. A null value or key
 * has start and end -1. `timestampMs` is the record's Kafka timestamp: its CreateTime (base
 * timestamp + delta), or the batch's max timestamp when the topic stamps LogAppendTime; -1 when
 * the producer gave none. `data[headersStart, headersEnd)` holds its headers (count and
 * entries, as {@link readRecordHeaders} reads them).
 * Returning `false` stops the read after this record (see `ReadBatchesResult.stopped`).
 */
export type BatchRecordHandler = (
  offset: number,
  data: Uint8Array,
  valueStart: number,
  valueEnd: number,
  keyStart: number,
  keyEnd: number,
  timestampMs: number,
  headersStart: number,
  headersEnd: number,
) => void | boolean;

export interface AbortedTransaction {
  producerId: number;
  /** Offset of the transaction's first record. */
  firstOffset: number;
}

/** What is wrong with a corrupt batch. */
export const CORRUPT_BATCH_PROBLEMS = ["crc_mismatch", "unsupported_format", "unknown_codec", "decompression_failed", "malformed_records"] as const;
export type CorruptBatchProblem = (typeof CORRUPT_BATCH_PROBLEMS)[number];

/** A batch that cannot be read but can be skipped (see the module comment). */
export interface CorruptBatch {
  /** The batch's base offset; a v0/v1 entry names only its last offset, which is given here too. */
  firstOffset: number;
  /** Its last offset: reading resumes after it (bounded by the next batch's base offset when the header is not to be trusted). */
  lastOffset: number;
  problem: CorruptBatchProblem;
  /** What is wrong, naming the batch's offset (a {@link CorruptBatchError}'s message). */
  detail: string;
  /** The batch as served, from its base offset to its end: a view, valid only during the call. */
  bytes: Uint8Array;
}

/** A corrupt batch, when the reader was given no `onCorruptBatch` to report it to. */
export class CorruptBatchError extends Error {
  override name = "CorruptBatchError";
  readonly code = "CORRUPT_BATCH";
  constructor(
    readonly firstOffset: number,
    readonly lastOffset: number,
    readonly problem: CorruptBatchProblem,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * The bytes stop making sense at `offset`: nothing after it can be framed, so it cannot be
 * skipped. A RangeError: the data is outside what this reader can represent or frame.
 */
export class UnreadableBatchError extends RangeError {
  override name = "UnreadableBatchError";
  readonly code = "UNREADABLE_BATCH";
  constructor(
    /** The offset the unreadable batch claims (as read, also beyond 2^53). */
    readonly offset: bigint,
    why: string,
  ) {
    super(`record batch at offset ${offset} is unreadable: ${why}`);
  }
}

export interface ReadBatchesOptions {
  /** The records block of a compressed batch, decompressed. Only called for codecs 1-4; what it throws makes the batch corrupt. */
  decompress(codec: Exclude<CompressionCodec, "none">, compressed: Uint8Array): Uint8Array;
  /** When given, each batch's CRC-32C is checked before anything in it is read. Default: not checked. */
  crc32c?: (bytes: Uint8Array) => number;
  /** The broker's aborted transactions for this partition and fetch (read_committed); their records are skipped. */
  abortedTransactions?: readonly AbortedTransaction[] | null;
  /**
   * A corrupt batch at or after `fromOffset`: reported here and skipped (see the module
   * comment). Default: none, and a corrupt batch throws a {@link CorruptBatchError}.
   */
  onCorruptBatch?: (batch: CorruptBatch) => void;
}

export interface ReadBatchesResult {
  /** Records handed to the callback. */
  records: number;
  /**
   * The offset after the last complete batch (control, skipped and corrupt batches included), or
   * `fromOffset` if that is later; when `stopped`, the offset after the record the handler
   * stopped at.
   */
  nextOffset: number;
  /** Complete batches read (corrupt ones included). */
  batches: number;
  /** The handler returned false: the read ended early, at `nextOffset`. */
  stopped: boolean;
}

// Read position, module-level so the hot loop allocates nothing; single-threaded, never across an await.
let p = 0;
/** True while the record handler runs: what it throws is its own, never a corrupt batch. */
let delivering = false;

/**
 * Reads the record batches in `bytes` (a partition's `records` field of a fetch response) and
 * calls `onRecord` for every data record at or after `fromOffset`, in offset order. Throws an
 * {@link UnreadableBatchError}, or a {@link CorruptBatchError} without `onCorruptBatch`; what
 * `onRecord` throws passes through.
 */
export function readRecordBatches(bytes: Uint8Array, fromOffset: number, onRecord: BatchRecordHandler, options: ReadBatchesOptions): ReadBatchesResult {
  const end = bytes.length;
  let nextOffset = fromOffset;
  let records = 0;
  let batches = 0;
  const aborted = options.abortedTransactions?.length ? [...options.abortedTransactions].sort((a, b) => a.firstOffset - b.firstOffset) : undefined;
  let abortedIndex = 0;
  let abortedProducers: Set<number> | undefined;
  delivering = false;

  let batchStart = 0;
  /** The offset after the previous batch of this response: a batch below it means broken framing. */
  let previousEnd = -1;
  while (batchStart + LOG_OVERHEAD <= end) {
    const batchEnd = frameBatch(bytes, batchStart, previousEnd);
    if (batchEnd < 0) break; // cut off by the size limit: fetched whole next time
    const baseOffset = frameBase;
    const lastOffset = frameLast;
    batches += 1;
    previousEnd = lastOffset + 1;
    if (lastOffset + 1 > nextOffset) nextOffset = lastOffset + 1;
    const current = batchStart;
    batchStart = batchEnd;

    try {
      if (frameMagic !== 2) throw corrupt("unsupported_format", baseOffset, `message format v${frameMagic}; only v2 (Kafka 0.11 and later) is read`);
      if (options.crc32c) {
        const expected = int32(bytes, current + 17) >>> 0;
        const actual = options.crc32c(bytes.subarray(current + 21, batchEnd)) >>> 0;
        if (actual !== expected) throw corrupt("crc_mismatch", baseOffset, `CRC-32C ${actual.toString(16)} does not match the batch's ${expected.toString(16)}`);
      }
      const attributes = (bytes[current + 21]! << 8) | bytes[current + 22]!;
      const producerId = looseInt64(bytes, current + 43);
      const recordCount = int32(bytes, current + 57);
      const baseTimestamp = looseInt64(bytes, current + 27);
      const logAppendTime = (attributes & IS_LOG_APPEND_TIME) !== 0 ? looseInt64(bytes, current + 35) : NO_TIMESTAMP;

      // Transaction bookkeeping also for batches before fromOffset: an abort marker there still ends its transaction.
      const transactional = (attributes & IS_TRANSACTIONAL) !== 0;
      if (transactional && aborted) {
        while (abortedIndex < aborted.length && aborted[abortedIndex]!.firstOffset <= lastOffset) {
          (abortedProducers ??= new Set()).add(aborted[abortedIndex]!.producerId);
          abortedIndex += 1;
        }
      }
      if ((attributes & IS_CONTROL) !== 0) {
        // The marker ends its producer's transaction: that producer's later batches are a new one.
        if (abortedProducers?.has(producerId) && controlType(bytes, current + BATCH_HEADER_BYTES, batchEnd, baseOffset) === CONTROL_TYPE_ABORT) {
          abortedProducers.delete(producerId);
        }
        continue;
      }
      if (transactional && abortedProducers?.has(producerId)) continue;
      if (lastOffset < fromOffset) continue; // read already: no need to decompress it

      let data = bytes;
      let recordsStart = current + BATCH_HEADER_BYTES;
      let recordsEnd = batchEnd;
      const codec = attributes & CODEC_MASK;
      if (codec !== 0) {
        const name = COMPRESSION_CODECS[codec];
        if (name === undefined || name === "none") throw corrupt("unknown_codec", baseOffset, `unknown compression codec ${codec}`);
        try {
          data = options.decompress(name, bytes.subarray(recordsStart, recordsEnd));
        } catch (error) {
          throw corrupt("decompression_failed", baseOffset, `its ${name} records do not decompress: ${(error as Error)?.message ?? error}`);
        }
        recordsStart = 0;
        recordsEnd = data.length;
      }

      p = recordsStart;
      for (let i = 0; i < recordCount; i++) {
        const keyLength = readRecordHead(data);
        const end = recordEnd;
        if (end < 0 || end > recordsEnd) throw corrupt("malformed_records", baseOffset, `record ${i} of ${recordCount} does not fit its batch`);
        const offset = baseOffset + offsetDelta;
        let keyStart = -1;
        let keyEnd = -1;
        if (keyLength >= 0) {
          keyStart = p;
          keyEnd = p += keyLength;
        }
        const valueLength = varint(data);
        let valueStart = -1;
        let valueEnd = -1;
        if (valueLength >= 0) {
          valueStart = p;
          valueEnd = p += valueLength;
        }
        if (p > end || keyLength < -1 || valueLength < -1) throw corrupt("malformed_records", baseOffset, `record ${i} of ${recordCount} does not fit its length`);
        const headersStart = p;
        p = end; // headers: read only when a record is forwarded (readRecordHeaders)
        if (offset >= fromOffset) {
          records += 1;
          const timestampMs = logAppendTime !== NO_TIMESTAMP ? logAppendTime : baseTimestamp < 0 ? NO_TIMESTAMP : baseTimestamp + timestampDelta;
          delivering = true;
          const more = onRecord(offset, data, valueStart, valueEnd, keyStart, keyEnd, timestampMs, headersStart, end);
          delivering = false;
          if (more === false) return { records, nextOffset: offset + 1, batches, stopped: true };
        }
      }
    } catch (error) {
      if (delivering || !(error instanceof BatchFault)) throw error;
      if (lastOffset < fromOffset) continue; // behind the position: dealt with when it was read
      if (!options.onCorruptBatch) throw new CorruptBatchError(baseOffset, lastOffset, error.problem, error.message);
      options.onCorruptBatch({ firstOffset: baseOffset, lastOffset, problem: error.problem, detail: error.message, bytes: bytes.subarray(current, batchEnd) });
    }
  }
  return { records, nextOffset, batches, stopped: false };
}

/**
 * The `nextOffset` that `readRecordBatches(bytes, fromOffset, ...)` reports, from the batch
 * headers alone (nothing decompressed or checked; corrupt batches count as skipped): for sending
 * the next fetch before this one's records are read. Never throws: at an unreadable batch it
 * returns the offset before it (the read itself will throw there).
 */
export function nextOffsetAfter(bytes: Uint8Array, fromOffset: number): number {
  let nextOffset = fromOffset;
  let previousEnd = -1;
  for (let at = 0; at + LOG_OVERHEAD <= bytes.length; ) {
    let batchEnd;
    try {
      batchEnd = frameBatch(bytes, at, previousEnd);
    } catch {
      break;
    }
    if (batchEnd < 0) break;
    previousEnd = frameLast + 1;
    if (previousEnd > nextOffset) nextOffset = previousEnd;
    at = batchEnd;
  }
  return nextOffset;
}

// Set by frameBatch for the batch it framed.
let frameBase = 0;
let frameLast = 0;
let frameMagic = 0;

/**
 * Frames the batch at `start`: returns where it ends, or -1 when it is cut off by the end of
 * `bytes`; sets `frameBase`, `frameLast` (its last offset) and `frameMagic`. Its last offset is
 * the header's (a v0/v1 entry's only offset), but never at or past the next complete batch's base
 * offset: a corrupt header is not trusted to skip records that follow it. Throws an
 * {@link UnreadableBatchError} when the bytes cannot be framed (see the module comment);
 * `previousEnd` is the offset after the batch before it, -1 for none.
 */
function frameBatch(bytes: Uint8Array, start: number, previousEnd: number): number {
  const end = bytes.length;
  const batchLength = int32(bytes, start + 8);
  const batchEnd = start + LOG_OVERHEAD + batchLength;
  const base = offsetAt(bytes, start);
  if (batchLength < MIN_ENTRY_LENGTH) throw new UnreadableBatchError(BigInt(base), `its length ${batchLength} is shorter than any batch; nothing after it can be framed`);
  if (batchEnd > end) return -1;
  const magic = bytes[start + 16]!;
  if (magic === 2 && batchLength < BATCH_HEADER_BYTES - LOG_OVERHEAD) {
    throw new UnreadableBatchError(BigInt(base), `batch length ${batchLength} is shorter than a batch header; nothing after it can be framed`);
  }
  if (base < previousEnd) {
    throw new UnreadableBatchError(BigInt(base), `it claims an offset below ${previousEnd}, where the batch before it ended; the log's framing is broken`);
  }
  let last = base;
  if (magic === 2) {
    const delta = int32(bytes, start + 23);
    if (delta > 0) last = base + delta;
  }
  // The next complete batch's base offset bounds this one's last offset.
  if (batchEnd + LOG_OVERHEAD <= end) {
    const followingEnd = batchEnd + LOG_OVERHEAD + int32(bytes, batchEnd + 8);
    if (followingEnd <= end && followingEnd > batchEnd + LOG_OVERHEAD) {
      const following = looseInt64(bytes, batchEnd);
      if (following > base && last >= following) last = following - 1;
    }
  }
  frameBase = base;
  frameLast = last;
  frameMagic = magic;
  return batchEnd;
}

/** The type of a control batch's first record (its key: version int16, type int16). */
function controlType(data: Uint8Array, start: number, end: number, baseOffset: number): number {
  p = start;
  const keyLength = readRecordHead(data);
  if (keyLength < 4 || recordEnd < 0 || p + keyLength > recordEnd || recordEnd > end) throw corrupt("malformed_records", baseOffset, "control record without a 4-byte key");
  return (data[p + 2]! << 8) | data[p + 3]!;
}

// Set by readRecordHead for the record it read.
let recordEnd = 0;
let offsetDelta = 0;
let timestampDelta = 0;

/**
 * The head of the record at `p` — length, attributes (unused in v2), timestampDelta,
 * offsetDelta — leaving `p` at the key and returning the key's length. Sets `recordEnd`, -1 for
 * a length that is not positive, `timestampDelta` and `offsetDelta`. Bounds are the caller's to
 * check (reads past the end give 0s).
 */
function readRecordHead(data: Uint8Array): number {
  const length = varint(data);
  recordEnd = length > 0 ? p + length : -1;
  p += 1;
  timestampDelta = varlong(data);
  offsetDelta = varint(data);
  return varint(data);
}

/**
 * A record's headers, `data[start, end)` as a {@link BatchRecordHandler} gives them: each key and
 * value copied out, in order (keys may repeat; a null value stays null). Throws a RangeError when
 * they do not fit the range.
 */
export function readRecordHeaders(data: Uint8Array, start: number, end: number): Array<[key: Uint8Array, value: Uint8Array | null]> {
  p = start;
  const count = varint(data);
  const headers: Array<[Uint8Array, Uint8Array | null]> = [];
  if (count < 0 || count > end - start) throw new RangeError(`record headers count ${count} does not fit ${end - start} bytes`);
  for (let i = 0; i < count; i++) {
    const keyLength = varint(data);
    if (keyLength < 0 || p + keyLength > end) throw new RangeError(`record header ${i} key does not fit its record`);
    const key = copy(data, p, (p += keyLength));
    const valueLength = varint(data);
    if (valueLength < -1 || p + valueLength > end) throw new RangeError(`record header ${i} value does not fit its record`);
    headers.push([key, valueLength < 0 ? null : copy(data, p, (p += valueLength))]);
  }
  return headers;
}

/** A copy, also when `data` is a Buffer (whose own slice is a view). */
function copy(data: Uint8Array, start: number, end: number): Uint8Array {
  return Uint8Array.prototype.slice.call(data, start, end);
}

/**
 * A zigzag varlong at `p` (at most 10 bytes), as a number: exact within ±2^53, which a timestamp
 * delta never leaves. Advances `p`.
 */
function varlong(data: Uint8Array): number {
  let byte = data[p++]!;
  if ((byte & 0x80) === 0) return (byte >>> 1) ^ -(byte & 1);
  let value = byte & 0x7f;
  let scale = 128;
  for (let n = 1; byte & 0x80; n++) {
    if (n >= 10) throw new BatchFault("malformed_records", `varlong at byte ${p} is longer than 10 bytes`);
    byte = data[p++]!;
    value += (byte & 0x7f) * scale;
    scale *= 128;
  }
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

/** A zigzag varint of at most 5 bytes at `p`; advances `p`. Past the end of `data` it reads 0s (the callers' bounds checks catch that). */
function varint(data: Uint8Array): number {
  let byte = data[p++]!;
  let value = byte & 0x7f;
  let shift = 7;
  while (byte & 0x80) {
    if (shift > 28) throw new BatchFault("malformed_records", `varint at byte ${p} is longer than 5 bytes`);
    byte = data[p++]!;
    value |= (byte & 0x7f) << shift;
    shift += 7;
  }
  return (value >>> 1) ^ -(value & 1);
}

function int32(data: Uint8Array, at: number): number {
  return (data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!;
}

/** A batch's base offset as a number; an {@link UnreadableBatchError} when it is not exact (2^53 and beyond) or negative. */
function offsetAt(data: Uint8Array, at: number): number {
  const high = int32(data, at);
  if (high >= 0x200000 || high < 0) {
    const offset = (BigInt(high) << 32n) | BigInt(int32(data, at + 4) >>> 0);
    throw new UnreadableBatchError(offset, high < 0 ? "a negative offset" : "offsets at or beyond 2^53 cannot be represented here");
  }
  return high * 0x1_0000_0000 + (int32(data, at + 4) >>> 0);
}

/** A signed int64 as a number, rounded beyond ±2^53 (producer ids and timestamps never get there; a corrupt one is caught by the CRC). */
function looseInt64(data: Uint8Array, at: number): number {
  return int32(data, at) * 0x1_0000_0000 + (int32(data, at + 4) >>> 0);
}

/** Something wrong inside one batch; a RangeError also for readRecordHeaders' callers, whose varints throw it. */
class BatchFault extends RangeError {
  constructor(
    readonly problem: CorruptBatchProblem,
    message: string,
  ) {
    super(message);
  }
}

function corrupt(problem: CorruptBatchProblem, baseOffset: number, why: string): BatchFault {
  return new BatchFault(problem, `record batch at offset ${baseOffset} is corrupt: ${why}`);
}
