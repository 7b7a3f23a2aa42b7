import { describe, expect, test } from "bun:test";
import { parquetMetadata, readColumnIndex, readOffsetIndex } from "hyparquet";
import type { OrderEvent } from "../event/order-event.ts";
import { Simulator } from "../event/simulator.ts";
import { fileStatistics, summaryStatistics } from "./delta-table.ts";
import { fromParts, LakeColumns, toParts } from "./lake-columns.ts";
import { encodeLakeGroups } from "./lake-encoder.ts";
import { decodeLakeFile, encodeLakeRows, type LakeRow, toLakeRow, validateLakeEvent, validateLakeRecord } from "./schema.ts";

/** Simulated records, half of them re-serialized with another key order (the validator's general path). */
function records(n: number, seed = 3): { value: Uint8Array; timestampMs: number | null }[] {
  const sim = new Simulator({ seed, startMs: Date.UTC(2026, 11, 1, 10), ratePerS: 200, malformedFraction: 0.05 });
  return Array.from({ length: n }, (_, i) => {
    const r = sim.next();
    let value = r.value;
    if (i % 2 === 1) {
      try {
        const parsed = JSON.parse(new TextDecoder().decode(value)) as Record<string, unknown>;
        value = new TextEncoder().encode(JSON.stringify(Object.fromEntries(Object.entries(parsed).reverse()), null, 1));
      } catch {
        // A malformed record stays as it is.
      }
    }
    return { value, timestampMs: i % 7 === 0 ? null : r.emittedAtMs };
  });
}

/** The oracle: each valid record's row through the validator's full event and toLakeRow. */
function rowsOf(input: { value: Uint8Array; timestampMs: number | null }[]): LakeRow[] {
  const rows: LakeRow[] = [];
  input.forEach(({ value, timestampMs }, offset) => {
    const v = validateLakeEvent(value);
    if (v.ok) rows.push(toLakeRow(v.event, v.eventTimeMs, offset % 3, BigInt(offset), timestampMs));
  });
  return rows;
}

/** The writer's way: the lean validator result appended straight into columns. */
function columnsOf(input: { value: Uint8Array; timestampMs: number | null }[]): { columns: LakeColumns; fast: number; general: number } {
  const columns = new LakeColumns();
  let fast = 0;
  let general = 0;
  input.forEach(({ value, timestampMs }, offset) => {
    const v = validateLakeRecord(value, 0, value.length);
    if (!v.ok) return;
    if ("orderIdStart" in v.event) {
      columns.appendFacts(value, v.event as never, v.eventTimeMs, offset % 3, offset, timestampMs);
      fast += 1;
    } else {
      columns.appendEvent(v.event as OrderEvent, v.eventTimeMs, offset % 3, offset, timestampMs);
      general += 1;
    }
  });
  return { columns, fast, general };
}

describe("the lake encoder", () => {
  test("rows appended from the validator's facts, from its general path and from decoded rows give the same file, which reads back as toLakeRow's rows", async () => {
    const input = records(3_000);
    const want = rowsOf(input);
    const { columns, fast, general } = columnsOf(input);
    expect(fast).toBeGreaterThan(1_000);
    expect(general).toBeGreaterThan(1_000);
    const fromFacts = encodeLakeGroups([columns]);
    const fromRows = encodeLakeRows(want);
    expect(Buffer.from(fromFacts.bytes).equals(Buffer.from(fromRows.bytes))).toBe(true);
    expect(await decodeLakeFile(fromFacts.bytes)).toEqual(want);
  });

  test("its summary gives the same Delta statistics as the rows do", () => {
    const input = records(2_000, 8);
    const want = rowsOf(input);
    expect(summaryStatistics(encodeLakeGroups([columnsOf(input).columns]).summary)).toBe(fileStatistics(want));
    // All kafka_timestamp null: no min or max for it, its nulls counted.
    const noTimestamps = want.map((r) => ({ ...r, kafka_timestamp: null }));
    expect(summaryStatistics(encodeLakeRows(noTimestamps).summary)).toBe(fileStatistics(noTimestamps));
  });

  test("many pages and row groups: every row back in order, a page index on created_at and kafka_offset whose pages hold what it says", async () => {
    const want = rowsOf(records(4_000, 5));
    const file = encodeLakeRows(want, { rowGroupRows: 1_500, pageBytes: 2_048 }).bytes;
    expect(await decodeLakeFile(file)).toEqual(want);
    const buffer = file.slice().buffer as ArrayBuffer;
    const meta = parquetMetadata(buffer);
    expect(meta.row_groups.map((g) => Number(g.num_rows))).toEqual([1_500, 1_500, want.length - 3_000]);
    let firstRowOfGroup = 0;
    for (const group of meta.row_groups) {
      const rowsOfGroup = want.slice(firstRowOfGroup, firstRowOfGroup + Number(group.num_rows));
      for (const name of ["created_at", "kafka_offset"] as const) {
        const chunk = group.columns.find((c) => c.meta_data!.path_in_schema[0] === name)!;
        const view = new DataView(buffer);
        const offsets = readOffsetIndex({ view, offset: Number(chunk.offset_index_offset) });
        const index = readColumnIndex({ view, offset: Number(chunk.column_index_offset) }, meta.schema.find((e) => e.name === name)!);
        expect(offsets.page_locations.length).toBeGreaterThan(1);
        expect(offsets.page_locations[0]!.offset).toBe(chunk.meta_data!.data_page_offset);
        offsets.page_locations.forEach((page, i) => {
          const end = Number(offsets.page_locations[i + 1]?.first_row_index ?? group.num_rows);
          const values = rowsOfGroup.slice(Number(page.first_row_index), end).map((r) => (name === "created_at" ? r.created_at.getTime() : r.kafka_offset));
          const min = values.reduce((a, b) => (b < a ? b : a));
          const max = values.reduce((a, b) => (b > a ? b : a));
          const asValue = (v: unknown) => (v instanceof Date ? v.getTime() : v);
          expect([asValue(index.min_values[i]), asValue(index.max_values[i])]).toEqual([min, max]);
        });
      }
      firstRowOfGroup += Number(group.num_rows);
    }
  });

  test("strings beyond ASCII, an order without items and a group holding one row round-trip", async () => {
    const base = rowsOf(records(10, 9))[0]!;
    const rows: LakeRow[] = [
      { ...base, user_id: "ü-Zürich-東京", items: [{ sku: "SKU-é", category: "bücher", qty: 3, unit_price_minor: 5n }] },
      { ...base, event_id: "e-empty", items: [], item_count: 0, kafka_offset: base.kafka_offset + 1n },
    ];
    expect(await decodeLakeFile(encodeLakeRows(rows).bytes)).toEqual(rows);
    expect(await decodeLakeFile(encodeLakeRows([rows[0]!], { rowGroupRows: 1 }).bytes)).toEqual([rows[0]!]);
  });

  test("columns copied as parts (to another thread) encode to the same bytes", () => {
    const { columns } = columnsOf(records(1_000, 11));
    const copy = fromParts(structuredClone(toParts(columns)));
    expect(Buffer.from(encodeLakeGroups([copy]).bytes).equals(Buffer.from(encodeLakeGroups([columns]).bytes))).toBe(true);
  });

  test("a file needs rows", () => {
    expect(() => encodeLakeGroups([new LakeColumns()])).toThrow(RangeError);
  });
});
