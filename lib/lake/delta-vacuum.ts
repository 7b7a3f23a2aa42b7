/**
 * Keeping the lake's Delta table tidy, by Delta's rules: `vacuum` deletes data files no reader
 * can need any more, `cleanUpLog` deletes log files older than the history kept. Neither touches
 * what the table's current version, or any version within the retention, refers to.
 *
 * vacuum — a data file in an hour partition is deleted when the latest snapshot does not
 * reference it and either it was removed (a tombstone) more than `retentionMs` ago, or no commit
 * ever referenced it (a flush that crashed or was fenced, a compaction given up) and it was
 * written more than `retentionMs` ago. The retention must cover the longest read (a reader of an
 * older version still opens the files that version lists) and the longest flush (a file written
 * and not yet committed is not referenced either): Delta's default is 7 days, and less than an
 * hour is refused unless `allowShortRetention` says the caller knows better (tests; Delta's own
 * `retentionDurationCheck.enabled = false`).
 *
 * cleanUpLog — commits and checkpoints before the newest checkpoint written more than
 * `retentionMs` ago are deleted; that checkpoint and everything after it stay, so every version
 * from it on can still be read (Delta's default log retention is 30 days). Temporaries a crash
 * left in `_delta_log/` (a local store's `.name.tmp-…`) go too once that old.
 */
import { checkpointPath } from "./delta-checkpoint.ts";
import { commitPath, DELTA_LOG_DIR } from "./delta-log.ts";
import { listLog, loadSnapshot } from "./delta-snapshot.ts";
import { hourStartMs, joinLake } from "./layout.ts";
import type { LakeStore } from "./store.ts";

export const MIN_RETENTION_MS = 3_600_000;
export const DEFAULT_FILE_RETENTION_MS = 7 * 86_400_000;
export const DEFAULT_LOG_RETENTION_MS = 30 * 86_400_000;

export interface VacuumSummary {
  /** Data files deleted: removed by a commit, past the retention. */
  tombstonesDeleted: number;
  /** Data files deleted that no commit ever referenced, past the retention. */
  orphansDeleted: number;
  /** Unreferenced files kept because they are younger than the retention (a flush in flight, say). */
  kept: number;
  /** The table version vacuumed against. */
  version: number;
}

export interface RetentionOptions {
  nowMs: number;
  retentionMs?: number;
  /** Accept a retention under an hour. Default false. */
  allowShortRetention?: boolean;
}

export async function vacuum(store: LakeStore, options: RetentionOptions): Promise<VacuumSummary> {
  const retentionMs = checkedRetention(options.retentionMs ?? DEFAULT_FILE_RETENTION_MS, options.allowShortRetention);
  const cutoff = options.nowMs - retentionMs;
  const snapshot = await loadSnapshot(store);
  const summary: VacuumSummary = { tombstonesDeleted: 0, orphansDeleted: 0, kept: 0, version: snapshot.version };
  if (snapshot.version < 0) return summary;
  for (const path of await listHourFiles(store)) {
    if (snapshot.files.has(path)) continue;
    const tombstone = snapshot.tombstones.get(path);
    if (tombstone !== undefined) {
      if (tombstone.deletionTimestamp > cutoff) summary.kept += 1;
      else {
        await store.remove(path);
        summary.tombstonesDeleted += 1;
      }
      continue;
    }
    const written = await store.modifiedAt(path);
    if (written === undefined) continue; // gone meanwhile
    if (written > cutoff) summary.kept += 1;
    else {
      await store.remove(path);
      summary.orphansDeleted += 1;
    }
  }
  return summary;
}

export interface LogCleanupSummary {
  commitsDeleted: number;
  checkpointsDeleted: number;
  /** Temporary files of interrupted writes in `_delta_log/`, past the retention. */
  temporariesDeleted: number;
  /** The oldest version still readable afterwards (-1: nothing to clean). */
  oldestReadable: number;
}

export async function cleanUpLog(store: LakeStore, options: RetentionOptions): Promise<LogCleanupSummary> {
  const retentionMs = checkedRetention(options.retentionMs ?? DEFAULT_LOG_RETENTION_MS, options.allowShortRetention);
  const { commits, checkpoints } = await listLog(store);
  let keepFrom: number | undefined;
  for (const version of checkpoints) {
    const written = await store.modifiedAt(checkpointPath(version));
    if (written !== undefined && written <= options.nowMs - retentionMs) keepFrom = version;
  }
  const summary: LogCleanupSummary = { commitsDeleted: 0, checkpointsDeleted: 0, temporariesDeleted: 0, oldestReadable: keepFrom ?? -1 };
  for (const name of await store.list(DELTA_LOG_DIR)) {
    if (!(name.startsWith(".") && name.includes(".tmp-"))) continue;
    const path = joinLake(DELTA_LOG_DIR, name);
    const written = await store.modifiedAt(path);
    if (written !== undefined && written <= options.nowMs - retentionMs) {
      await store.remove(path);
      summary.temporariesDeleted += 1;
    }
  }
  if (keepFrom === undefined) return summary;
  for (const version of checkpoints) {
    if (version >= keepFrom) break;
    await store.remove(checkpointPath(version));
    summary.checkpointsDeleted += 1;
  }
  for (const version of commits) {
    if (version >= keepFrom) break;
    await store.remove(commitPath(version));
    summary.commitsDeleted += 1;
  }
  return summary;
}

function checkedRetention(retentionMs: number, allowShort = false): number {
  if (!(retentionMs >= 0)) throw new RangeError(`a retention must be 0 or more: got ${retentionMs} ms`);
  if (!allowShort && retentionMs < MIN_RETENTION_MS) {
    throw new RangeError(`a retention under an hour (${retentionMs} ms) could delete files a reader or a flush in flight still needs: give at least ${MIN_RETENTION_MS} ms`);
  }
  return retentionMs;
}

/** Every file in the table's hour partitions (`dt=…/hour=…/`), committed or not, as lake paths. */
export async function listHourFiles(store: LakeStore): Promise<string[]> {
  const paths: string[] = [];
  for (const dt of await store.list("")) {
    if (!dt.startsWith("dt=")) continue;
    for (const hour of await store.list(dt)) {
      const dir = `${dt}/${hour}`;
      if (hourStartMs(dir) === undefined) continue;
      for (const name of await store.list(dir)) paths.push(joinLake(dir, name));
    }
  }
  return paths;
}
