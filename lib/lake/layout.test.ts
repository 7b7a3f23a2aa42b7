import { describe, expect, test } from "bun:test";
import { compactedFileName, hourEndMs, hourPartition, hourStartMs, parseFileName, writerFileName } from "./layout.ts";

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
    expect(parseFileName(writerFileName(3, 1200n, 1399n))).toEqual({ kind: "writer", partition: 3, firstOffset: 1200n, lastOffset: 1399n });
    expect(parseFileName(compactedFileName(42, 0))).toEqual({ kind: "compacted", seq: 42, index: 0 });
  });
  test("parseFileName() ignores temporaries and foreign files", () => {
    expect([parseFileName(".p3-o1-o2.parquet.tmp-x"), parseFileName("part-0000.parquet"), parseFileName("p3-o9-o2.parquet")]).toEqual([undefined, undefined, undefined]);
  });
  test("writerFileName() refuses a range whose last offset precedes its first", () => {
    expect(() => writerFileName(0, 5n, 4n)).toThrow(RangeError);
  });
});
