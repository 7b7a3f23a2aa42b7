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
    expect(paths.map((p) => p.replace(/o\d+-o\d+/, "o…"))).toEqual(["_offsets/partition-0.json", "dt=2026-11-28/hour=10/p0-o….parquet", "dt=2026-11-28/hour=11/p0-o….parquet"]);
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
    const offsetsBefore = store.files.get("_offsets/partition-0.json")!;
    await first.flush();
    store.files.set("_offsets/partition-0.json", offsetsBefore);
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
    // The disk fills after the data files: the offsets file (the commit) cannot be written.
    const writeAtomic = store.writeAtomic.bind(store);
    store.writeAtomic = (path, bytes) =>
      path.startsWith("_offsets/") ? Promise.reject(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" })) : writeAtomic(path, bytes);
    const error = await writer.flush().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(LakeFlushError);
    expect({ partition: (error as LakeFlushError).partition, diskFull: (error as LakeFlushError).diskFull }).toEqual({ partition: 0, diskFull: true });
    expect([...store.files.keys()]).toEqual([]);
    expect(writer.bufferedRows).toBe(2_000);

    store.writeAtomic = writeAtomic;
    values.slice(2_000).forEach((v, i) => writer.add(0, BigInt(2_000 + i), v));
    expect(await writer.flush()).toEqual(new Map([[0, 3_000n]]));
    const { rows } = await readLake(store);
    expect(rows.map((r) => r.kafka_offset).sort((a, b) => (a < b ? -1 : 1))).toEqual(Array.from({ length: 3_000 }, (_, i) => BigInt(i)));
  });
  test("add() on a partition that was never assigned throws", async () => {
    const writer = new LakeWriter(new MemoryLakeStore(), { topic: "orders", clock });
    expect(() => writer.add(2, 0n, new Uint8Array())).toThrow(/partition 2 is not assigned/);
  });
});
