import { describe, expect, test } from "bun:test";
import { compactedFileName, hourEndMs, hourPartition, hourStartMs, offsetsEntryPath, parseFileName, parseOffsetsEntryName, parseOffsetsName, writerFileName } from "./layout.ts";

describe("lake layout", () => {
  test("hourPartition() names the UTC date and zero-padded hour of an event time", () => {
    expect(hourPartition(Date.UTC(2026, 10, 28, 7, 59, 59, 999))).toBe("dt=2026-11-28/hour=07");
  });
  test("hourPartition() puts an event on the hour boundary into the later hour", () => {
    expect(hourPartition(Date.UTC(2026, 10, 28, 8))).toBe("dt=2026-11-28/hour=08");
  });
  test("hourStartMs() and hourEndMs() bound the hour; other names give undefined", () => {
    expect([hourStartMs("dt=2026-11-28/hour=23"), hourEndMs("dt=2026-11-28/hour=23")]).toEqual([Date.UTC(2026, 10, 28, 23), Date.UTC(2026, 10, 29, 0)]);
    expect([hourStartMs("dt=2026-11-28/hour=24"), hourStartMs("dt=2026-02-30/hour=00"), hourStartMs("dt=2026-11-28/hour=7")]).toEqual([undefined, undefined, undefined]);
  });
  test("writer and compacted file names parse back to what they were made from", () => {
    expect(writerFileName(3, 5, 1200n, 1399n)).toBe("p3-e5-o1200-o1399.parquet");
    expect(parseFileName(writerFileName(3, 5, 1200n, 1399n))).toEqual({ kind: "writer", partition: 3, epoch: 5, firstOffset: 1200n, lastOffset: 1399n });
    expect(parseFileName(compactedFileName(42, 0))).toEqual({ kind: "compacted", seq: 42, index: 0 });
  });
  test("a writer file name without an owner epoch (a lake from before epochs) parses as epoch 0", () => {
    expect(parseFileName("p3-o1200-o1399.parquet")).toEqual({ kind: "writer", partition: 3, epoch: 0, firstOffset: 1200n, lastOffset: 1399n });
  });
  test("parseFileName() ignores temporaries and foreign files", () => {
    expect([parseFileName(".p3-o1-o2.parquet.tmp-x"), parseFileName("part-0000.parquet"), parseFileName("p3-o9-o2.parquet"), parseFileName("p3-e0-o1-o2.parquet")]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
  test("writerFileName() refuses a range whose last offset precedes its first", () => {
    expect(() => writerFileName(0, 1, 5n, 4n)).toThrow(RangeError);
  });
  test("writerFileName() refuses owner epoch 0, which only names from before epochs have", () => {
    expect(() => writerFileName(0, 0, 4n, 5n)).toThrow(RangeError);
  });
  test("offsets log entries are named by a zero-padded seq that parses back", () => {
    expect(offsetsEntryPath(3, 42)).toBe("_offsets/partition-3/000000000042.json");
    expect([parseOffsetsEntryName("000000000042.json"), parseOffsetsEntryName(".000000000042.json.tmp-x"), parseOffsetsEntryName("42.json")]).toEqual([42, undefined, undefined]);
    expect([parseOffsetsName("partition-3"), parseOffsetsName("partition-3.json"), parseOffsetsName(".partition-3.json.tmp-x")]).toEqual([3, 3, undefined]);
  });
});
