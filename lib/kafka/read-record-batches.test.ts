/**
 * The record batch reader against batches a real Kafka 4.1.1 broker served (lib/kafka/testdata/
 * record-batches, captured by test/support/capture-record-batches.ts), one case per codec, three
 * batches in a row, and transactions with a commit and an abort; plus cuts and corruptions of
 * those bytes for the edge cases.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { crc32cOf, decompress } from "./group-fetcher.ts";
import {
  BATCH_HEADER_BYTES,
  type AbortedTransaction,
  type CorruptBatch,
  CorruptBatchError,
  NO_TIMESTAMP,
  nextOffsetAfter,
  readRecordBatches,
  readRecordHeaders,
  type ReadBatchesOptions,
  UnreadableBatchError,
} from "./read-record-batches.ts";
import { encodeHeaders, encodeRecordBatch, RecordSet } from "./record-batch.ts";

const dir = join(import.meta.dirname, "testdata", "record-batches");
interface Case {
  name: string;
  file: string;
  codec: string;
  expected: { offset: number; key: string | null; value: string | null }[];
  logEndOffset: number;
  abortedTransactions: AbortedTransaction[] | null;
}
const cases: Case[] = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
const fixture = (name: string) => {
  const c = cases.find((x) => x.name === name);
  if (!c) throw new Error(`no fixture ${name}`);
  return { ...c, bytes: new Uint8Array(readFileSync(join(dir, c.file))) };
};

const text = new TextDecoder();
type Read = { offset: number; key: string | null; value: string | null };
function read(bytes: Uint8Array, fromOffset: number, options: Partial<ReadBatchesOptions> = {}) {
  const records: Read[] = [];
  const result = readRecordBatches(
    bytes,
    fromOffset,
    (offset, data, valueStart, valueEnd, keyStart, keyEnd) => {
      records.push({
        offset,
        key: keyStart < 0 ? null : text.decode(data.subarray(keyStart, keyEnd)),
        value: valueStart < 0 ? null : text.decode(data.subarray(valueStart, valueEnd)),
      });
    },
    { decompress, crc32c: crc32cOf, ...options },
  );
  expect(result.records).toEqual(records.length);
  return { records, nextOffset: result.nextOffset, batches: result.batches };
}

/** The byte position where each complete batch of `bytes` starts. */
function batchStarts(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const starts: number[] = [];
  for (let at = 0; at + 12 <= bytes.length; at += 12 + view.getInt32(at + 8)) starts.push(at);
  return starts;
}

