import { expect, test } from "bun:test";
import { createRecordsBatch, readRecordsBatch, Reader } from "@platformatic/kafka";
import { type Compression, encodeHeaders, encodeRecordBatch, putVarint, putVarlong, RecordSet, varintSize } from "./record-batch.ts";

const utf8 = (s: string) => Buffer.from(s, "utf8");

interface Input {
  timestamp: number;
  key: string | null;
  value: string;
  headers: [string, string][];
}

function inputs(n: number, firstTimestamp: number): Input[] {
  return Array.from({ length: n }, (_, i) => ({
    // Out of order on purpose: a delta below the base, and a max that is not the last.
    timestamp: firstTimestamp + ((i * 7919) % 97) - (i % 5 === 3 ? 3_000 : 0),
    key: i % 11 === 10 ? null : `u-${String(i).padStart(6, "0")}`,
    value: `{"n":${i},"pad":"${"x".repeat(i % 300)}"}`,
    headers: i % 13 === 12 ? [] : [["schema_version", "1"], ["emitted_at_ms", String(1_764_000_000_000 + i)]],
  }));
}

function ours(records: Input[], compression: Compression, baseSequence: number): Buffer {
  const set = new RecordSet(16); // tiny on purpose: it has to grow
  for (const r of records) {
    const headers = encodeHeaders(r.headers.map(([k, v]) => [utf8(k), utf8(v)] as const));
    set.append(r.timestamp, r.key === null ? null : utf8(r.key), utf8(r.value), headers);
  }
  return encodeRecordBatch(
    { records: set.records(), count: set.count, firstTimestamp: set.firstTimestamp, maxTimestamp: set.maxTimestamp },
    { compression, producerId: 4242n, producerEpoch: 3, baseSequence },
  );
}

function theClients(records: Input[], compression: Compression, baseSequence: number): Buffer {
  const messages = records.map((r) => ({
    topic: "t",
    partition: 0,
    key: r.key === null ? undefined : utf8(r.key),
    value: utf8(r.value),
    headers: new Map(r.headers.map(([k, v]) => [utf8(k), utf8(v)])),
    timestamp: BigInt(r.timestamp),
  }));
  const sequences = { getWithDefault: () => baseSequence };
  return createRecordsBatch(messages as never, { compression, producerId: 4242n, producerEpoch: 3, sequences, partitionLeaderEpoch: -1 } as never).buffer;
}

test("encodeRecordBatch gives @platformatic/kafka's bytes for the same records, uncompressed and compressed", () => {
  const start = Date.parse("2026-11-27T18:00:00.000Z");
  for (const compression of ["none", "lz4", "snappy"] as const) {
    for (const n of [1, 2, 500]) {
      expect(ours(inputs(n, start), compression, 17)).toEqual(theClients(inputs(n, start), compression, 17));
    }
  }
});

test("encodeRecordBatch's gzip and zstd batches read back, through the client's decoder, as the records written", () => {
  const start = Date.parse("2026-11-27T18:00:00.000Z");
  for (const compression of ["gzip", "zstd"] as const) {
    const records = inputs(300, start);
    const batch = readRecordsBatch(Reader.from(ours(records, compression, 0)));
    expect(batch.attributes & 0b111).toBe(compression === "gzip" ? 1 : 4);
    expect(batch.records.map((r) => ({
      timestamp: Number(batch.firstTimestamp + r.timestampDelta),
      key: r.key === null ? null : r.key.toString(),
      value: r.value!.toString(),
      headers: r.headers.map(([k, v]) => [k!.toString(), v!.toString()]),
    }))).toEqual(records);
  }
});

test("putVarint and putVarlong write Kafka's zig-zag varints, and varintSize measures them", () => {
  const cases: [number, number[]][] = [[0, [0]], [-1, [1]], [1, [2]], [63, [126]], [-64, [127]], [64, [128, 1]], [300, [216, 4]]];
  for (const [n, bytes] of cases) {
    const buf = new Uint8Array(10);
    expect([...buf.subarray(0, putVarint(buf, 0, n))]).toEqual(bytes);
    expect(varintSize(n)).toBe(bytes.length);
  }
  // 2^40 and -(2^40) + 1: beyond 32 bits, as a timestamp delta can be.
  for (const n of [2 ** 40, -(2 ** 40) + 1, Number.MAX_SAFE_INTEGER >> 0, 4_000_000_000]) {
    const buf = new Uint8Array(10);
    const end = putVarlong(buf, 0, n);
    let v = 0n;
    for (let i = end - 1; i >= 0; i--) v = (v << 7n) | BigInt(buf[i]! & 0x7f);
    expect((v >> 1n) ^ -(v & 1n)).toBe(BigInt(n));
  }
});

test("encodeRecordBatch refuses an empty record set", () => {
  expect(() => encodeRecordBatch({ records: new Uint8Array(0), count: 0, firstTimestamp: 0, maxTimestamp: 0 }, {
    compression: "none",
    producerId: -1n,
    producerEpoch: -1,
    baseSequence: -1,
  })).toThrow(RangeError);
});
