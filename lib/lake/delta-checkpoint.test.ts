import { describe, expect, test } from "bun:test";
import { parquetMetadata } from "hyparquet";
import { checkpointPath, decodeCheckpoint, encodeCheckpoint, LAST_CHECKPOINT_PATH, parseCheckpointName, readLastCheckpoint, writeCheckpoint } from "./delta-checkpoint.ts";
import { type AddAction, applyCommit, commit, commitPath, type DeltaAction, emptySnapshot } from "./delta-log.ts";
import { loadSnapshot } from "./delta-snapshot.ts";
import { createTableActions } from "./delta-table.ts";
import { MemoryLakeStore } from "./store.ts";

const add = (path: string, hour: string): AddAction => ({
  path,
  partitionValues: { dt: "2026-12-02", hour },
  size: 1234,
  modificationTime: 1_764_640_000_000,
  dataChange: true,
  stats: '{"numRecords":3}',
});

/** A table of three commits: created, two files added with txns, one removed (a tombstone at t=500). */
function history(): DeltaAction[][] {
  return [
    createTableActions("table-1", 100),
    [{ add: add("dt=2026-12-02/hour=03/a.parquet", "3") }, { add: add("dt=2026-12-02/hour=04/b%20c.parquet", "4") }, { txn: { appId: "orders-0", version: 2n ** 60n } }],
    [{ remove: { path: "dt=2026-12-02/hour=03/a.parquet", deletionTimestamp: 500, dataChange: false, extendedFileMetadata: true, partitionValues: { dt: "2026-12-02", hour: "3" }, size: 1234 } }, { txn: { appId: "orders-1", version: 7n } }],
  ];
}

function replay(commits: DeltaAction[][]) {
  return commits.reduce((s, actions, v) => applyCommit(s, v, actions), emptySnapshot());
}

describe("Delta checkpoints", () => {
  test("names: 20 digits and .checkpoint.parquet; other checkpoint forms are not ours", () => {
    expect(checkpointPath(10)).toBe("_delta_log/00000000000000000010.checkpoint.parquet");
    expect(parseCheckpointName("00000000000000000010.checkpoint.parquet")).toBe(10);
    expect(parseCheckpointName("00000000000000000010.checkpoint.0000000001.0000000002.parquet")).toBeUndefined();
    expect(parseCheckpointName("00000000000000000010.json")).toBeUndefined();
  });

  test("a checkpoint decodes to the snapshot it was made of: protocol, metadata, files, tombstones, exact txn versions", async () => {
    const snapshot = replay(history());
    const { bytes, actions, adds } = encodeCheckpoint(snapshot);
    expect({ actions, adds }).toEqual({ actions: 2 + 2 + 1 + 1, adds: 1 });
    expect(await decodeCheckpoint(bytes, snapshot.version)).toEqual(snapshot);
  });

  test("pages are ZSTD; a SNAPPY checkpoint (what the lake wrote before) decodes to the same snapshot", async () => {
    const snapshot = replay(history());
    for (const codec of ["ZSTD", "SNAPPY"] as const) {
      const { bytes } = encodeCheckpoint(snapshot, 0, codec);
      const metadata = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
      expect(new Set(metadata.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data!.codec)))).toEqual(new Set([codec]));
      expect(await decodeCheckpoint(bytes, snapshot.version)).toEqual(snapshot);
    }
    expect(encodeCheckpoint(snapshot).bytes).toEqual(encodeCheckpoint(snapshot, 0, "ZSTD").bytes);
  });

  test("tombstones older than the retention are left out", async () => {
    const snapshot = replay(history());
    const decoded = await decodeCheckpoint(encodeCheckpoint(snapshot, 501).bytes, snapshot.version);
    expect(decoded.tombstones.size).toBe(0);
    expect(decoded.files).toEqual(snapshot.files);
  });

  test("the newest version loads from _last_checkpoint and the commits after it, without listing _delta_log; without _last_checkpoint, by listing", async () => {
    const store = new MemoryLakeStore();
    for (const [v, actions] of history().entries()) expect(await commit(store, v, actions)).toBe(true);
    await writeCheckpoint(store, await loadSnapshot(store));
    await commit(store, 3, [{ add: add("dt=2026-12-02/hour=05/d.parquet", "5") }]);
    const listed: string[] = [];
    const counting = Object.assign(Object.create(store) as MemoryLakeStore, {
      list(dir: string) {
        listed.push(dir);
        return store.list(dir);
      },
    });
    const newest = await loadSnapshot(counting);
    expect(listed).toEqual([]);
    expect(newest).toEqual(replay([...history(), [{ add: add("dt=2026-12-02/hour=05/d.parquet", "5") }]]));
    store.files.delete(LAST_CHECKPOINT_PATH);
    expect(await loadSnapshot(counting)).toEqual(newest);
    expect(listed).toEqual(["_delta_log"]);
  });

  test("loadSnapshot starts from the newest checkpoint: the commits before it may be gone; a version before it then cannot be read", async () => {
    const store = new MemoryLakeStore();
    const commits = history();
    for (const [v, actions] of commits.entries()) expect(await commit(store, v, actions)).toBe(true);
    const last = await writeCheckpoint(store, await loadSnapshot(store));
    expect(last).toMatchObject({ version: 2, size: 6, numOfAddFiles: 1 });
    expect(await readLastCheckpoint(store)).toEqual(last);
    await commit(store, 3, [{ add: add("dt=2026-12-02/hour=05/d.parquet", "5") }]);
    for (const v of [0, 1, 2]) store.files.delete(commitPath(v));
    const latest = await loadSnapshot(store);
    expect(latest.version).toBe(3);
    expect([...latest.files.keys()].sort()).toEqual(["dt=2026-12-02/hour=04/b c.parquet", "dt=2026-12-02/hour=05/d.parquet"]);
    expect(latest.transactions).toEqual(new Map([["orders-0", 2n ** 60n], ["orders-1", 7n]]));
    expect((await loadSnapshot(store, 2)).version).toBe(2);
    store.files.delete(checkpointPath(2));
    await expect(loadSnapshot(store, 3)).rejects.toThrow("the table's history before version 3 has been cleaned up: version 3 cannot be read");
  });

  test("a _last_checkpoint that cannot be parsed is ignored, not trusted", async () => {
    const store = new MemoryLakeStore();
    store.files.set(LAST_CHECKPOINT_PATH, new TextEncoder().encode("{broken"));
    expect(await readLastCheckpoint(store)).toBeUndefined();
  });
});
