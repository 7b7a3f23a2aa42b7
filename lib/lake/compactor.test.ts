import { describe, expect, test } from "bun:test";
import { Simulator } from "../event/simulator.ts";
import { LakeCompactor } from "./compactor.ts";
import { checkpointPath } from "./delta-checkpoint.ts";
import { readCommit } from "./delta-log.ts";
import { loadSnapshot } from "./delta-snapshot.ts";
import { LakeWriter } from "./writer.ts";
import { decodeLakeFile, type LakeRow } from "./schema.ts";
import { type LakeStore, MemoryLakeStore } from "./store.ts";

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 2, 9);
/** Late enough that the hours of the stream below are closed. */
const later = { now: () => T0 + 5 * HOUR };

/** A table of 10 flushes of two partitions over two hours: many small files per hour. */
async function smallFiles(): Promise<{ store: MemoryLakeStore; writer: LakeWriter }> {
  const store = new MemoryLakeStore();
  const writer = new LakeWriter(store, { topic: "orders", clock: later, checkpointInterval: 1_000 });
  await writer.assign([0, 1]);
  writer.startAt(0, 0n);
  writer.startAt(1, 0n);
  const sim = new Simulator({ seed: 3, startMs: T0 + 30 * 60_000, ratePerS: 0.4, malformedFraction: 0 });
  for (let i = 0; i < 1_000; i++) {
    const r = sim.next();
    writer.add(i % 2, BigInt(Math.floor(i / 2)), r.value, r.emittedAtMs);
    if (i % 100 === 99) await writer.flush();
  }
  return { store, writer };
}

async function rowsOf(store: LakeStore, version?: number): Promise<LakeRow[]> {
  const snapshot = await loadSnapshot(store, version);
  const rows: LakeRow[] = [];
  for (const path of snapshot.files.keys()) rows.push(...(await decodeLakeFile((await store.read(path))!)));
  return rows;
}
const keys = (rows: readonly LakeRow[]) => rows.map((r) => `${r.kafka_partition}@${r.kafka_offset}`).sort();

describe("LakeCompactor", () => {
  test("merges each closed hour's small files into one file, all hours in one commit (removes and an add per hour, dataChange false); the table's rows do not change", async () => {
    const { store } = await smallFiles();
    const before = await loadSnapshot(store);
    const rowsBefore = keys(await rowsOf(store));
    const summary = await new LakeCompactor(store, { clock: later, checkpointInterval: 2 }).runOnce();
    expect(summary.compactions).toBe(2);
    expect(summary.inputFiles).toBe(before.files.size);
    expect(summary.checkpoints).toBe(1); // its commit is version 12: a checkpoint at 12
    const after = await loadSnapshot(store);
    expect(after.version).toBe(before.version + 1);
    expect(after.files.size).toBe(2);
    expect(keys(await rowsOf(store))).toEqual(rowsBefore);
    expect(keys(await rowsOf(store, before.version))).toEqual(rowsBefore); // the older version still reads: nothing deleted
    const actions = (await readCommit(store, after.version))!;
    expect(actions.filter((a) => "remove" in a).every((a) => "remove" in a && a.remove.dataChange === false)).toBe(true);
    expect(actions.filter((a) => "add" in a).map((a) => "add" in a && a.add.dataChange)).toEqual([false, false]);
    expect(actions.filter((a) => "remove" in a)).toHaveLength(before.files.size);
    expect(after.transactions).toEqual(before.transactions);
    expect(store.files.has(checkpointPath(12))).toBe(true);
  });

  test("writers appending during a compaction do not conflict: the compaction retries past their commits", async () => {
    const { store, writer } = await smallFiles();
    // The writer commits after the compactor has planned and before its first commit: the compactor's snapshot is behind.
    const sim = new Simulator({ seed: 4, startMs: T0 + 30 * 60_000, ratePerS: 0.4, malformedFraction: 0 });
    let writerFlushed: Promise<unknown> | undefined;
    const compactorStore: LakeStore = Object.assign(Object.create(store) as LakeStore, {
      writeIfAbsent(path: string, bytes: Uint8Array) {
        writerFlushed ??= (async () => {
          for (let i = 1_000; i < 1_100; i++) writer.add(i % 2, BigInt(Math.floor(i / 2)), sim.next().value, null);
          await writer.flush();
        })();
        return writerFlushed.then(() => store.writeIfAbsent(path, bytes));
      },
    });
    const summary = await new LakeCompactor(compactorStore, { clock: later }).runOnce();
    expect(summary.raced).toBe(1);
    expect(summary.conflicts).toBe(0);
    expect(summary.compactions).toBe(2);
    expect(keys(await rowsOf(store))).toEqual(Array.from({ length: 1_100 }, (_, i) => `${i % 2}@${Math.floor(i / 2)}`).sort());
  });

  test("two compactors on one snapshot: one commits, the other finds its inputs gone and gives up; no row doubled", async () => {
    const { store } = await smallFiles();
    const rowsBefore = keys(await rowsOf(store));
    const [a, b] = await Promise.all([new LakeCompactor(store, { clock: later }).runOnce(), new LakeCompactor(store, { clock: later }).runOnce()]);
    expect(a.compactions + b.compactions).toBe(2);
    expect(a.conflicts + b.conflicts).toBe(2);
    expect(keys(await rowsOf(store))).toEqual(rowsBefore);
  });

  test("two compactors with different options on one snapshot never write over each other's output: every file the table lists holds its own rows", async () => {
    const { store } = await smallFiles();
    const rowsBefore = keys(await rowsOf(store));
    // One packs everything per hour into one file, the other into files of about 24 KiB: different outputs from one plan version.
    await Promise.all([new LakeCompactor(store, { clock: later }).runOnce(), new LakeCompactor(store, { clock: later, targetBytes: 24 * 1024 }).runOnce()]);
    const snapshot = await loadSnapshot(store);
    for (const [path, add] of snapshot.files) {
      const rows = await decodeLakeFile((await store.read(path))!);
      expect({ path, rows: rows.length }).toEqual({ path, rows: JSON.parse(add.stats!).numRecords });
    }
    expect(keys(await rowsOf(store))).toEqual(rowsBefore);
  });

  test("an hour not yet closed is left alone", async () => {
    const { store } = await smallFiles();
    const summary = await new LakeCompactor(store, { clock: { now: () => T0 + HOUR } }).runOnce();
    expect(summary.compactions).toBe(0);
  });
});
