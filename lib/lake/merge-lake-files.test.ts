import { describe, expect, test } from "bun:test";
import { parquetMetadata, readOffsetIndex } from "hyparquet";
import { Simulator } from "../event/simulator.ts";
import { mergeLakeFiles } from "./merge-lake-files.ts";
import { decodeLakeFile, encodeLakeRows, type LakeRow, toLakeRow, validateLakeEvent } from "./schema.ts";

function rows(n: number, seed: number, partition: number): LakeRow[] {
  const sim = new Simulator({ seed, startMs: Date.UTC(2026, 11, 1, 10), ratePerS: 500, malformedFraction: 0 });
  const out: LakeRow[] = [];
  for (let offset = 0; out.length < n; offset++) {
    const r = sim.next();
    const v = validateLakeEvent(r.value);
    if (v.ok) out.push(toLakeRow(v.event, v.eventTimeMs, partition, BigInt(offset), offset % 5 === 0 ? null : r.emittedAtMs));
  }
  return out;
}

const key = (r: LakeRow) => `${r.kafka_partition}@${r.kafka_offset}`;

describe("mergeLakeFiles()", () => {
  test("copies large row groups byte for byte, encodes the small ones again sorted by time, and loses or doubles no row", async () => {
    const large = [rows(3_000, 1, 0), rows(2_500, 2, 1)];
    const small = [rows(40, 3, 2), rows(7, 4, 3), rows(1, 5, 4)];
    // One input mixes both: a large group and a small one in one file.
    const mixed = [...rows(2_000, 6, 5), ...rows(30, 7, 6)];
    const files = [
      ...large.map((r) => encodeLakeRows(r, { pageBytes: 4_096 }).bytes),
      ...small.map((r) => encodeLakeRows(r).bytes),
      encodeLakeRows(mixed, { rowGroupRows: 2_000 }).bytes,
    ];
    const merged = await mergeLakeFiles(files, { copyMinRows: 1_000 });
    expect(merged.copiedGroups).toBe(3);
    expect(merged.rewrittenRows).toBe(40 + 7 + 1 + 30);
    const all = [...large.flat(), ...small.flat(), ...mixed];
    const back = await decodeLakeFile(merged.bytes);
    expect(merged.rows).toBe(all.length);
    expect(back.map(key).sort()).toEqual(all.map(key).sort());
    const byKey = new Map(all.map((r) => [key(r), r]));
    for (const row of back) expect(row).toEqual(byKey.get(key(row))!);
    // The copied groups first, as they were; then the rewritten rows, by event time.
    expect(back.slice(0, 3_000)).toEqual(large[0]!);
    const rewritten = back.slice(all.length - merged.rewrittenRows).map((r) => r.created_at.getTime());
    expect(rewritten).toEqual([...rewritten].sort((a, b) => a - b));
  });

  test("a copied group keeps its statistics and a page index that points at its pages in the new file", async () => {
    const input = rows(3_000, 8, 0);
    const file = encodeLakeRows(input, { pageBytes: 2_048 }).bytes;
    const merged = await mergeLakeFiles([encodeLakeRows(rows(5, 9, 1)).bytes, file], { copyMinRows: 1_000 });
    const before = parquetMetadata(file.slice().buffer as ArrayBuffer).row_groups[0]!;
    const buffer = merged.bytes.slice().buffer as ArrayBuffer;
    const after = parquetMetadata(buffer).row_groups[0]!; // the copied group comes first
    expect(after.columns.map((c) => c.meta_data!.statistics)).toEqual(before.columns.map((c) => c.meta_data!.statistics));
    const createdAt = after.columns.find((c) => c.meta_data!.path_in_schema[0] === "created_at")!;
    const pages = readOffsetIndex({ view: new DataView(buffer), offset: Number(createdAt.offset_index_offset) }).page_locations;
    expect(pages.length).toBeGreaterThan(1);
    expect(pages[0]!.offset).toBe(createdAt.meta_data!.data_page_offset);
    const last = pages.at(-1)!;
    expect(Number(last.offset) + last.compressed_page_size).toBe(Number(createdAt.meta_data!.data_page_offset) + Number(createdAt.meta_data!.total_compressed_size));
  });

  test("SNAPPY files (the lake before ZSTD) merge with ZSTD ones: copied groups keep their codec, rewritten rows are ZSTD", async () => {
    const old = rows(3_000, 10, 0);
    const recent = rows(2_000, 11, 1);
    const few = rows(70, 12, 2);
    const files = [encodeLakeRows(old, { codec: "SNAPPY" }).bytes, encodeLakeRows(recent).bytes, encodeLakeRows(few, { codec: "SNAPPY" }).bytes];
    const merged = await mergeLakeFiles(files, { copyMinRows: 1_000 });
    expect(merged.copiedGroups).toBe(2);
    const codecs = parquetMetadata(merged.bytes.slice().buffer as ArrayBuffer).row_groups.map((g) => [...new Set(g.columns.map((c) => c.meta_data!.codec))]);
    expect(codecs).toEqual([["SNAPPY"], ["ZSTD"], ["ZSTD"]]);
    const back = await decodeLakeFile(merged.bytes);
    expect(back.map(key).sort()).toEqual([...old, ...recent, ...few].map(key).sort());
    expect(back.slice(0, 3_000)).toEqual(old);
  });
});
