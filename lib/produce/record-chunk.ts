/**
 * A run of simulator records, ready for the sending thread: in Kafka mode already encoded as
 * Kafka records, one record set per partition (lib/kafka/record-batch.ts); in lines mode as
 * JSON lines. The generator thread builds chunks; the sending thread only compresses and sends
 * them (or writes them), and counts them from `counts` without looking at a single record.
 *
 * Everything in a chunk is plain data and transferable buffers, so posting one to another
 * thread moves it instead of copying thousands of small objects.
 */
import { encodeHeaders, RecordSet } from "../kafka/record-batch.ts";
import type { PartitionRecords } from "../kafka/batch-producer.ts";
import { putUint } from "../event/order-json.ts";
import { SCHEMA_VERSION } from "../event/order-event.ts";
import { partitionForKey } from "../kafka/partitioner.ts";
import { KIND_FAULTS, kindFaultCode } from "./tally.ts";
import type { SimRecord } from "../event/simulator.ts";

export interface RecordChunk {
  records: number;
  /** Records per KIND_FAULTS index. */
  counts: Uint32Array;
  /** Stream time of the first and last record; the last one decides when a paced chunk may go. */
  firstEmittedMs: number;
  lastEmittedMs: number;
  /** Kafka mode: each partition's records, in stream order (partitions without records left out). */
  sets: PartitionRecords[];
  /** Lines mode: every value followed by a newline, in stream order. */
  lines: Uint8Array | null;
}

export type ChunkMode = { kind: "kafka"; partitions: number } | { kind: "lines" };

const utf8 = new TextEncoder();
const EMITTED_DIGITS = 13; // ms since the epoch from 2001-09-09 to 2286-11-20

/** A record's header section: `schema_version`, and `emitted_at_ms` as the given digits. */
function recordHeaders(emittedAtMs: string): Uint8Array {
  return encodeHeaders([
    [utf8.encode("schema_version"), utf8.encode(String(SCHEMA_VERSION))],
    [utf8.encode("emitted_at_ms"), utf8.encode(emittedAtMs)],
  ]);
}

/** Collects records into one chunk; `take()` hands it over and starts the next. */
export class ChunkBuilder {
  readonly #mode: ChunkMode;
  #sets: RecordSet[] = [];
  #lines = new Uint8Array(0);
  #linesLength = 0;
  #counts = new Uint32Array(KIND_FAULTS.length);
  #records = 0;
  #firstEmittedMs = 0;
  #lastEmittedMs = 0;
  /** Sizes the last chunk needed, so the next one rarely has to grow. */
  #expectedBytes = 64 * 1024;
  /** Keys recur (customers come back): each key's bytes and partition are worked out once. */
  readonly #keys = new Map<string, { bytes: Uint8Array; partition: number }>();
  /** Headers `schema_version` and `emitted_at_ms`; the last 13 bytes are the time's digits. */
  readonly #headers = recordHeaders("0".repeat(EMITTED_DIGITS));

  constructor(mode: ChunkMode) {
    if (mode.kind === "kafka" && !(Number.isInteger(mode.partitions) && mode.partitions >= 1)) {
      throw new RangeError(`partitions must be a positive whole number: got ${mode.partitions}`);
    }
    this.#mode = mode;
  }

  get records(): number {
    return this.#records;
  }

  get firstEmittedMs(): number {
    return this.#firstEmittedMs;
  }

  /** Adds a record; in Kafka mode it gets `timestampMs` as its Kafka timestamp. */
  add(record: SimRecord, timestampMs: number): void {
    this.#counts[kindFaultCode(record)]!++;
    if (this.#records === 0) this.#firstEmittedMs = record.emittedAtMs;
    this.#lastEmittedMs = record.emittedAtMs;
    this.#records++;
    if (this.#mode.kind === "lines") {
      this.#appendLine(record.value);
      return;
    }
    let key = this.#keys.get(record.key);
    if (key === undefined) {
      key = { bytes: utf8.encode(record.key), partition: partitionForKey(record.key, this.#mode.partitions) };
      this.#keys.set(record.key, key);
    }
    let set = this.#sets[key.partition];
    if (set === undefined) {
      set = new RecordSet(Math.ceil((this.#expectedBytes / this.#mode.partitions) * 1.25));
      this.#sets[key.partition] = set;
    }
    set.append(timestampMs, key.bytes, record.value, this.#headersFor(record.emittedAtMs));
  }

  /** The chunk so far, and the buffers to transfer with it; the builder starts a new chunk. */
  take(): { chunk: RecordChunk; transfer: ArrayBuffer[] } {
    const transfer: ArrayBuffer[] = [this.#counts.buffer as ArrayBuffer];
    const sets: PartitionRecords[] = [];
    let bytes = 0;
    this.#sets.forEach((set, partition) => {
      if (set === undefined || set.count === 0) return;
      sets.push({ partition, records: set.records(), count: set.count, firstTimestamp: set.firstTimestamp, maxTimestamp: set.maxTimestamp });
      transfer.push(set.bytes.buffer as ArrayBuffer);
      bytes += set.length;
    });
    let lines: Uint8Array | null = null;
    if (this.#mode.kind === "lines") {
      lines = this.#lines.subarray(0, this.#linesLength);
      transfer.push(this.#lines.buffer as ArrayBuffer);
      bytes = this.#linesLength;
    }
    const chunk: RecordChunk = {
      records: this.#records,
      counts: this.#counts,
      firstEmittedMs: this.#firstEmittedMs,
      lastEmittedMs: this.#lastEmittedMs,
      sets,
      lines,
    };
    if (bytes > 0) this.#expectedBytes = bytes;
    this.#sets = [];
    this.#lines = new Uint8Array(0);
    this.#linesLength = 0;
    this.#counts = new Uint32Array(KIND_FAULTS.length);
    this.#records = 0;
    return { chunk, transfer };
  }

  #headersFor(emittedAtMs: number): Uint8Array {
    const headers = this.#headers;
    if (emittedAtMs >= 1e12 && emittedAtMs < 1e13 && Number.isInteger(emittedAtMs)) {
      putUint(headers, headers.length - EMITTED_DIGITS, emittedAtMs);
      return headers;
    }
    return recordHeaders(String(emittedAtMs));
  }

  #appendLine(value: Uint8Array): void {
    const need = this.#linesLength + value.length + 1;
    if (need > this.#lines.length) {
      const grown = new Uint8Array(Math.max(need, this.#lines.length * 2, Math.ceil(this.#expectedBytes * 1.25)));
      grown.set(this.#lines.subarray(0, this.#linesLength));
      this.#lines = grown;
    }
    this.#lines.set(value, this.#linesLength);
    this.#lines[need - 1] = 10;
    this.#linesLength = need;
  }
}
