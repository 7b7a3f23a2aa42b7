import { describe, expect, test } from "bun:test";
import type { LakeRow } from "../../lib/lake/schema.ts";
import { checkLakeRows, type ExpectedRecord } from "./lake-invariants.ts";

const row = (partition: number, offset: bigint, eventId: string) => ({ kafka_partition: partition, kafka_offset: offset, event_id: eventId }) as LakeRow;
const expected: ExpectedRecord[] = [
  { partition: 0, offset: 0n, eventId: "a" },
  { partition: 0, offset: 2n, eventId: "b" },
  { partition: 1, offset: 0n, eventId: "c" },
];

describe("checkLakeRows()", () => {
  test("accepts exactly the expected records in any order", () => {
    expect(checkLakeRows([row(1, 0n, "c"), row(0, 2n, "b"), row(0, 0n, "a")], expected)).toEqual([]);
  });
  test("reports a record stored twice", () => {
    expect(checkLakeRows([row(0, 0n, "a"), row(0, 0n, "a"), row(0, 2n, "b"), row(1, 0n, "c")], expected)).toEqual(["record 0@0 (a) is in the lake more than once"]);
  });
  test("reports a missing record", () => {
    expect(checkLakeRows([row(0, 0n, "a"), row(1, 0n, "c")], expected)).toEqual(["1 expected record(s) are missing from the lake, e.g. 0@2"]);
  });
  test("reports a record that is not expected, and a wrong event at a known offset", () => {
    expect(checkLakeRows([row(0, 0n, "x"), row(0, 1n, "y"), row(0, 2n, "b"), row(1, 0n, "c")], expected)).toEqual([
      "record 0@0 holds event x, expected a",
      "record 0@1 (y) is in the lake but not expected",
    ]);
  });
  test("with offsets, expects only the records below them", () => {
    expect(checkLakeRows([row(0, 0n, "a")], expected, new Map([[0, 1n]]))).toEqual([]);
  });
});