describe("readRecordBatches() on batches a broker served", () => {
  for (const codec of ["none", "gzip", "snappy", "lz4", "zstd"]) {
    test(`reads every record of a ${codec} batch: offsets, keys, values, null and empty ones`, () => {
      const c = fixture(`codec-${codec}`);
      expect(c.codec).toEqual(codec);
      expect(read(c.bytes, 0)).toEqual({ records: c.expected, nextOffset: c.logEndOffset, batches: 1 });
    });
  }

  test("hands records over in offset order across batches", () => {
    const c = fixture("three-batches");
    const result = read(c.bytes, 0);
    expect(result.records).toEqual(c.expected);
    expect({ nextOffset: result.nextOffset, batches: result.batches }).toEqual({ nextOffset: 15, batches: 3 });
  });

  test("skips the records of a batch that starts before the requested offset", () => {
    const c = fixture("three-batches");
    const result = read(c.bytes, 7);
    expect(result.records).toEqual(c.expected.filter((r) => r.offset >= 7));
    expect(result.nextOffset).toEqual(15);
  });

  test("a requested offset past every batch gives no records and keeps the position", () => {
    const c = fixture("three-batches");
    expect(read(c.bytes, 20)).toEqual({ records: [], nextOffset: 20, batches: 3 });
  });

  test("leaves a last batch cut off by the size limit for the next fetch", () => {
    const c = fixture("three-batches");
    const lastStart = batchStarts(c.bytes)[2]!;
    for (const cut of [c.bytes.length - 1, lastStart + BATCH_HEADER_BYTES, lastStart + 11, lastStart + 5, lastStart]) {
      const result = read(c.bytes.subarray(0, cut), 0);
      expect({ cut, records: result.records, nextOffset: result.nextOffset }).toEqual({ cut, records: c.expected.slice(0, 10), nextOffset: 10 });
    }
  });

  test("a response holding only part of one batch gives nothing and keeps the position", () => {
    const c = fixture("codec-lz4");
    expect(read(c.bytes.subarray(0, c.bytes.length - 100), 0)).toEqual({ records: [], nextOffset: 0, batches: 0 });
  });

  test("skips control batches and the records of aborted transactions, moving past both", () => {
    const c = fixture("transactions");
    expect(c.abortedTransactions).toHaveLength(1);
    const result = read(c.bytes, 0, { abortedTransactions: c.abortedTransactions });
    expect(result.records).toEqual(c.expected);
    expect(result.nextOffset).toEqual(c.logEndOffset);
  });

  test("without the broker's list of aborted transactions (read_uncommitted) it reads them, still skipping the markers", () => {
    const c = fixture("transactions");
    const result = read(c.bytes, 0);
    // 2 plain, 3 committed, 3 aborted (offsets 6-8), 2 plain, 2 committed; markers at 5, 9 and 14.
    expect(result.records.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 6, 7, 8, 10, 11, 12, 13]);
    expect(result.nextOffset).toEqual(15);
  });

  test("an aborted transaction's producer is read again after its abort marker", () => {
    const c = fixture("transactions");
    // From offset 10 on, given a list that still names the transaction aborted at 6-8: its marker (9) lies
    // behind too, so the later committed transaction of the same transactional id (12-13) counts.
    const result = read(c.bytes, 10, { abortedTransactions: c.abortedTransactions });
    expect(result.records.map((r) => r.offset)).toEqual([10, 11, 12, 13]);
  });
});

test("nextOffsetAfter() reports readRecordBatches()'s nextOffset from the headers alone, for every fixture, start and cut", () => {
  const differences: string[] = [];
  for (const c of cases) {
    const bytes = fixture(c.name).bytes;
    for (let cut = 0; cut <= bytes.length; cut += 97) {
      for (const from of [0, 3, 7, 12, 40]) {
        const view = bytes.subarray(0, cut);
        const expected = read(view, from, { abortedTransactions: c.abortedTransactions }).nextOffset;
        if (nextOffsetAfter(view, from) !== expected) differences.push(`${c.name} cut ${cut} from ${from}`);
      }
    }
  }
  expect(differences).toEqual([]);
});

describe("readRecordBatches() on damaged bytes", () => {
  const corrupt = (name: string, at: (bytes: Uint8Array) => void) => {
    const bytes = new Uint8Array(fixture(name).bytes);
    at(bytes);
    return bytes;
  };

  test("a flipped byte fails the CRC-32C check, naming the batch", () => {
    const bytes = corrupt("codec-none", (b) => (b[b.length - 20]! ^= 0x01));
    expect(() => read(bytes, 0)).toThrow(/record batch at offset 0 is corrupt: CRC-32C/);
  });

  test("without crc32c the check is skipped (the option's documented cost trade)", () => {
    const bytes = corrupt("three-batches", (b) => (b[batchStarts(b)[1]! + 17]! ^= 0xff));
    expect(read(bytes, 0, { crc32c: undefined }).records).toHaveLength(15);
  });

  test("a record length that overruns its batch throws instead of reading the next batch's bytes", () => {
    // The first record's length varint, right after the header.
    const bytes = corrupt("three-batches", (b) => {
      b[BATCH_HEADER_BYTES] = 0xfe;
      b[BATCH_HEADER_BYTES + 1] = 0x7f; // zigzag 16,383 bytes
    });
    expect(() => read(bytes, 0, { crc32c: undefined })).toThrow(/record 0 of 5 does not fit its batch/);
  });

  test("message formats before v2 are refused, not misread", () => {
    const bytes = corrupt("three-batches", (b) => (b[16] = 1));
    expect(() => read(bytes, 0, { crc32c: undefined })).toThrow(/message format v1/);
  });

  test("an unknown compression codec is refused", () => {
    const bytes = corrupt("three-batches", (b) => (b[22] = (b[22]! & ~0b111) | 5));
    expect(() => read(bytes, 0, { crc32c: undefined })).toThrow(/unknown compression codec 5/);
  });

  test("an offset beyond 2^53 is refused: offsets are numbers", () => {
    const bytes = corrupt("three-batches", (b) => (b[1] = 0x20));
    expect(() => read(bytes, 0, { crc32c: undefined })).toThrow(RangeError);
  });

  test("a batch length shorter than a header is corrupt", () => {
    const bytes = corrupt("three-batches", (b) => new DataView(b.buffer).setInt32(8, 20));
    expect(() => read(bytes, 0, { crc32c: undefined })).toThrow(/shorter than a batch header/);
  });
});

