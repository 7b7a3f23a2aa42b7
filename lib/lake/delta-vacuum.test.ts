import { describe, expect, test } from "bun:test";
import { Simulator } from "../event/simulator.ts";
import { checkpointPath } from "./delta-checkpoint.ts";
import { LakeCompactor } from "./compactor.ts";
import { commitPath } from "./delta-log.ts";
import { loadSnapshot } from "./delta-snapshot.ts";
import { cleanUpLog, vacuum } from "./delta-vacuum.ts";
import { LakeWriter } from "./writer.ts";
import { MemoryLakeStore } from "./store.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 11, 2, 9);

/** A table with small files, compacted (so its inputs are tombstones), plus one file no commit references. */
async function compactedTable() {
  const store = new MemoryLakeStore();
  const clock = { now: () => T0 + 5 * HOUR };
  const writer = new LakeWriter(store, { topic: "orders", clock, checkpointInterval: 3 });
  await writer.assign([0]);
  writer.startAt(0, 0n);
  const sim = new Simulator({ seed: 11, startMs: T0 + 10 * 60_000, ratePerS: 0.5, malformedFraction: 0 });
  for (let i = 0; i < 600; i++) {
    writer.add(0, BigInt(i), sim.next().value, null);
    if (i % 100 === 99) await writer.flush();
  }
  await new LakeCompactor(store, { clock }).runOnce();
  const orphan = "dt=2026-12-02/hour=09/p0-e9-o0-o5.parquet";
  await store.writeAtomic(orphan, new Uint8Array([1, 2, 3]));
  for (const path of store.files.keys()) store.modified.set(path, T0 + 5 * HOUR);
  return { store, orphan, removedAt: T0 + 5 * HOUR };
}

describe("vacuum", () => {
  test("deletes tombstones and never-committed files only past the retention, and never a file the table references", async () => {
    const { store, orphan, removedAt } = await compactedTable();
    const snapshot = await loadSnapshot(store);
    const tombstones = [...snapshot.tombstones.keys()];
    expect(tombstones.length).toBeGreaterThan(2);

    const early = await vacuum(store, { nowMs: removedAt + 2 * HOUR, retentionMs: 3 * HOUR });
    expect(early).toMatchObject({ tombstonesDeleted: 0, orphansDeleted: 0, kept: tombstones.length + 1 });

    const due = await vacuum(store, { nowMs: removedAt + 4 * HOUR, retentionMs: 3 * HOUR });
    expect(due).toMatchObject({ tombstonesDeleted: tombstones.length, orphansDeleted: 1, kept: 0 });
    for (const path of [...tombstones, orphan]) expect(store.files.has(path)).toBe(false);
    for (const path of snapshot.files.keys()) expect(store.files.has(path)).toBe(true);
  });

  test("refuses a retention under an hour, unless a short one is allowed explicitly", async () => {
    const { store, removedAt } = await compactedTable();
    const files = store.files.size;
    await expect(vacuum(store, { nowMs: removedAt + 2 * HOUR, retentionMs: 59 * 60_000 })).rejects.toThrow("a retention under an hour");
    await expect(cleanUpLog(store, { nowMs: removedAt + 2 * HOUR, retentionMs: 59 * 60_000 })).rejects.toThrow("a retention under an hour");
    expect(store.files.size).toBe(files);
    const allowed = await vacuum(store, { nowMs: removedAt + 60_000, retentionMs: 30_000, allowShortRetention: true });
    expect(allowed.tombstonesDeleted).toBeGreaterThan(2);
    await expect(vacuum(store, { nowMs: removedAt, retentionMs: -1, allowShortRetention: true })).rejects.toThrow("0 or more");
  });
});

describe("cleanUpLog", () => {
  test("deletes the commits and checkpoints before the newest checkpoint older than the retention; every version from it on still reads", async () => {
    const { store } = await compactedTable();
    const latest = await loadSnapshot(store);
    // Checkpoints at versions 3 and 6 (interval 3): date the first two days old, the second one hour old.
    expect([3, 6].map((v) => store.files.has(checkpointPath(v)))).toEqual([true, true]);
    store.modified.set(checkpointPath(3), T0 - 2 * DAY);
    store.modified.set(checkpointPath(6), T0 - HOUR);
    const summary = await cleanUpLog(store, { nowMs: T0, retentionMs: DAY });
    expect(summary).toEqual({ commitsDeleted: 3, checkpointsDeleted: 0, temporariesDeleted: 0, oldestReadable: 3 });
    for (const v of [0, 1, 2]) expect(store.files.has(commitPath(v))).toBe(false);
    expect(await loadSnapshot(store)).toEqual(latest);
    expect((await loadSnapshot(store, 3)).version).toBe(3);
    await expect(loadSnapshot(store, 2)).rejects.toThrow("cannot be read");
    // Later, the second checkpoint is past the retention too.
    expect(await cleanUpLog(store, { nowMs: T0 + 2 * DAY, retentionMs: DAY })).toEqual({ commitsDeleted: 3, checkpointsDeleted: 1, temporariesDeleted: 0, oldestReadable: 6 });
    expect(await loadSnapshot(store)).toEqual(latest);
  });

  test("deletes temporaries of interrupted writes in _delta_log only once they are older than the retention", async () => {
    const { store } = await compactedTable();
    const [old, young] = ["_delta_log/.00000000000000000009.json.tmp-a", "_delta_log/.00000000000000000009.json.tmp-b"];
    await store.writeAtomic(old, new Uint8Array([1]));
    await store.writeAtomic(young, new Uint8Array([2]));
    store.modified.set(old, T0 - 2 * DAY);
    store.modified.set(young, T0);
    expect((await cleanUpLog(store, { nowMs: T0, retentionMs: DAY })).temporariesDeleted).toBe(1);
    expect([store.files.has(old), store.files.has(young)]).toEqual([false, true]);
  });

  test("with no checkpoint past the retention it deletes nothing", async () => {
    const { store } = await compactedTable();
    const files = store.files.size;
    expect(await cleanUpLog(store, { nowMs: T0, retentionMs: 30 * DAY })).toEqual({ commitsDeleted: 0, checkpointsDeleted: 0, temporariesDeleted: 0, oldestReadable: -1 });
    expect(store.files.size).toBe(files);
  });
});
