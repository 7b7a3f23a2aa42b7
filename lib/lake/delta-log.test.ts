import { describe, expect, test } from "bun:test";
import {
  type AddAction,
  applyCommit,
  commit,
  commitPath,
  decodeCommit,
  type DeltaAction,
  emptySnapshot,
  encodeCommit,
  parseCommitName,
} from "./delta-log.ts";
import { listLog, loadSnapshot } from "./delta-snapshot.ts";
import { MemoryLakeStore } from "./store.ts";

const add = (path: string, dataChange = true): AddAction => ({ path, partitionValues: { dt: "2026-12-02", hour: "3" }, size: 100, modificationTime: 1, dataChange });
const protocol: DeltaAction = { protocol: { minReaderVersion: 1, minWriterVersion: 2 } };

describe("the Delta log", () => {
  test("commit files are named by the version in 20 digits, and only such names are versions", () => {
    expect(commitPath(0)).toBe("_delta_log/00000000000000000000.json");
    expect(commitPath(42)).toBe("_delta_log/00000000000000000042.json");
    expect(parseCommitName("00000000000000000042.json")).toBe(42);
    for (const other of ["00000000000000000042.checkpoint.parquet", "_last_checkpoint", "42.json", ".00000000000000000042.json.tmp"]) expect(parseCommitName(other)).toBeUndefined();
    expect(() => commitPath(-1)).toThrow(RangeError);
  });

  test("a commit is one action per line, and reads back the same; txn versions stay exact beyond 2^53", () => {
    const actions: DeltaAction[] = [protocol, { add: add("dt=2026-12-02/hour=03/a.parquet") }, { txn: { appId: "orders-3", version: 9_007_199_254_740_993n, lastUpdated: 5 } }];
    const bytes = encodeCommit(actions);
    const text = new TextDecoder().decode(bytes);
    expect(text.split("\n")).toHaveLength(4); // three lines and the final newline
    expect(text).toContain('"version":9007199254740993');
    expect(decodeCommit(bytes, "x")).toEqual(actions);
  });

  test("a line that is not JSON names the file and the line", () => {
    expect(() => decodeCommit(new TextEncoder().encode('{"add":{}}\n{broken\n'), "_delta_log/00000000000000000007.json")).toThrow(
      "_delta_log/00000000000000000007.json line 2 is not JSON",
    );
  });

  test("replay: an add puts a file in, a remove takes it out and leaves a tombstone, an add again revives it; the newest txn per app wins", () => {
    let s = applyCommit(emptySnapshot(), 0, [protocol, { add: add("a") }, { add: add("b") }, { txn: { appId: "p0", version: 10n } }]);
    s = applyCommit(s, 1, [{ remove: { path: "a", deletionTimestamp: 7, dataChange: false } }, { add: add("c", false) }, { txn: { appId: "p0", version: 20n } }, { txn: { appId: "p1", version: 3n } }]);
    expect([...s.files.keys()].sort()).toEqual(["b", "c"]);
    expect([...s.tombstones.keys()]).toEqual(["a"]);
    expect(s.transactions).toEqual(new Map([["p0", 20n], ["p1", 3n]]));
    s = applyCommit(s, 2, [{ add: add("a") }]);
    expect([...s.files.keys()].sort()).toEqual(["a", "b", "c"]);
    expect(s.tombstones.size).toBe(0);
    expect(s.version).toBe(2);
    expect(() => applyCommit(s, 4, [])).toThrow("Delta version 4 does not follow 2: the log has a gap");
  });

  test("paths in actions are URL-encoded; the snapshot keys them decoded", () => {
    const s = applyCommit(emptySnapshot(), 0, [{ add: add("dt=2026-12-02/hour=03/a%20b.parquet") }]);
    expect([...s.files.keys()]).toEqual(["dt=2026-12-02/hour=03/a b.parquet"]);
  });

  test("commit() is put-if-absent: a second commit of one version loses and changes nothing; loadSnapshot replays to the newest or a given version", async () => {
    const store = new MemoryLakeStore();
    expect(await commit(store, 0, [protocol, { add: add("a") }])).toBe(true);
    expect(await commit(store, 0, [{ add: add("other") }])).toBe(false);
    expect(await commit(store, 1, [{ add: add("b") }])).toBe(true);
    expect((await listLog(store)).commits).toEqual([0, 1]);
    expect([...(await loadSnapshot(store)).files.keys()]).toEqual(["a", "b"]);
    expect([...(await loadSnapshot(store, 0)).files.keys()]).toEqual(["a"]);
    await expect(loadSnapshot(store, 5)).rejects.toThrow("the table has no version 5; its newest is 1");
    expect((await loadSnapshot(new MemoryLakeStore())).version).toBe(-1);
  });

  test("a log with a missing commit before newer ones is reported as damaged", async () => {
    const store = new MemoryLakeStore();
    await commit(store, 0, [protocol]);
    await commit(store, 2, [{ add: add("b") }]);
    await expect(loadSnapshot(store)).rejects.toThrow("the Delta log has no commit 1 but has later ones");
  });
});
