import { describe, expect, test } from "bun:test";
import { compactedFileName, hourEndMs, hourPartition, hourStartMs, writerFileName } from "./layout.ts";

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
  test("writer and compacted file names say which run and flush or merge wrote them", () => {
    expect(writerFileName("5a6b7c8d", 17)).toBe("w17-5a6b7c8d.parquet");
    expect(compactedFileName(42, 0, "1f2e3d4c")).toBe("c42-0-1f2e3d4c.parquet");
    expect(() => compactedFileName(42, 0, "../x")).toThrow(RangeError);
  });
  test("writerFileName() refuses a run id that is not 8 hex digits, and flush numbers below 1", () => {
    expect(() => writerFileName("../x", 1)).toThrow(RangeError);
    expect(() => writerFileName("5a6b7c8d", 0)).toThrow(RangeError);
  });
});
