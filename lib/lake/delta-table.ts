/**
 * The lake's `orders` table in Delta's terms: its schema (lib/lake/schema.ts's columns, in Delta's
 * JSON schema form, plus the partition columns `dt` (date) and `hour` (integer), which live in the
 * log's partition values and the directory names, not in the files), the actions that create it,
 * and the `add` action of a data file with its statistics.
 *
 * Statistics: `numRecords`, and `minValues` / `maxValues` / `nullCount` for the top-level
 * numeric and timestamp columns, the ones queries filter on (string bounds are left out: Delta
 * compares strings as UTF-8 bytes, and a wrong bound would make an engine skip a file it needs).
 * Engines use them to skip files, so they are computed from the very rows the file holds.
 */
import { stringifyWithBigInts } from "../runtime/json-integers.ts";
import type { AddAction, DeltaAction, MetadataAction, ProtocolAction } from "./delta-log.ts";
import { hourStartMs } from "./layout.ts";
import type { LakeFileSummary } from "./lake-encoder.ts";
import { LAKE_COLUMNS, type LakeRow } from "./schema.ts";

/** Reader version 1, writer version 2: no table features, so every Delta reader can read it. */
export const LAKE_PROTOCOL: ProtocolAction = { minReaderVersion: 1, minWriterVersion: 2 };

export const PARTITION_COLUMNS = ["dt", "hour"] as const;

type DeltaType = string | { type: "array"; elementType: DeltaType; containsNull: boolean } | { type: "struct"; fields: DeltaField[] };
interface DeltaField {
  name: string;
  type: DeltaType;
  nullable: boolean;
  metadata: Record<string, never>;
}

const field = (name: string, type: DeltaType, nullable = false): DeltaField => ({ name, type, nullable, metadata: {} });

/** Delta's type of each data column, in file order (lib/lake/schema.ts's LAKE_SCHEMA). */
const COLUMN_TYPES: Record<(typeof LAKE_COLUMNS)[number], DeltaType> = {
  event_id: "string",
  order_id: "string",
  user_id: "string",
  created_at: "timestamp",
  currency: "string",
  total_minor: "long",
  discount_minor: "long",
  total_usd_cents: "long",
  country: "string",
  payment_method: "string",
  channel: "string",
  status: "string",
  item_count: "integer",
  items: {
    type: "array",
    elementType: {
      type: "struct",
      fields: [field("sku", "string"), field("category", "string"), field("qty", "integer"), field("unit_price_minor", "long")],
    },
    containsNull: false,
  },
  schema_version: "integer",
  kafka_partition: "integer",
  kafka_offset: "long",
  kafka_timestamp: "timestamp",
};

/** The table's schema as Delta's `schemaString` holds it. */
export const LAKE_TABLE_SCHEMA = {
  type: "struct",
  fields: [
    ...LAKE_COLUMNS.map((name) => field(name, COLUMN_TYPES[name], name === "kafka_timestamp")),
    field("dt", "date"),
    field("hour", "integer"),
  ],
};

/** The columns with statistics: top-level numbers and timestamps. */
const STATS_COLUMNS = LAKE_COLUMNS.filter((name) => ["long", "integer", "timestamp"].includes(COLUMN_TYPES[name] as string));

/** The table property naming the Kafka topic whose events the table holds. */
export const TOPIC_PROPERTY = "orderpulse.topic";

/**
 * The actions of version 0: protocol, metadata (table id `tableId`; `topic`, when given, recorded
 * as the table property {@link TOPIC_PROPERTY}), and what created it.
 */
export function createTableActions(tableId: string, nowMs: number, topic?: string): DeltaAction[] {
  const metaData: MetadataAction = {
    id: tableId,
    name: "orders",
    description: "orderpulse: one row per valid order event of the orders topic (docs/lake.md)",
    format: { provider: "parquet", options: {} },
    schemaString: JSON.stringify(LAKE_TABLE_SCHEMA),
    partitionColumns: [...PARTITION_COLUMNS],
    configuration: topic === undefined ? {} : { [TOPIC_PROPERTY]: topic },
    createdTime: nowMs,
  };
  return [
    { commitInfo: { timestamp: nowMs, operation: "CREATE TABLE", operationParameters: {}, engineInfo: "orderpulse", isBlindAppend: true } },
    { protocol: LAKE_PROTOCOL },
    { metaData },
  ];
}

/** `{dt: "2026-12-02", hour: "3"}` for a file under `dt=2026-12-02/hour=03/`. Throws for a path outside an hour partition. */
export function partitionValuesOf(path: string): Record<"dt" | "hour", string> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  const start = hourStartMs(dir);
  if (start === undefined) throw new RangeError(`${JSON.stringify(path)} is not in an hour partition (dt=YYYY-MM-DD/hour=HH/)`);
  const iso = new Date(start).toISOString();
  return { dt: iso.slice(0, 10), hour: String(Number(iso.slice(11, 13))) };
}

