import { describe, expect, test } from "bun:test";
import { addFileAction, createTableActions, fileStatistics, LAKE_TABLE_SCHEMA, partitionValuesOf } from "./delta-table.ts";
import { LAKE_COLUMNS, type LakeRow } from "./schema.ts";

const row = (offset: bigint, createdAt: string, usd: bigint, kafkaTimestamp: string | null): LakeRow => ({
  event_id: `e-${offset}`,
  order_id: `o-${offset}`,
  user_id: "u-1",
  created_at: new Date(createdAt),
  currency: "USD",
  total_minor: usd,
  discount_minor: 0n,
  total_usd_cents: usd,
  country: "US",
  payment_method: "card",
  channel: "web",
  status: "paid",
  item_count: 1,
  items: [{ sku: "SKU-1", category: "books", qty: 1, unit_price_minor: usd }],
  schema_version: 1,
  kafka_partition: 2,
  kafka_offset: offset,
  kafka_timestamp: kafkaTimestamp === null ? null : new Date(kafkaTimestamp),
});

describe("the lake's table in Delta's terms", () => {
  test("the schema has every data column in file order, then the partition columns; only kafka_timestamp is nullable", () => {
    expect(LAKE_TABLE_SCHEMA.fields.map((f) => f.name)).toEqual([...LAKE_COLUMNS, "dt", "hour"]);
    expect(LAKE_TABLE_SCHEMA.fields.filter((f) => f.nullable).map((f) => f.name)).toEqual(["kafka_timestamp"]);
    const [, protocol, { metaData }] = createTableActions("id-1", 5) as [unknown, unknown, { metaData: { schemaString: string; partitionColumns: string[] } }];
    expect(protocol).toEqual({ protocol: { minReaderVersion: 1, minWriterVersion: 2 } });
    expect(JSON.parse(metaData.schemaString)).toEqual(LAKE_TABLE_SCHEMA);
    expect(metaData.partitionColumns).toEqual(["dt", "hour"]);
  });

  test("partition values come from the hour directory: a date and an hour without its leading zero", () => {
    expect(partitionValuesOf("dt=2026-12-02/hour=03/p1-e1-o0-o9.parquet")).toEqual({ dt: "2026-12-02", hour: "3" });
    expect(partitionValuesOf("dt=2026-12-02/hour=23/c4-0.parquet")).toEqual({ dt: "2026-12-02", hour: "23" });
    expect(() => partitionValuesOf("p1-e1-o0-o9.parquet")).toThrow("is not in an hour partition");
    expect(() => partitionValuesOf("dt=2026-13-02/hour=03/x.parquet")).toThrow("is not in an hour partition");
  });

  test("statistics: row count, exact bounds of numbers (beyond 2^53 too) and timestamps, nulls counted", () => {
    const big = 2n ** 60n + 1n;
    const stats = fileStatistics([
      row(7n, "2026-12-02T03:10:00.000Z", 500n, "2026-12-02T03:10:01.000Z"),
      row(9n, "2026-12-02T03:05:00.001Z", big, null),
      row(8n, "2026-12-02T03:59:59.999Z", 1n, "2026-12-02T04:00:00.000Z"),
    ]);
    expect(stats).toContain(`"total_usd_cents":${big}`);
    const parsed = JSON.parse(stats);
    expect(parsed.numRecords).toBe(3);
    expect(parsed.minValues).toMatchObject({ kafka_offset: 7, created_at: "2026-12-02T03:05:00.001Z", kafka_timestamp: "2026-12-02T03:10:01.000Z", total_usd_cents: 1 });
    expect(parsed.maxValues).toMatchObject({ kafka_offset: 9, created_at: "2026-12-02T03:59:59.999Z", kafka_timestamp: "2026-12-02T04:00:00.000Z" });
    expect(parsed.nullCount).toMatchObject({ kafka_timestamp: 1, created_at: 0, event_id: 0 });
    expect(Object.keys(parsed.minValues)).not.toContain("event_id"); // no string bounds
    expect(Object.keys(parsed.nullCount)).not.toContain("items");
  });

  test("an add action carries the path, its partition values, size, dataChange and the statistics", () => {
    const rows = [row(1n, "2026-12-02T03:10:00.000Z", 5n, null)];
    const add = addFileAction("dt=2026-12-02/hour=03/p2-e1-o1-o1.parquet", 1234, rows, { modificationTime: 99, dataChange: false });
    expect(add).toEqual({
      path: "dt=2026-12-02/hour=03/p2-e1-o1-o1.parquet",
      partitionValues: { dt: "2026-12-02", hour: "3" },
      size: 1234,
      modificationTime: 99,
      dataChange: false,
      stats: fileStatistics(rows),
    });
  });
});
