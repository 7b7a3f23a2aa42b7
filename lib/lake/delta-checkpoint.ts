/**
 * Delta checkpoints of the lake's table (Delta's PROTOCOL.md, "Checkpoints", classic single-file
 * V1 spec): the whole table state at one version as one Parquet file,
 * `_delta_log/<version>.checkpoint.parquet`, and `_delta_log/_last_checkpoint` pointing at the
 * newest. A reader starts from it and replays only the commits after it, so reading the table does
 * not cost more as its history grows, and commits older than it can be cleaned up.
 *
 * The file has one row per action — protocol, metaData, each txn, each add, each tombstone
 * (remove) not yet past its retention — and one nullable struct column per action type, exactly
 * one of them set in each row (the protocol's checkpoint schema, without the optional
 * `*_parsed` columns). Written with hyparquet-writer, its pages ZSTD (lib/lake/compressors.ts:
 * half SNAPPY's bytes, and faster than hyparquet-writer's JavaScript SNAPPY), read back with
 * hyparquet; older SNAPPY checkpoints read as before.
 *
 * A checkpoint of a version is a function of the log up to it, so two writers that both write
 * one write the same thing: it is put atomically (S3 PUT, or rename), not put-if-absent.
 */
import { parquetReadObjects } from "hyparquet";
import { ByteWriter, parquetWrite } from "hyparquet-writer";
import type { AddAction, DeltaSnapshot, MetadataAction, RemoveAction } from "./delta-log.ts";
import { DELTA_LOG_DIR } from "./delta-log.ts";
import type { LakeStore } from "./store.ts";
import { LAKE_COMPRESSORS, zstdCompress } from "./compressors.ts";

export const LAST_CHECKPOINT_PATH = `${DELTA_LOG_DIR}/_last_checkpoint`;

/** `_delta_log/00000000000000000010.checkpoint.parquet` for version 10. */
export function checkpointPath(version: number): string {
  return `${DELTA_LOG_DIR}/${String(version).padStart(20, "0")}.checkpoint.parquet`;
}

