import { describe, expect, test } from "bun:test";
import { planCompactions } from "./compaction-plan.ts";

const H7 = "dt=2026-11-28/hour=07";
const H8 = "dt=2026-11-28/hour=08";
const options = { nowMs: Date.UTC(2026, 10, 28, 9, 5), closeAfterMs: 10 * 60_000, targetBytes: 1_000, minFiles: 2 };
const f = (hour: string, name: string, bytes: number) => ({ path: `${hour}/${name}`, bytes });

describe("planCompactions()", () => {
  test("merges the small files of a closed hour and leaves an hour that is not closed yet", () => {
    const files = [f(H7, "p0-o0-o1.parquet", 100), f(H7, "p1-o0-o1.parquet", 100), f(H8, "p0-o2-o3.parquet", 100), f(H8, "p1-o2-o3.parquet", 100)];
    expect(planCompactions(files, options)).toEqual([{ hour: H7, inputs: [files[0]!, files[1]!] }]);
  });
  test("leaves files of half the target or more alone", () => {
    const files = [f(H7, "c1-0.parquet", 500), f(H7, "p0-o0-o1.parquet", 100), f(H7, "p1-o0-o1.parquet", 100)];
    expect(planCompactions(files, options)).toEqual([{ hour: H7, inputs: [files[1]!, files[2]!] }]);
  });
  test("packs small files into groups of at most the target size", () => {
    const files = ["a", "b", "c", "d", "e"].map((n) => f(H7, `p0-o${n.charCodeAt(0)}-o${n.charCodeAt(0)}.parquet`, 400));
    expect(planCompactions(files, options).map((p) => p.inputs.length)).toEqual([2, 2]);
  });
  test("a single small file is not worth a compaction", () => {
    expect(planCompactions([f(H7, "p0-o0-o1.parquet", 100)], options)).toEqual([]);
  });
});
