/**
 * A run of simulator records packed into a few flat arrays, so that a generator thread can hand
 * them to the sending thread as transferable buffers instead of thousands of small objects.
 *
 * `packRecords` and `unpackRecords` are inverses: unpacking gives records equal to the packed
 * ones, value bytes included, in the same order.
 */
import { MALFORMED_KINDS } from "./malformed.ts";
import type { Fault, RecordKind, SimRecord } from "./simulator.ts";

export interface RecordBatch {
  /** Every record's value bytes, back to back. */
  values: Uint8Array;
  /** End offset of each record's value in `values`. */
  ends: Uint32Array;
  keys: string[];
  emittedAtMs: Float64Array;
  /** Index into KIND_FAULTS of each record's kind and fault. */
  codes: Uint8Array;
  /** Position in the stream of the first record; the rest follow one by one. */
  firstSequence: number;
  /** Kafka partition of each record's key; empty when the packer was not given a partition count. */
  partitions: Uint8Array;
}

/** A record with the Kafka partition of its key, or -1 when none was assigned. */
export type FedRecord = SimRecord & { partition: number };

type KindFault = readonly [RecordKind, Fault | undefined];

/** Every (kind, fault) pair the simulator produces. */
export const KIND_FAULTS: readonly KindFault[] = [
  ["valid", undefined],
  ["valid", "out_of_order"],
  ["late", "late_within_watermark"],
  ["late", "late_beyond_watermark"],
  ["duplicate", "duplicate"],
  ...MALFORMED_KINDS.map((k): KindFault => ["malformed", k]),
];

const codeOf = new Map(KIND_FAULTS.map(([kind, fault], i) => [`${kind}/${fault ?? ""}`, i]));

/**
 * `partitionOf` (key → partition, at most 255) is called once per record when given.
 * Throws a RangeError for a (kind, fault) pair outside KIND_FAULTS, or records out of sequence.
 */
export function packRecords(records: readonly SimRecord[], partitionOf?: (key: string) => number): RecordBatch {
  let size = 0;
  for (const r of records) size += r.value.length;
  const values = new Uint8Array(size);
  const ends = new Uint32Array(records.length);
  const keys = new Array<string>(records.length);
  const emittedAtMs = new Float64Array(records.length);
  const codes = new Uint8Array(records.length);
  const partitions = new Uint8Array(partitionOf ? records.length : 0);
  const firstSequence = records[0]?.sequence ?? 0;
  let at = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (r.sequence !== firstSequence + i) throw new RangeError(`record ${i} has sequence ${r.sequence}, expected ${firstSequence + i}`);
    const code = codeOf.get(`${r.kind}/${r.fault ?? ""}`);
    if (code === undefined) throw new RangeError(`no code for kind ${r.kind} with fault ${String(r.fault)}`);
    values.set(r.value, at);
    at += r.value.length;
    ends[i] = at;
    keys[i] = r.key;
    emittedAtMs[i] = r.emittedAtMs;
    codes[i] = code;
    if (partitionOf) partitions[i] = partitionOf(r.key);
  }
  return { values, ends, keys, emittedAtMs, codes, firstSequence, partitions };
}

/** The records of a batch; values are views into `batch.values`, not copies. */
export function unpackRecords(batch: RecordBatch): FedRecord[] {
  const n = batch.ends.length;
  const out = new Array<FedRecord>(n);
  const partitioned = batch.partitions.length === n;
  let from = 0;
  for (let i = 0; i < n; i++) {
    const to = batch.ends[i]!;
    const [kind, fault] = KIND_FAULTS[batch.codes[i]!]!;
    const record: FedRecord = {
      key: batch.keys[i]!,
      value: batch.values.subarray(from, to),
      kind,
      emittedAtMs: batch.emittedAtMs[i]!,
      sequence: batch.firstSequence + i,
      partition: partitioned ? batch.partitions[i]! : -1,
    };
    if (fault !== undefined) record.fault = fault;
    out[i] = record;
    from = to;
  }
  return out;
}

/** The buffers to list as transferables when posting a batch to another thread. */
export function transferablesOf(batch: RecordBatch): ArrayBuffer[] {
  return [batch.values.buffer, batch.ends.buffer, batch.emittedAtMs.buffer, batch.codes.buffer, batch.partitions.buffer] as ArrayBuffer[];
}
