/**
 * The lake's table, `orders`: one row per valid Kafka record of the orders topic, the order's
 * items nested in a LIST of STRUCT column, and the record's lineage (`kafka_partition`,
 * `kafka_offset`, `kafka_timestamp`). docs/lake.md explains each choice; in short:
 *
 * - every column REQUIRED (the validator guarantees each field) but `kafka_timestamp`, which rows
 *   written before the lake recorded it lack (null);
 * - `kafka_timestamp` is the record's timestamp in Kafka (its CreateTime, or the broker's
 *   LogAppendTime), the time the aggregator judges an event's age against: with it a replay of
 *   the lake can apply the aggregator's time bounds exactly (the lake itself keeps every valid
 *   event, whatever its time);
 * - `created_at` is a Parquet TIMESTAMP(MILLIS, isAdjustedToUTC = true): an instant, read as
 *   TIMESTAMP WITH TIME ZONE by DuckDB and timestamp[ms, tz=UTC] by Arrow;
 * - money as INT64 minor units next to its currency (exact, and JPY has no cents, so a DECIMAL
 *   with one scale would not fit every currency); `total_usd_cents` for sums across currencies;
 * - ZSTD pages (level 1): every engine reads them, hyparquet with lib/lake/compressors.ts (the
 *   lake's files before issue 20's step 3 are SNAPPY, and read the same); statistics on every
 *   column; a page index on `created_at` and `kafka_offset`. lib/lake/lake-encoder.ts writes
 *   the files, from columns (lib/lake/lake-columns.ts), not row objects.
 *
 * Pure: bytes in, bytes out. The dt/hour Hive partition columns live in the path only.
 */
import { parquetReadObjects } from "hyparquet";
import { LAKE_COMPRESSORS } from "./compressors.ts";
import type { parquetWrite } from "hyparquet-writer";
import type { OrderEvent } from "../event/order-event.ts";
import { type CountingResult, type ValidateOptions, type ValidationResult, validateForCopying, validateOrder } from "../event/validate-order.ts";
import { LakeRowGroups } from "./lake-columns.ts";
import { encodeLakeGroups, type EncodedLakeFile } from "./lake-encoder.ts";

/** A row as hyparquet reads it back: INT64 as bigint, the timestamp as a Date. */
export interface LakeRow {
  event_id: string;
  order_id: string;
  user_id: string;
  created_at: Date;
  currency: string;
  total_minor: bigint;
  discount_minor: bigint;
  total_usd_cents: bigint;
  country: string;
  payment_method: string;
  channel: string;
  status: string;
  item_count: number;
  items: LakeItem[];
  schema_version: number;
  kafka_partition: number;
  kafka_offset: bigint;
  /** The record's Kafka timestamp; null (or absent) in rows written before the lake recorded it. */
  kafka_timestamp?: Date | null;
}

/** hyparquet-writer's schema element type (it bundles its own hyparquet types). */
type SchemaElement = NonNullable<Parameters<typeof parquetWrite>[0]["schema"]>[number];

export interface LakeItem {
  sku: string;
  category: string;
  qty: number;
  unit_price_minor: bigint;
}