describe("readRecordBatches() hands over each record's timestamp and headers", () => {
  const utf8 = new TextEncoder();
  const baseMs = 1_767_225_600_000;
  /** Three records: deltas 0, +1,234 ms and +40 days (a varlong past 32 bits); headers on the first two. */
  function batch(): Buffer {
    const set = new RecordSet(1024);
    set.append(baseMs, utf8.encode("k0"), utf8.encode("v0"), encodeHeaders([[utf8.encode("trace"), utf8.encode("abc")], [utf8.encode("trace"), utf8.encode("")]]));
    set.append(baseMs + 1234, null, utf8.encode("v1"), encodeHeaders([[utf8.encode("h"), utf8.encode("1")]]));
    set.append(baseMs + 40 * 86_400_000, utf8.encode("k2"), utf8.encode("v2"), encodeHeaders([]));
    const data = { records: set.records(), count: set.count, firstTimestamp: set.firstTimestamp, maxTimestamp: set.maxTimestamp };
    return encodeRecordBatch(data, { compression: "none", producerId: -1n, producerEpoch: -1, baseSequence: -1 });
  }
  function readAll(bytes: Uint8Array) {
    const seen: { offset: number; timestampMs: number; headers: [string, string | null][] }[] = [];
    readRecordBatches(
      bytes,
      0,
      (offset, data, _vs, _ve, _ks, _ke, timestampMs, headersStart, headersEnd) => {
        const headers = readRecordHeaders(data, headersStart, headersEnd).map(([k, v]): [string, string | null] => [text.decode(k), v === null ? null : text.decode(v)]);
        seen.push({ offset, timestampMs, headers });
      },
      { decompress, crc32c: crc32cOf },
    );
    return seen;
  }

  test("CreateTime: the batch's base timestamp plus each record's delta", () => {
    expect(readAll(batch())).toEqual([
      { offset: 0, timestampMs: baseMs, headers: [["trace", "abc"], ["trace", ""]] },
      { offset: 1, timestampMs: baseMs + 1234, headers: [["h", "1"]] },
      { offset: 2, timestampMs: baseMs + 40 * 86_400_000, headers: [] },
    ]);
  });

  test("LogAppendTime: every record gets the batch's max timestamp, the broker's", () => {
    const bytes = batch();
    bytes[22] = bytes[22]! | 0b1000;
    new DataView(bytes.buffer, bytes.byteOffset).setBigInt64(35, BigInt(baseMs + 99));
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(17, crc32cOf(bytes.subarray(21)));
    expect(readAll(bytes).map((r) => r.timestampMs)).toEqual([baseMs + 99, baseMs + 99, baseMs + 99]);
  });

  test("a producer's missing timestamp (-1) stays -1", () => {
    const bytes = batch();
    new DataView(bytes.buffer, bytes.byteOffset).setBigInt64(27, -1n);
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(17, crc32cOf(bytes.subarray(21)));
    expect(readAll(bytes).map((r) => r.timestampMs)).toEqual([NO_TIMESTAMP, NO_TIMESTAMP, NO_TIMESTAMP]);
  });

  test("readRecordHeaders() keeps a null header value null and refuses headers that overrun the record", () => {
    const bytes = new Uint8Array([2, 2, 0x6b, 1]); // one header: key "k" (length 1), value null (-1)
    expect(readRecordHeaders(bytes, 0, bytes.length)).toEqual([[new Uint8Array([0x6b]), null]]);
    expect(() => readRecordHeaders(new Uint8Array([2, 20]), 0, 2)).toThrow(RangeError);
  });
});

