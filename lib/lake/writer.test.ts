import { describe, expect, test } from "bun:test";
import { readLake } from "./reader.ts";
import { MemoryLakeStore } from "./store.ts";
import { LakeFlushError, LakeTopicMismatchError, LakeWriter } from "./writer.ts";
import { Simulator } from "../event/simulator.ts";

const HOUR = 3_600_000;
const nowMs = Date.UTC(2026, 10, 28, 12);
const clock = { now: () => nowMs };

/** `count` simulated records starting a minute before 11:00, so they span two hours. */
function records(count: number, malformedFraction = 0): Uint8Array[] {
  const sim = new Simulator({ seed: 3, startMs: nowMs - HOUR - 60_000, ratePerS: 40, malformedFraction });
  return Array.from({ length: count }, () => sim.next().value);
}

async function fresh(store: MemoryLakeStore, partitions = [0]): Promise<LakeWriter> {
  const writer = new LakeWriter(store, { topic: "orders", clock });
  await writer.assign(partitions);
  for (const p of partitions) writer.startAt(p, 0n);
  return writer;
}

describe("LakeWriter", () => {
  test("flush() writes one file per event hour, named by partition and offsets, then the partition's offsets", async () => {
    const store = new MemoryLakeStore();
    const writer = await fresh(store);
    records(2_000).forEach((value, i) => writer.add(0, BigInt(i), value));
    expect(await writer.flush()).toEqual(new Map([[0, 2_000n]]));
    const paths = [...store.files.keys()].sort();
    // The offsets log keeps its newest entry: the commit (seq 2) after the claim (seq 1, owner epoch 1).
    expect(paths.map((p) => p.replace(/o\d+-o\d+/, "o…"))).toEqual(["_offsets/partition-0/000000000002.json", "dt=2026-11-28/hour=10/p0-e1-o….parquet", "dt=2026-11-28/hour=11/p0-e1-o….parquet"]);
    const { rows } = await readLake(store);
    expect(rows.map((r) => r.kafka_offset).sort((a, b) => (a < b ? -1 : 1))).toEqual(Array.from({ length: 2_000 }, (_, i) => BigInt(i)));
  });
  test("invalid records are counted and skipped, but their offsets are committed", async () => {
    const store = new MemoryLakeStore();
    const writer = await fresh(store);
    records(1_000, 0.2).forEach((value, i) => writer.add(0, BigInt(i), value));
    await writer.flush();
    const { rows, snapshot } = await readLake(store);
    expect(writer.totals.invalid).toBeGreaterThan(100);
    expect({ rows: rows.length, next: snapshot.nextOffsets.get(0) }).toEqual({ rows: writer.totals.valid, next: 1_000n });
  });
  test("a restarted writer resumes at the lake's offsets and deletes the files of a flush that never committed", async () => {
    const store = new MemoryLakeStore();
    const values = records(3_000);
    const first = await fresh(store);
    values.slice(0, 1_000).forEach((v, i) => first.add(0, BigInt(i), v));
    await first.flush();
    values.slice(1_000, 2_000).forEach((v, i) => first.add(0, BigInt(1_000 + i), v));
    // The crash: the second flush's files are written, its offsets are not.
    const offsetsBefore = [...store.files].filter(([path]) => path.startsWith("_offsets/"));
    await first.flush();
    for (const path of [...store.files.keys()]) if (path.startsWith("_offsets/")) store.files.delete(path);
    for (const [path, bytes] of offsetsBefore) store.files.set(path, bytes);
    expect((await readLake(store)).rows.length).toBe(1_000);

    const second = new LakeWriter(store, { topic: "orders", clock });
    expect(await second.assign([0])).toEqual(new Map([[0, 1_000n]]));
    expect(second.totals.orphansRemoved).toBe(2);
    values.slice(1_000).forEach((v, i) => second.add(0, BigInt(1_000 + i), v));
    await second.flush();
    const { rows } = await readLake(store);
    expect(new Set(rows.map((r) => r.kafka_offset)).size).toBe(3_000);
    expect(rows.length).toBe(3_000);
  });
  test("assign() refuses a lake whose offsets name another topic", async () => {
    const store = new MemoryLakeStore();
    const writer = await fresh(store);
    writer.add(0, 0n, records(1)[0]!);
    await writer.flush();
    await expect(new LakeWriter(store, { topic: "other", clock }).assign([0])).rejects.toThrow(LakeTopicMismatchError);
  });
  test("a flush that fails on a full disk takes back its files, commits nothing, and a later flush with more rows writes each row once", async () => {
    const store = new MemoryLakeStore();
    const writer = await fresh(store);
    const values = records(3_000);
    values.slice(0, 2_000).forEach((v, i) => writer.add(0, BigInt(i), v));
    // The disk fills after the data files: the offsets entry (the commit) cannot be written.
    const writeIfAbsent = store.writeIfAbsent.bind(store);
    store.writeIfAbsent = (path, bytes) =>
      path.startsWith("_offsets/") ? Promise.reject(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" })) : writeIfAbsent(path, bytes);
    const error = await writer.flush().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(LakeFlushError);
    expect({ partition: (error as LakeFlushError).partition, diskFull: (error as LakeFlushError).diskFull }).toEqual({ partition: 0, diskFull: true });
    // Only the claim is left: no data file, no commit.
    expect([...store.files.keys()]).toEqual(["_offsets/partition-0/000000000001.json"]);
    expect(writer.bufferedRows).toBe(2_000);

    store.writeIfAbsent = writeIfAbsent;
    values.slice(2_000).forEach((v, i) => writer.add(0, BigInt(2_000 + i), v));
    expect(await writer.flush()).toEqual(new Map([[0, 3_000n]]));
    const { rows } = await readLake(store);
    expect(rows.map((r) => r.kafka_offset).sort((a, b) => (a < b ? -1 : 1))).toEqual(Array.from({ length: 3_000 }, (_, i) => BigInt(i)));
  });
  test("add() on a partition that was never assigned throws", async () => {
    const writer = new LakeWriter(new MemoryLakeStore(), { topic: "orders", clock });
    expect(() => writer.add(2, 0n, new Uint8Array())).toThrow(/partition 2 is not assigned/);
  });
  test("17.4 add() keeps a valid order whatever its created_at: a month behind the writer's clock, or a day ahead of it", async () => {
    const store = new MemoryLakeStore();
    const writer = await fresh(store);
    const old = new Simulator({ seed: 5, startMs: nowMs - 30 * 24 * HOUR, ratePerS: 40 });
    const ahead = new Simulator({ seed: 6, startMs: nowMs + 24 * HOUR, ratePerS: 40 });
    const values = [...Array.from({ length: 300 }, () => old.next().value), ...Array.from({ length: 300 }, () => ahead.next().value)];
    values.forEach((value, i) => writer.add(0, BigInt(i), value));
    await writer.flush();
    expect({ valid: writer.totals.valid, invalid: writer.totals.invalid }).toEqual({ valid: 600, invalid: 0 });
    const { rows } = await readLake(store);
    expect(rows.map((r) => r.kafka_offset).sort((a, b) => (a < b ? -1 : 1))).toEqual(Array.from({ length: 600 }, (_, i) => BigInt(i)));
  });
  test("17.5 a flush of a partition another writer has claimed since is refused, reported, and the partition dropped", async () => {
    const store = new MemoryLakeStore();
    const values = records(3_000);
    const stale = await fresh(store);
    values.slice(0, 1_000).forEach((v, i) => stale.add(0, BigInt(i), v));
    await stale.flush();
    values.slice(1_000, 2_000).forEach((v, i) => stale.add(0, BigInt(1_000 + i), v));
    // The new owner claims (the group moved the partition) and goes on from the lake's offset.
    const owner = new LakeWriter(store, { topic: "orders", clock });
    expect(await owner.assign([0])).toEqual(new Map([[0, 1_000n]]));
    values.slice(1_000).forEach((v, i) => owner.add(0, BigInt(1_000 + i), v));
    await owner.flush();

    expect(await stale.flush()).toEqual(new Map());
    expect(stale.takeFenced().map((f) => ({ partition: f.partition, epoch: f.epoch, droppedRows: f.droppedRows, newEpoch: f.newest?.epoch }))).toEqual([
      { partition: 0, epoch: 1, droppedRows: 1_000, newEpoch: 2 },
    ]);
    expect(stale.owned()).toEqual([]);
    const { rows, snapshot } = await readLake(store);
    expect(rows.map((r) => r.kafka_offset).sort((a, b) => (a < b ? -1 : 1))).toEqual(Array.from({ length: 3_000 }, (_, i) => BigInt(i)));
    expect(snapshot.offsets.get(0)).toMatchObject({ epoch: 2, nextOffset: 3_000n });
  });
  test("17.7 assign() deletes no writer file when the lake's offsets are gone (they may hold committed data)", async () => {
    const store = new MemoryLakeStore();
    const first = await fresh(store);
    records(2_000).forEach((v, i) => first.add(0, BigInt(i), v));
    await first.flush();
    const dataFiles = [...store.files.keys()].filter((p) => p.endsWith(".parquet")).sort();
    expect(dataFiles.length).toBe(2);
    // Someone moved the offsets away (the old out-of-range advice did just that).
    for (const path of [...store.files.keys()]) if (path.startsWith("_offsets/")) store.files.delete(path);
    const second = new LakeWriter(store, { topic: "orders", clock });
    await second.assign([0]);
    expect([...store.files.keys()].filter((p) => p.endsWith(".parquet")).sort()).toEqual(dataFiles);
    expect({ orphansRemoved: second.totals.orphansRemoved, filesLeftAlone: second.totals.filesLeftAlone }).toEqual({ orphansRemoved: 0, filesLeftAlone: 2 });
  });
  test("17.7 a flush whose commit landed keeps its files when writing the commit then fails", async () => {
    const store = new MemoryLakeStore();
    const writer = await fresh(store);
    records(2_000).forEach((v, i) => writer.add(0, BigInt(i), v));
    // The commit lands, then a later step of writing it (the directory's fsync, say) fails.
    const landThenFail = <R>(write: (path: string, bytes: Uint8Array) => Promise<R>) => async (path: string, bytes: Uint8Array): Promise<R> => {
      const result = await write(path, bytes);
      if (path.startsWith("_offsets/")) throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
      return result;
    };
    const { writeAtomic, writeIfAbsent } = store;
    store.writeAtomic = landThenFail((path, bytes) => writeAtomic.call(store, path, bytes));
    store.writeIfAbsent = landThenFail((path, bytes) => writeIfAbsent.call(store, path, bytes));
    const error = await writer.flush().then(() => undefined, (e: unknown) => e);
    const { rows, snapshot } = await readLake(store);
    expect(snapshot.nextOffsets.get(0)).toBe(2_000n);
    expect(rows.map((r) => r.kafka_offset).sort((a, b) => (a < b ? -1 : 1))).toEqual(Array.from({ length: 2_000 }, (_, i) => BigInt(i)));
    // The error says the commit landed; the flush counts (nothing left to write).
    expect(error).toBeInstanceOf(LakeFlushError);
    expect({ committed: (error as LakeFlushError).committed, diskFull: (error as LakeFlushError).diskFull }).toEqual({ committed: true, diskFull: false });
    expect(writer.dirty).toBe(false);
  });
});
