/**
 * The lake as a Delta Lake table: the actions we write to its log, the commit itself, and the
 * snapshot a reader rebuilds from the log (Delta's PROTOCOL.md, "Actions" and "Action
 * Reconciliation").
 *
 * A commit is one file, `_delta_log/<version, 20 digits>.json`, one JSON action per line, written
 * put-if-absent (LakeStore.writeIfAbsent): of two writers racing for one version exactly one wins,
 * and the loser re-reads the log and tries the next version. Nothing is ever overwritten.
 *
 * What we write: protocol (reader 1, writer 2: no table features), metaData (the schema of
 * lib/lake/schema.ts in Delta's JSON form, partitioned by `dt` and `hour`), `add` (each data file
 * with its partition values, size, row count and column statistics), `remove` (a compaction's
 * inputs, `dataChange: false`), `txn` (per Kafka partition, the last committed offset: Delta's
 * idempotent-append mechanism) and `commitInfo`.
 *
 * Pure but for `commit()` and `readCommit()`: the replay is a function of the actions. Loading a
 * snapshot from storage, from the newest checkpoint on, is lib/lake/delta-snapshot.ts.
 */
import { bigintsAt, stringifyWithBigInts } from "../runtime/json-integers.ts";
import type { LakeStore } from "./store.ts";

export const DELTA_LOG_DIR = "_delta_log";

export interface ProtocolAction {
  minReaderVersion: number;
  minWriterVersion: number;
}

export interface MetadataAction {
  id: string;
  name?: string | null;
  description?: string | null;
  format: { provider: "parquet"; options: Record<string, string> };
  schemaString: string;
  partitionColumns: string[];
  configuration: Record<string, string>;
  createdTime?: number | null;
}

export interface AddAction {
  /** Relative to the table root, URL-encoded (RFC 2396 URI path: `dt=2026-12-02/hour=03/x.parquet` needs none). */
  path: string;
  partitionValues: Record<string, string | null>;
  size: number;
  modificationTime: number;
  dataChange: boolean;
  /** JSON: numRecords, minValues, maxValues, nullCount. */
  stats?: string;
}

export interface RemoveAction {
  path: string;
  deletionTimestamp: number;
  dataChange: boolean;
  extendedFileMetadata?: boolean;
  partitionValues?: Record<string, string | null>;
  size?: number;
}

export interface TxnAction {
  appId: string;
  /** Delta's field is a long; kept exact as a bigint here, written as a JSON integer. */
  version: bigint;
  lastUpdated?: number;
}

export type DeltaAction =
  | { protocol: ProtocolAction }
  | { metaData: MetadataAction }
  | { add: AddAction }
  | { remove: RemoveAction }
  | { txn: TxnAction }
  | { commitInfo: Record<string, unknown> };

/** `_delta_log/00000000000000000042.json` for version 42. */
export function commitPath(version: number): string {
  if (!Number.isSafeInteger(version) || version < 0) throw new RangeError(`a Delta version is an integer from 0: got ${version}`);
  return `${DELTA_LOG_DIR}/${String(version).padStart(20, "0")}.json`;
}

/** The version a log file name stands for (`00000000000000000042.json` → 42), or undefined for other names. */
export function parseCommitName(name: string): number | undefined {
  const match = /^(\d{20})\.json$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** A commit's bytes: one action per line, `txn.version` as an exact JSON integer (lib/runtime/json-integers.ts). */
export function encodeCommit(actions: readonly DeltaAction[]): Uint8Array {
  return new TextEncoder().encode(`${actions.map(stringifyWithBigInts).join("\n")}\n`);
}

/** Reads `txn.version` (a long) exactly. */
const exactVersions = bigintsAt(["version"]);

/** The actions of a commit's bytes (`path` names it in errors). Unknown actions are kept as they are, as Delta asks. */
export function decodeCommit(bytes: Uint8Array, path: string): DeltaAction[] {
  const actions: DeltaAction[] = [];
  const text = new TextDecoder().decode(bytes);
  for (const [i, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    let action: DeltaAction;
    try {
      action = JSON.parse(line, exactVersions) as DeltaAction;
    } catch (error) {
      throw new Error(`${path} line ${i + 1} is not JSON: ${(error as Error).message}; the Delta log is damaged`);
    }
    if ("txn" in action && typeof action.txn.version !== "bigint") {
      throw new Error(`${path} line ${i + 1}: txn.version ${JSON.stringify(action.txn.version)} is not an integer; the Delta log is damaged`);
    }
    actions.push(action);
  }
  return actions;
}

/**
 * Writes `actions` as version `version` if no commit has it yet: true when this call made the
 * commit, false when another writer's commit holds that version (re-read the log, then retry).
 */
export function commit(store: LakeStore, version: number, actions: readonly DeltaAction[]): Promise<boolean> {
  return store.writeIfAbsent(commitPath(version), encodeCommit(actions));
}

/** The actions of version `version`, or undefined when the log has no such commit. */
export async function readCommit(store: LakeStore, version: number): Promise<DeltaAction[] | undefined> {
  const path = commitPath(version);
  const bytes = await store.read(path);
  return bytes === undefined ? undefined : decodeCommit(bytes, path);
}

/** The table as of one version: what a reader needs and what a writer commits against. */
export interface DeltaSnapshot {
  version: number;
  protocol: ProtocolAction | undefined;
  metadata: MetadataAction | undefined;
  /** The table's files, by path. */
  files: Map<string, AddAction>;
  /** Files removed and not yet vacuumed (tombstones), by path, with when. */
  tombstones: Map<string, RemoveAction>;
  /** The newest `txn.version` of each application id. */
  transactions: Map<string, bigint>;
}

/** A table with no version yet (version -1). */
export function emptySnapshot(): DeltaSnapshot {
  return { version: -1, protocol: undefined, metadata: undefined, files: new Map(), tombstones: new Map(), transactions: new Map() };
}

/**
 * `snapshot` with the commit `actions` of version `version` applied (Delta's action
 * reconciliation: an add replaces an earlier add or remove of its path, a remove deletes the add,
 * the newest txn per application and the newest metadata and protocol win). Returns a new snapshot;
 * `snapshot` is not changed. Throws when `version` does not follow `snapshot.version`.
 */
export function applyCommit(snapshot: DeltaSnapshot, version: number, actions: readonly DeltaAction[]): DeltaSnapshot {
  if (version !== snapshot.version + 1) throw new Error(`Delta version ${version} does not follow ${snapshot.version}: the log has a gap`);
  const next: DeltaSnapshot = {
    version,
    protocol: snapshot.protocol,
    metadata: snapshot.metadata,
    files: new Map(snapshot.files),
    tombstones: new Map(snapshot.tombstones),
    transactions: new Map(snapshot.transactions),
  };
  for (const action of actions) {
    if ("protocol" in action) next.protocol = action.protocol;
    else if ("metaData" in action) next.metadata = action.metaData;
    else if ("add" in action) {
      const path = decodeURIComponent(action.add.path);
      next.files.set(path, action.add);
      next.tombstones.delete(path);
    } else if ("remove" in action) {
      const path = decodeURIComponent(action.remove.path);
      next.files.delete(path);
      next.tombstones.set(path, action.remove);
    } else if ("txn" in action) next.transactions.set(action.txn.appId, action.txn.version);
  }
  return next;
}