const string = (name: string): SchemaElement => ({ name, type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" });
const int64 = (name: string): SchemaElement => ({ name, type: "INT64", repetition_type: "REQUIRED" });
const int32 = (name: string): SchemaElement => ({ name, type: "INT32", repetition_type: "REQUIRED" });

/** The top-level columns, in file order. */
export const LAKE_COLUMNS = [
  "event_id",
  "order_id",
  "user_id",
  "created_at",
  "currency",
  "total_minor",
  "discount_minor",
  "total_usd_cents",
  "country",
  "payment_method",
  "channel",
  "status",
  "item_count",
  "items",
  "schema_version",
  "kafka_partition",
  "kafka_offset",
  "kafka_timestamp",
] as const satisfies readonly (keyof LakeRow)[];

/** The Parquet schema (flattened, depth-first, as the format stores it). */
export const LAKE_SCHEMA: SchemaElement[] = [
  { name: "schema", num_children: LAKE_COLUMNS.length },
  string("event_id"),
  string("order_id"),
  string("user_id"),
  {
    name: "created_at",
    type: "INT64",
    repetition_type: "REQUIRED",
    converted_type: "TIMESTAMP_MILLIS",
    logical_type: { type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MILLIS" },
  },
  string("currency"),
  int64("total_minor"),
  int64("discount_minor"),
  int64("total_usd_cents"),
  string("country"),
  string("payment_method"),
  string("channel"),
  string("status"),
  int32("item_count"),
  // The standard three-level LIST (parquet-format LogicalTypes.md), which every engine reads as list<struct>.
  { name: "items", repetition_type: "REQUIRED", converted_type: "LIST", logical_type: { type: "LIST" }, num_children: 1 },
  { name: "list", repetition_type: "REPEATED", num_children: 1 },
  { name: "element", repetition_type: "REQUIRED", num_children: 4 },
  string("sku"),
  string("category"),
  int32("qty"),
  int64("unit_price_minor"),
  int32("schema_version"),
  int32("kafka_partition"),
  int64("kafka_offset"),
  {
    name: "kafka_timestamp",
    type: "INT64",
    repetition_type: "OPTIONAL",
    converted_type: "TIMESTAMP_MILLIS",
    logical_type: { type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MILLIS" },
  },
];

/** Every rule of the validator but its time bounds: the lake judges an event by itself, never by a clock. */
const EVENT_RULES_ONLY: ValidateOptions = { nowMs: 0, maxFutureMs: Number.POSITIVE_INFINITY, maxPastMs: Number.POSITIVE_INFINITY };

/**
 * Whether the lake keeps a record: lib/event/validate-order.ts's verdict with every rule but the
 * time bounds (how old an event is, or how far ahead, is the hot path's concern). The same
 * for every writer, whenever it runs: it reads no clock.
 */
export function validateLakeEvent(value: Uint8Array): ValidationResult {
  return validateOrder(value, EVENT_RULES_ONLY);
}

/**
 * `validateLakeEvent` of the record in `bytes[start, end)`, as the lake writer needs it: a valid
 * event in the producer's canonical encoding comes back as the validator's reused
 * CanonicalFacts (byte ranges, its event_id and user_id strings left empty, no new objects;
 * `"orderIdStart" in result.event` tells), any other
 * valid one as its OrderEvent. Read the result before the next call.
 */
export function validateLakeRecord(bytes: Uint8Array, start: number, end: number): CountingResult {
  return validateForCopying(bytes, start, end, EVENT_RULES_ONLY);
}

/** The row of one valid event read from `partition` at `offset`, whose Kafka timestamp was `timestampMs` (null: unknown). */
export function toLakeRow(event: OrderEvent, eventTimeMs: number, partition: number, offset: bigint, timestampMs: number | null = null): LakeRow {
  return {
    event_id: event.event_id,
    order_id: event.order_id,
    user_id: event.user_id,
    created_at: new Date(eventTimeMs),
    currency: event.total.currency,
    total_minor: BigInt(event.total.amount_minor),
    discount_minor: BigInt(event.discount_minor),
    total_usd_cents: BigInt(event.total_usd_cents),
    country: event.country,
    payment_method: event.payment_method,
    channel: event.channel,
    status: event.status,
    item_count: event.items.length,
    items: event.items.map((i) => ({ sku: i.sku, category: i.category, qty: i.qty, unit_price_minor: BigInt(i.unit_price_minor) })),
    schema_version: event.schema_version,
    kafka_partition: partition,
    kafka_offset: offset,
    kafka_timestamp: timestampMs === null ? null : new Date(timestampMs),
  };
}

export interface EncodeOptions {
  /** Rows per row group. Default 131,072: about 5 MB of ZSTD pages per group for these rows. */
  rowGroupRows?: number;
  /** Target uncompressed page size, bytes; smaller pages let the page index skip more. Default 256 KiB. */
  pageBytes?: number;
  /** The pages' compression (lib/lake/lake-encoder.ts's LakeEncodeOptions). Default ZSTD. */
  codec?: "ZSTD" | "SNAPPY";
}

/** One Parquet file holding `rows`, in the order given, with what Delta's `add` records of it. Throws a RangeError for no rows. */
export function encodeLakeRows(rows: readonly LakeRow[], options: EncodeOptions = {}): EncodedLakeFile {
  const groups = new LakeRowGroups(options.rowGroupRows ?? 131_072);
  for (const row of rows) groups.current().appendRow(row);
  return encodeLakeGroups(groups.groups, { pageBytes: options.pageBytes, codec: options.codec });
}

/**
 * One Parquet file holding `rows`, in the order given. Throws a RangeError for no rows (a lake
 * file always holds at least one).
 */
export function encodeLakeFile(rows: readonly LakeRow[], options: EncodeOptions = {}): Uint8Array {
  return encodeLakeRows(rows, options).bytes;
}

/** Every row of a lake file, in file order (`kafka_timestamp` null where the file has none). */
export async function decodeLakeFile(bytes: Uint8Array): Promise<LakeRow[]> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const rows = (await parquetReadObjects({ file, compressors: LAKE_COMPRESSORS })) as LakeRow[];
  for (const row of rows) row.kafka_timestamp ??= null;
  return rows;
}