/**
 * The `add` action of the data file at `path` (in its hour partition), `size` bytes long,
 * holding `rows`. `dataChange` is false for a compaction's output (the same rows, rearranged).
 * The statistics come from the rows, or from the encoder's summary of them
 * (lib/lake/lake-encoder.ts): the same JSON.
 */
export function addFileAction(
  path: string,
  size: number,
  rows: readonly LakeRow[] | LakeFileSummary,
  options: { modificationTime: number; dataChange: boolean },
): AddAction {
  return {
    path: encodeURI(path),
    partitionValues: partitionValuesOf(path),
    size,
    modificationTime: options.modificationTime,
    dataChange: options.dataChange,
    stats: Array.isArray(rows) ? fileStatistics(rows) : summaryStatistics(rows as LakeFileSummary),
  };
}

/** {@link fileStatistics} from an encoder's summary instead of the rows. */
export function summaryStatistics(summary: LakeFileSummary): string {
  const minValues: Record<string, unknown> = {};
  const maxValues: Record<string, unknown> = {};
  const nullCount: Record<string, number> = {};
  for (const name of LAKE_COLUMNS) {
    if (COLUMN_TYPES[name] !== "string" && !STATS_COLUMNS.includes(name)) continue;
    nullCount[name] = summary.nulls[name] ?? 0;
  }
  for (const name of STATS_COLUMNS) {
    const min = summary.min[name];
    const max = summary.max[name];
    if (typeof min !== "number" || typeof max !== "number") continue;
    const timestamp = COLUMN_TYPES[name] === "timestamp";
    minValues[name] = timestamp ? new Date(min).toISOString() : min;
    maxValues[name] = timestamp ? new Date(max).toISOString() : max;
  }
  return stringifyWithBigInts({ numRecords: summary.rows, minValues, maxValues, nullCount });
}

/**
 * The summary behind an `add`'s statistics (numbers of rows, min, max and nulls per column), to
 * merge files' statistics without reading them: undefined for a file without statistics.
 */
export function summaryOfStatistics(stats: string | undefined): LakeFileSummary | undefined {
  if (stats === undefined) return undefined;
  const parsed = JSON.parse(stats) as { numRecords?: number; minValues?: Record<string, unknown>; maxValues?: Record<string, unknown>; nullCount?: Record<string, unknown> };
  if (typeof parsed.numRecords !== "number") return undefined;
  const summary: LakeFileSummary = { rows: parsed.numRecords, min: {}, max: {}, nulls: {} };
  for (const name of STATS_COLUMNS) {
    const min = asNumber(parsed.minValues?.[name]);
    const max = asNumber(parsed.maxValues?.[name]);
    if (min !== undefined && max !== undefined) {
      summary.min[name] = min;
      summary.max[name] = max;
    }
  }
  for (const [name, count] of Object.entries(parsed.nullCount ?? {})) if (typeof count === "number") summary.nulls[name] = count;
  return summary;
}

function asNumber(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string") {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/** The summary of files holding every row of `summaries` (numbers compared, nulls added). */
export function mergeSummaries(summaries: readonly LakeFileSummary[]): LakeFileSummary {
  const merged: LakeFileSummary = { rows: 0, min: {}, max: {}, nulls: {} };
  for (const s of summaries) {
    merged.rows += s.rows;
    for (const [name, count] of Object.entries(s.nulls)) merged.nulls[name] = (merged.nulls[name] ?? 0) + count;
    for (const [name, min] of Object.entries(s.min)) {
      const max = s.max[name];
      if (typeof min !== "number" || typeof max !== "number") continue;
      const m = merged.min[name];
      const x = merged.max[name];
      if (typeof m !== "number" || min < m) merged.min[name] = min;
      if (typeof x !== "number" || max > x) merged.max[name] = max;
    }
  }
  return merged;
}

/** Delta's per-file statistics of `rows` as the JSON string an `add` carries. */
export function fileStatistics(rows: readonly LakeRow[]): string {
  const minValues: Record<string, unknown> = {};
  const maxValues: Record<string, unknown> = {};
  const nullCount: Record<string, number> = {};
  for (const name of LAKE_COLUMNS) {
    if (COLUMN_TYPES[name] !== "string" && !STATS_COLUMNS.includes(name)) continue;
    nullCount[name] = 0;
  }
  for (const name of STATS_COLUMNS) {
    let min: number | bigint | undefined;
    let max: number | bigint | undefined;
    for (const row of rows) {
      const raw = row[name];
      if (raw === null || raw === undefined) {
        nullCount[name]! += 1;
        continue;
      }
      const value = raw instanceof Date ? raw.getTime() : (raw as number | bigint);
      if (min === undefined || value < min) min = value;
      if (max === undefined || value > max) max = value;
    }
    if (min === undefined || max === undefined) continue;
    const timestamp = COLUMN_TYPES[name] === "timestamp";
    minValues[name] = timestamp ? new Date(Number(min)).toISOString() : min;
    maxValues[name] = timestamp ? new Date(Number(max)).toISOString() : max;
  }
  return stringifyWithBigInts({ numRecords: rows.length, minValues, maxValues, nullCount });
}
