import { describe, expect, test } from "bun:test";
import { parquetMetadata } from "hyparquet";
import type { OrderEvent } from "../event/order-event.ts";
import { decodeLakeFile, encodeLakeFile, LAKE_COLUMNS, LAKE_SCHEMA, toLakeRow } from "./schema.ts";

const event: OrderEvent = {
  schema_version: 1,
  event_id: "0f8fad5b-d9cb-469f-a165-70867728950e",
  order_id: "o-1",
  user_id: "u-7",
  created_at: "2026-11-28T10:15:00.123Z",
  items: [
    { sku: "SKU-1", category: "books", qty: 2, unit_price_minor: 1_250 },
    { sku: "SKU-2", category: "games", qty: 1, unit_price_minor: 9_007_199 },
  ],
  discount_minor: 100,
  total: { amount_minor: 9_009_599, currency: "JPY" },
  total_usd_cents: 6_100_000,
  country: "JP",
  payment_method: "card",
  channel: "ios",
  status: "paid",
};
const eventTimeMs = Date.UTC(2026, 10, 28, 10, 15, 0, 123);

describe("lake schema", () => {
  test("toLakeRow() keeps money as exact integers with its currency and adds the lineage", () => {
    expect(toLakeRow(event, eventTimeMs, 4, 123_456_789_012n, eventTimeMs + 5)).toEqual({
      event_id: event.event_id, order_id: "o-1", user_id: "u-7", created_at: new Date(eventTimeMs), currency: "JPY",
      total_minor: 9_009_599n, discount_minor: 100n, total_usd_cents: 6_100_000n, country: "JP", payment_method: "card",
      channel: "ios", status: "paid", item_count: 2,
      items: [{ sku: "SKU-1", category: "books", qty: 2, unit_price_minor: 1_250n }, { sku: "SKU-2", category: "games", qty: 1, unit_price_minor: 9_007_199n }],
      schema_version: 1, kafka_partition: 4, kafka_offset: 123_456_789_012n, kafka_timestamp: new Date(eventTimeMs + 5),
    });
  });
  test("encodeLakeFile() round-trips rows through Parquet unchanged", async () => {
    const rows = [toLakeRow(event, eventTimeMs, 0, 0n, eventTimeMs + 9), toLakeRow({ ...event, event_id: "e-2", items: [event.items[0]!] }, eventTimeMs + 1, 0, 1n, null)];
    expect(await decodeLakeFile(encodeLakeFile(rows))).toEqual(rows);
  });
  test("decodeLakeFile() reads a file written before kafka_timestamp with the column null", async () => {
    // Such a file: the schema without its last column.
    const { parquetWrite, ByteWriter } = await import("hyparquet-writer");
    const row = toLakeRow(event, eventTimeMs, 0, 0n);
    const columns = LAKE_COLUMNS.filter((c) => c !== "kafka_timestamp");
    const writer = new ByteWriter();
    parquetWrite({
      writer,
      schema: [{ name: "schema", num_children: columns.length }, ...LAKE_SCHEMA.slice(1, -1)],
      columnData: columns.map((name) => ({ name, data: [row[name]] })) as never,
    });
    expect(await decodeLakeFile(writer.getBytes())).toEqual([{ ...row, kafka_timestamp: null }]);
  });
  test("encodeLakeFile() writes ZSTD pages (a row group under 64 rows uncompressed), UTC millisecond timestamps and min/max statistics", async () => {
    const rows = Array.from({ length: 64 }, (_, i) => toLakeRow(event, eventTimeMs + i, 0, BigInt(7 + i)));
    const meta = parquetMetadata(encodeLakeFile(rows).slice().buffer as ArrayBuffer);
    const chunks = meta.row_groups[0]!.columns.map((c) => c.meta_data!);
    expect(new Set(chunks.map((c) => c.codec))).toEqual(new Set(["ZSTD"]));
    const few = encodeLakeFile(rows.slice(0, 63));
    expect(new Set(parquetMetadata(few.slice().buffer as ArrayBuffer).row_groups[0]!.columns.map((c) => c.meta_data!.codec))).toEqual(new Set(["UNCOMPRESSED"]));
    expect(await decodeLakeFile(few)).toEqual(rows.slice(0, 63));
    expect(meta.schema.find((e) => e.name === "created_at")!.logical_type).toEqual({ type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MILLIS" });
    const createdAt = chunks.find((c) => c.path_in_schema[0] === "created_at")!;
    expect(createdAt.statistics?.min_value).toEqual(new Date(eventTimeMs));
  });
  test("encodeLakeFile() refuses to write a file without rows", () => {
    expect(() => encodeLakeFile([])).toThrow(RangeError);
  });
});