describe("17.11 a bad batch is skipped and reported, or refused in one error when nothing after it can be framed", () => {
  /** A copy of a fixture, damaged by `at`; with `fixCrc` the batch's CRC-32C is recomputed, so only the damage itself is wrong. */
  function damaged(name: string, at: (bytes: Uint8Array, view: DataView, starts: number[]) => void, fixCrc?: number) {
    const bytes = new Uint8Array(fixture(name).bytes);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const starts = batchStarts(bytes);
    at(bytes, view, starts);
    if (fixCrc !== undefined) {
      const start = batchStarts(bytes)[fixCrc]!;
      view.setUint32(start + 17, crc32cOf(bytes.subarray(start + 21, start + 12 + view.getInt32(start + 8))));
    }
    return bytes;
  }
  type Seen = Omit<CorruptBatch, "bytes"> & { bytes: number[] };
  /** Reads with onCorruptBatch: the records' offsets, the batches reported (bytes copied) and where the read ends. */
  function readSkipping(bytes: Uint8Array, fromOffset: number, options: Partial<ReadBatchesOptions> = {}) {
    const offsets: number[] = [];
    const corrupt: Seen[] = [];
    const result = readRecordBatches(bytes, fromOffset, (offset) => void offsets.push(offset), {
      decompress,
      crc32c: crc32cOf,
      onCorruptBatch: (batch) => corrupt.push({ ...batch, bytes: [...batch.bytes] }),
      ...options,
    });
    expect(nextOffsetAfter(bytes, fromOffset)).toBe(result.nextOffset);
    return { offsets, corrupt, nextOffset: result.nextOffset };
  }
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  /** The bytes of batch `i` of `bytes`, as a reported batch carries them. */
  const batchBytes = (bytes: Uint8Array, i: number) => {
    const starts = batchStarts(bytes);
    return [...bytes.subarray(starts[i]!, starts[i + 1] ?? bytes.length)];
  };

  test("17.11 CRC mismatch: the batch is reported with its offsets, reason and bytes, and the batches after it are read", () => {
    const bytes = damaged("three-batches", (b, _v, starts) => (b[starts[1]! + 100]! ^= 0x01));
    const read = readSkipping(bytes, 0);
    expect(read.offsets).toEqual([...range(0, 4), ...range(10, 14)]);
    expect(read.corrupt).toEqual([
      { firstOffset: 5, lastOffset: 9, problem: "crc_mismatch", detail: expect.stringMatching(/^record batch at offset 5 is corrupt: CRC-32C [0-9a-f]+ does not match/), bytes: batchBytes(bytes, 1) },
    ]);
    expect(read.nextOffset).toBe(15);
  });

  test("17.11 CRC mismatch in the last batch of a response: the position moves past it", () => {
    const bytes = damaged("three-batches", (b, _v, starts) => (b[starts[2]! + 100]! ^= 0x01));
    const read = readSkipping(bytes, 0);
    expect({ offsets: read.offsets, corrupt: read.corrupt.map((c) => [c.firstOffset, c.lastOffset, c.problem]), nextOffset: read.nextOffset }).toEqual({
      offsets: range(0, 9),
      corrupt: [[10, 14, "crc_mismatch"]],
      nextOffset: 15,
    });
  });

  test("17.11 CRC mismatch in a header that lies about its last offset: no record after it is skipped", () => {
    // The damage is the lastOffsetDelta itself (CRC-covered): 1,000 instead of 4. The next batch's base offset bounds it.
    const bytes = damaged("three-batches", (_b, v, starts) => v.setInt32(starts[1]! + 23, 1_000));
    const read = readSkipping(bytes, 0);
    expect(read.corrupt.map((c) => [c.firstOffset, c.lastOffset, c.problem])).toEqual([[5, 9, "crc_mismatch"]]);
    expect(read.offsets).toEqual([...range(0, 4), ...range(10, 14)]);
  });

  for (const magic of [0, 1]) {
    test(`17.11 message format v${magic}: the entry is reported and skipped (it names only its own offset)`, () => {
      const bytes = damaged("three-batches", (b, _v, starts) => (b[starts[1]! + 16] = magic));
      const read = readSkipping(bytes, 0);
      expect(read.offsets).toEqual([...range(0, 4), ...range(10, 14)]);
      expect(read.corrupt).toEqual([
        { firstOffset: 5, lastOffset: 5, problem: "unsupported_format", detail: `record batch at offset 5 is corrupt: message format v${magic}; only v2 (Kafka 0.11 and later) is read`, bytes: batchBytes(bytes, 1) },
      ]);
    });
  }

  for (const codec of [5, 6, 7]) {
    test(`17.11 codec ${codec}: the batch is reported as an unknown codec and skipped`, () => {
      const bytes = damaged("three-batches", (b, _v, starts) => (b[starts[1]! + 22] = (b[starts[1]! + 22]! & ~0b111) | codec), 1);
      const read = readSkipping(bytes, 0);
      expect(read.offsets).toEqual([...range(0, 4), ...range(10, 14)]);
      expect(read.corrupt.map((c) => [c.firstOffset, c.lastOffset, c.problem, c.detail])).toEqual([[5, 9, "unknown_codec", `record batch at offset 5 is corrupt: unknown compression codec ${codec}`]]);
    });
  }

  // The compressed block cut short (gzip, snappy, lz4) or scrambled (zstd, which decodes a cut block as far as it goes); CRC recomputed.
  const undecompressable: Record<string, (b: Uint8Array, v: DataView) => Uint8Array> = {
    gzip: cutShort,
    snappy: cutShort,
    lz4: cutShort,
    zstd: (b) => {
      for (let i = 80; i < 90; i++) b[i]! ^= 0x5a;
      return b;
    },
  };
  function cutShort(b: Uint8Array, v: DataView): Uint8Array {
    v.setInt32(8, v.getInt32(8) - 16);
    return b.subarray(0, b.length - 16);
  }
  for (const [codec, damage] of Object.entries(undecompressable)) {
    test(`17.11 failed decompression (${codec}): the batch is reported and skipped, and the same reader goes on with the next batch`, () => {
      const good = fixture(`codec-${codec}`).bytes;
      const base = new Uint8Array(good);
      const bad = damage(base, new DataView(base.buffer));
      new DataView(bad.buffer, bad.byteOffset).setUint32(17, crc32cOf(bad.subarray(21)));
      // The damaged batch, then the intact one renumbered to follow it.
      const next = new Uint8Array(good);
      new DataView(next.buffer).setBigInt64(0, 25n);
      const bytes = new Uint8Array([...bad, ...next]);
      const read = readSkipping(bytes, 0);
      expect(read.corrupt.map((c) => [c.firstOffset, c.lastOffset, c.problem])).toEqual([[0, 24, "decompression_failed"]]);
      expect(read.corrupt[0]!.detail).toStartWith(`record batch at offset 0 is corrupt: its ${codec} records do not decompress: `);
      expect(read.offsets).toEqual(range(25, 49));
      expect(read.nextOffset).toBe(50);
    });
  }

  test("17.11 records that do not fit their batch (the CRC intact): reported as malformed and skipped", () => {
    const bytes = damaged(
      "three-batches",
      (b, _v, starts) => {
        b[starts[1]! + BATCH_HEADER_BYTES] = 0xfe;
        b[starts[1]! + BATCH_HEADER_BYTES + 1] = 0x7f;
      },
      1,
    );
    const read = readSkipping(bytes, 0);
    expect(read.corrupt.map((c) => [c.firstOffset, c.lastOffset, c.problem, c.detail])).toEqual([[5, 9, "malformed_records", "record batch at offset 5 is corrupt: record 0 of 5 does not fit its batch"]]);
    expect(read.offsets).toEqual([...range(0, 4), ...range(10, 14)]);
  });

  test("17.11 a corrupt batch behind fromOffset was dealt with already: it is not reported again", () => {
    const bytes = damaged("three-batches", (b, _v, starts) => (b[starts[0]! + 100]! ^= 0x01));
    expect(readSkipping(bytes, 5)).toEqual({ offsets: range(5, 14), corrupt: [], nextOffset: 15 });
  });

  test("17.11 without onCorruptBatch a corrupt batch throws a CorruptBatchError with its offsets and code", () => {
    const bytes = damaged("three-batches", (b, _v, starts) => (b[starts[1]! + 100]! ^= 0x01));
    const error = (() => {
      try {
        readRecordBatches(bytes, 0, () => {}, { decompress, crc32c: crc32cOf });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(CorruptBatchError);
    const e = error as CorruptBatchError;
    expect({ code: e.code, firstOffset: e.firstOffset, lastOffset: e.lastOffset, problem: e.problem }).toEqual({ code: "CORRUPT_BATCH", firstOffset: 5, lastOffset: 9, problem: "crc_mismatch" });
  });

  test("17.11 offset at or beyond 2^53: an UnreadableBatchError naming the exact offset; nextOffsetAfter() stops before it", () => {
    const bytes = damaged("three-batches", (_b, v, starts) => v.setBigInt64(starts[1]!, 2n ** 53n + 5n));
    const offsets: number[] = [];
    const error = (() => {
      try {
        readRecordBatches(bytes, 0, (offset) => void offsets.push(offset), { decompress, crc32c: crc32cOf, onCorruptBatch: () => {} });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(UnreadableBatchError);
    const e = error as UnreadableBatchError;
    expect({ code: e.code, offset: e.offset, message: e.message }).toEqual({
      code: "UNREADABLE_BATCH",
      offset: 2n ** 53n + 5n,
      message: "record batch at offset 9007199254740997 is unreadable: offsets at or beyond 2^53 cannot be represented here",
    });
    expect(offsets).toEqual(range(0, 4));
    expect(nextOffsetAfter(bytes, 0)).toBe(5);
  });

  test("17.11 a batch length too short to frame anything: an UnreadableBatchError, never a guess at where the next batch starts", () => {
    const bytes = damaged("three-batches", (_b, v, starts) => v.setInt32(starts[1]! + 8, 10));
    expect(() => readRecordBatches(bytes, 0, () => {}, { decompress, crc32c: crc32cOf, onCorruptBatch: () => {} })).toThrow(
      new UnreadableBatchError(5n, "its length 10 is shorter than any batch; nothing after it can be framed"),
    );
    expect(nextOffsetAfter(bytes, 0)).toBe(5);
  });

  test("17.11 a batch that claims an offset behind the batch before it (broken framing): an UnreadableBatchError", () => {
    const bytes = damaged("three-batches", (_b, v, starts) => v.setBigInt64(starts[2]!, 3n));
    expect(() => readRecordBatches(bytes, 0, () => {}, { decompress, crc32c: crc32cOf, onCorruptBatch: () => {} })).toThrow(UnreadableBatchError);
  });

  test("an error thrown by the record handler passes through, never taken for a corrupt batch", () => {
    const bytes = fixture("three-batches").bytes;
    const thrown = new RangeError("the handler's own");
    const reported: CorruptBatch[] = [];
    expect(() =>
      readRecordBatches(
        bytes,
        0,
        () => {
          throw thrown;
        },
        { decompress, crc32c: crc32cOf, onCorruptBatch: (b) => void reported.push(b) },
      ),
    ).toThrow(thrown);
    expect(reported).toEqual([]);
  });
});