/** The version a checkpoint file name stands for, or undefined for other names (multi-part and UUID-named ones included: we write neither). */
export function parseCheckpointName(name: string): number | undefined {
  const match = /^(\d{20})\.checkpoint\.parquet$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

type SchemaElement = NonNullable<Parameters<typeof parquetWrite>[0]["schema"]>[number];

const optional = (name: string, type: "BYTE_ARRAY" | "INT64" | "INT32" | "BOOLEAN"): SchemaElement =>
  type === "BYTE_ARRAY" ? { name, type, converted_type: "UTF8", repetition_type: "OPTIONAL" } : { name, type, repetition_type: "OPTIONAL" };
const struct = (name: string, children: number): SchemaElement => ({ name, repetition_type: "OPTIONAL", num_children: children });
/** map<string,string> as the MAP logical type: key_value (key required, value optional). */
const stringMap = (name: string): SchemaElement[] => [
  { name, repetition_type: "OPTIONAL", converted_type: "MAP", logical_type: { type: "MAP" }, num_children: 1 },
  { name: "key_value", repetition_type: "REPEATED", num_children: 2 },
  { name: "key", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" },
  optional("value", "BYTE_ARRAY"),
];

/** The checkpoint's Parquet schema, flattened depth-first. */
const CHECKPOINT_SCHEMA: SchemaElement[] = [
  { name: "schema", num_children: 5 },
  struct("txn", 3),
  optional("appId", "BYTE_ARRAY"),
  optional("version", "INT64"),
  optional("lastUpdated", "INT64"),
  struct("add", 6),
  optional("path", "BYTE_ARRAY"),
  ...stringMap("partitionValues"),
  optional("size", "INT64"),
  optional("modificationTime", "INT64"),
  optional("dataChange", "BOOLEAN"),
  optional("stats", "BYTE_ARRAY"),
  struct("remove", 6),
  optional("path", "BYTE_ARRAY"),
  optional("deletionTimestamp", "INT64"),
  optional("dataChange", "BOOLEAN"),
  optional("extendedFileMetadata", "BOOLEAN"),
  ...stringMap("partitionValues"),
  optional("size", "INT64"),
  struct("metaData", 8),
  optional("id", "BYTE_ARRAY"),
  optional("name", "BYTE_ARRAY"),
  optional("description", "BYTE_ARRAY"),
  struct("format", 2),
  optional("provider", "BYTE_ARRAY"),
  ...stringMap("options"),
  optional("schemaString", "BYTE_ARRAY"),
  { name: "partitionColumns", repetition_type: "OPTIONAL", converted_type: "LIST", logical_type: { type: "LIST" }, num_children: 1 },
  { name: "list", repetition_type: "REPEATED", num_children: 1 },
  optional("element", "BYTE_ARRAY"),
  ...stringMap("configuration"),
  optional("createdTime", "INT64"),
  struct("protocol", 2),
  optional("minReaderVersion", "INT32"),
  optional("minWriterVersion", "INT32"),
];

interface CheckpointRow {
  txn: { appId: string; version: bigint; lastUpdated: bigint | null } | null;
  add: { path: string; partitionValues: Record<string, string | null>; size: bigint; modificationTime: bigint; dataChange: boolean; stats: string | null } | null;
  remove: {
    path: string;
    deletionTimestamp: bigint;
    dataChange: boolean;
    extendedFileMetadata: boolean | null;
    partitionValues: Record<string, string | null> | null;
    size: bigint | null;
  } | null;
  metaData: {
    id: string;
    name: string | null;
    description: string | null;
    format: { provider: string; options: Record<string, string> };
    schemaString: string;
    partitionColumns: string[];
    configuration: Record<string, string>;
    createdTime: bigint | null;
  } | null;
  protocol: { minReaderVersion: number; minWriterVersion: number } | null;
}

const NO_ACTION: CheckpointRow = { txn: null, add: null, remove: null, metaData: null, protocol: null };

/**
 * The checkpoint of `snapshot`: every action a reader needs to rebuild it. Tombstones removed
 * before `tombstonesSinceMs` are left out (no reader can need their files any more; vacuum may
 * have deleted them).
 */
export function encodeCheckpoint(snapshot: DeltaSnapshot, tombstonesSinceMs = 0, codec: "ZSTD" | "SNAPPY" = "ZSTD"): { bytes: Uint8Array; actions: number; adds: number } {
  if (!snapshot.protocol || !snapshot.metadata) throw new Error(`version ${snapshot.version} has no protocol or metadata: not a table to checkpoint`);
  const rows: CheckpointRow[] = [{ ...NO_ACTION, protocol: snapshot.protocol }, { ...NO_ACTION, metaData: metadataRow(snapshot.metadata) }];
  for (const [appId, version] of snapshot.transactions) rows.push({ ...NO_ACTION, txn: { appId, version, lastUpdated: null } });
  for (const add of snapshot.files.values()) rows.push({ ...NO_ACTION, add: addRow(add) });
  for (const remove of snapshot.tombstones.values()) {
    if (remove.deletionTimestamp >= tombstonesSinceMs) rows.push({ ...NO_ACTION, remove: removeRow(remove) });
  }
  const columns = (["txn", "add", "remove", "metaData", "protocol"] as const).map((name) => ({ name, data: rows.map((r) => r[name]) }));
  const writer = new ByteWriter();
  void parquetWrite({ writer, schema: CHECKPOINT_SCHEMA, columnData: columns as never, codec, compressors: { ZSTD: zstdCompress }, statistics: false, createdBy: "orderpulse lake (hyparquet-writer 0.17.0)" });
  return { bytes: writer.getBytes(), actions: rows.length, adds: snapshot.files.size };
}

/** The snapshot a checkpoint of version `version` holds. */
export async function decodeCheckpoint(bytes: Uint8Array, version: number): Promise<DeltaSnapshot> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const rows = (await parquetReadObjects({ file, compressors: LAKE_COMPRESSORS })) as Partial<CheckpointRow>[];
  const snapshot: DeltaSnapshot = { version, protocol: undefined, metadata: undefined, files: new Map(), tombstones: new Map(), transactions: new Map() };
  for (const row of rows) {
    if (row.protocol) snapshot.protocol = { minReaderVersion: row.protocol.minReaderVersion, minWriterVersion: row.protocol.minWriterVersion };
    if (row.metaData) snapshot.metadata = metadataAction(row.metaData);
    if (row.txn) snapshot.transactions.set(row.txn.appId, BigInt(row.txn.version));
    if (row.add) {
      const add: AddAction = {
        path: row.add.path,
        partitionValues: mapOf(row.add.partitionValues),
        size: Number(row.add.size),
        modificationTime: Number(row.add.modificationTime),
        dataChange: row.add.dataChange,
        ...(row.add.stats == null ? {} : { stats: row.add.stats }),
      };
      snapshot.files.set(decodeURIComponent(add.path), add);
    }
    if (row.remove) {
      const remove: RemoveAction = { path: row.remove.path, deletionTimestamp: Number(row.remove.deletionTimestamp), dataChange: row.remove.dataChange };
      if (row.remove.extendedFileMetadata != null) remove.extendedFileMetadata = row.remove.extendedFileMetadata;
      if (row.remove.partitionValues != null) remove.partitionValues = mapOf(row.remove.partitionValues);
      if (row.remove.size != null) remove.size = Number(row.remove.size);
      snapshot.tombstones.set(decodeURIComponent(remove.path), remove);
    }
  }
  if (!snapshot.protocol || !snapshot.metadata) throw new Error(`${checkpointPath(version)} has no protocol or metadata: the checkpoint is damaged`);
  return snapshot;
}

export interface LastCheckpoint {
  version: number;
  /** Actions in the checkpoint. */
  size: number;
  sizeInBytes?: number;
  numOfAddFiles?: number;
}

/** Writes the checkpoint of `snapshot` and then `_last_checkpoint` naming it. */
export async function writeCheckpoint(store: LakeStore, snapshot: DeltaSnapshot, tombstonesSinceMs = 0): Promise<LastCheckpoint> {
  const { bytes, actions, adds } = encodeCheckpoint(snapshot, tombstonesSinceMs);
  await store.writeAtomic(checkpointPath(snapshot.version), bytes);
  const last: LastCheckpoint = { version: snapshot.version, size: actions, sizeInBytes: bytes.byteLength, numOfAddFiles: adds };
  await store.writeAtomic(LAST_CHECKPOINT_PATH, new TextEncoder().encode(JSON.stringify(last)));
  return last;
}

/**
 * After a commit that made `snapshot`: a checkpoint when its version is a multiple of
 * `interval`, whoever committed it (writers and the compactor alike). A failure to write one is
 * returned, not thrown: the commit stands, only readers' speed depends on the checkpoint, and the
 * next interval writes one.
 */
export async function checkpointOnInterval(
  store: LakeStore,
  snapshot: DeltaSnapshot,
  options: { interval: number; tombstonesSinceMs: number },
): Promise<{ written: boolean; error?: unknown }> {
  if (snapshot.version <= 0 || snapshot.version % options.interval !== 0) return { written: false };
  try {
    await writeCheckpoint(store, snapshot, options.tombstonesSinceMs);
    return { written: true };
  } catch (error) {
    return { written: false, error };
  }
}

/** What `_last_checkpoint` says, or undefined when there is none (or it cannot be read: then list the log). */
export async function readLastCheckpoint(store: LakeStore): Promise<LastCheckpoint | undefined> {
  const bytes = await store.read(LAST_CHECKPOINT_PATH);
  if (bytes === undefined) return undefined;
  try {
    const last = JSON.parse(new TextDecoder().decode(bytes)) as LastCheckpoint;
    return Number.isSafeInteger(last.version) && last.version >= 0 ? last : undefined;
  } catch {
    return undefined;
  }
}

function metadataRow(m: MetadataAction): CheckpointRow["metaData"] {
  return {
    id: m.id,
    name: m.name ?? null,
    description: m.description ?? null,
    format: { provider: m.format.provider, options: m.format.options },
    schemaString: m.schemaString,
    partitionColumns: m.partitionColumns,
    configuration: m.configuration,
    createdTime: m.createdTime == null ? null : BigInt(m.createdTime),
  };
}

function metadataAction(m: NonNullable<CheckpointRow["metaData"]>): MetadataAction {
  return {
    id: m.id,
    name: m.name,
    description: m.description,
    format: { provider: m.format.provider as "parquet", options: mapOf(m.format.options) as Record<string, string> },
    schemaString: m.schemaString,
    partitionColumns: m.partitionColumns ?? [],
    configuration: mapOf(m.configuration) as Record<string, string>,
    createdTime: m.createdTime == null ? null : Number(m.createdTime),
  };
}

function addRow(a: AddAction): CheckpointRow["add"] {
  return { path: a.path, partitionValues: a.partitionValues, size: BigInt(a.size), modificationTime: BigInt(a.modificationTime), dataChange: a.dataChange, stats: a.stats ?? null };
}

function removeRow(r: RemoveAction): CheckpointRow["remove"] {
  return {
    path: r.path,
    deletionTimestamp: BigInt(r.deletionTimestamp),
    dataChange: r.dataChange,
    extendedFileMetadata: r.extendedFileMetadata ?? null,
    partitionValues: r.partitionValues ?? null,
    size: r.size === undefined ? null : BigInt(r.size),
  };
}

/** A MAP column as hyparquet reads it (an object, or null) as a plain object. */
function mapOf(value: unknown): Record<string, string | null> {
  if (value == null) return {};
  if (value instanceof Map) return Object.fromEntries(value);
  return { ...(value as Record<string, string | null>) };
}
