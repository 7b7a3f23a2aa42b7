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
  test("writer and compacted file names say where their rows came from", () => {
    expect(writerFileName(3, 5, 1200n, 1399n)).toBe("p3-e5-o1200-o1399.parquet");
    expect(compactedFileName(42, 0, "1f2e3d4c")).toBe("c42-0-1f2e3d4c.parquet");
    expect(() => compactedFileName(42, 0, "../x")).toThrow(RangeError);
  });
  test("writerFileName() refuses a range whose last offset precedes its first", () => {
    expect(() => writerFileName(0, 1, 5n, 4n)).toThrow(RangeError);
  });
  test("writerFileName() refuses owner epoch 0: epochs start at 1", () => {
    expect(() => writerFileName(0, 0, 4n, 5n)).toThrow(RangeError);
  });
});
