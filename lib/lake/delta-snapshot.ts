/**
 * Loading the lake's Delta table as of a version: from the newest checkpoint at or before it
 * (lib/lake/delta-checkpoint.ts), then each commit after it (lib/lake/delta-log.ts). The newest
 * version starts from the checkpoint `_last_checkpoint` names and reads the commits after it one
 * by one until the first that is not there, so a read costs the same however long the history the
 * log keeps; an older version (or a log without `_last_checkpoint`) lists `_delta_log/`. A commit
 * missing between the checkpoint and the version asked for means a damaged log, and a version older
 * than the oldest kept state (cleaned up) is refused by name.
 */
import { decodeCheckpoint, checkpointPath, parseCheckpointName, readLastCheckpoint } from "./delta-checkpoint.ts";
import { applyCommit, DELTA_LOG_DIR, type DeltaSnapshot, emptySnapshot, parseCommitName, readCommit } from "./delta-log.ts";
import type { LakeStore } from "./store.ts";

/** The versions `_delta_log/` holds: commits and checkpoints, each ascending. */
export async function listLog(store: LakeStore): Promise<{ commits: number[]; checkpoints: number[] }> {
  const commits: number[] = [];
  const checkpoints: number[] = [];
  for (const name of await store.list(DELTA_LOG_DIR)) {
    const commit = parseCommitName(name);
    if (commit !== undefined) commits.push(commit);
    const checkpoint = parseCheckpointName(name);
    if (checkpoint !== undefined) checkpoints.push(checkpoint);
  }
  const ascending = (a: number, b: number) => a - b;
  return { commits: commits.sort(ascending), checkpoints: checkpoints.sort(ascending) };
}

/**
 * The table at `version` (default: the newest), or an empty snapshot (version -1) for a table
 * with no commit yet. Throws when the log has a gap or the version is not (or no longer) there.
 */
export async function loadSnapshot(store: LakeStore, version?: number): Promise<DeltaSnapshot> {
  if (version === undefined) {
    const last = await readLastCheckpoint(store);
    const bytes = last === undefined ? undefined : await store.read(checkpointPath(last.version));
    // A checkpoint named but gone (cleaned up after a newer one was written): list instead.
    if (last !== undefined && bytes !== undefined) return catchUp(store, await decodeCheckpoint(bytes, last.version));
  }
  const { commits, checkpoints } = await listLog(store);
  const newest = Math.max(commits.at(-1) ?? -1, checkpoints.at(-1) ?? -1);
  const target = version ?? newest;
  if (version !== undefined && version > newest) {
    throw new RangeError(`the table has no version ${version}; its newest is ${newest === -1 ? "none (no commit yet)" : newest}`);
  }
  const from = checkpoints.filter((v) => v <= target).at(-1);
  let snapshot: DeltaSnapshot;
  if (from === undefined) {
    if (target >= 0 && commits[0] !== 0) {
      throw new RangeError(`the table's history before version ${commits[0] ?? checkpoints[0]} has been cleaned up: version ${target} cannot be read`);
    }
    snapshot = emptySnapshot();
  } else {
    const bytes = await store.read(checkpointPath(from));
    if (bytes === undefined) throw new Error(`${checkpointPath(from)} was listed but cannot be read: read the table again`);
    snapshot = await decodeCheckpoint(bytes, from);
  }
  for (let v = snapshot.version + 1; v <= target; v++) {
    const actions = await readCommit(store, v);
    if (actions === undefined) throw new Error(`the Delta log has no commit ${v} but has later ones: the log is damaged`);
    snapshot = applyCommit(snapshot, v, actions);
  }
  return snapshot;
}

/**
 * `snapshot` brought up to the newest commit: each commit after it, read one by one until the
 * first that does not exist (no listing: after losing a race for a version, the next commits are
 * exactly what a writer must see). Returns `snapshot` itself when nothing is newer.
 */
export async function catchUp(store: LakeStore, snapshot: DeltaSnapshot): Promise<DeltaSnapshot> {
  let current = snapshot;
  for (;;) {
    const actions = await readCommit(store, current.version + 1);
    if (actions === undefined) return current;
    current = applyCommit(current, current.version + 1, actions);
  }
}
