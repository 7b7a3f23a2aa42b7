import { describe, expect, test } from "bun:test";
import { LakeCompactor } from "./compactor.ts";
import { listDataFiles, readJournal, readLake } from "./reader.ts";
import { MemoryLakeStore } from "./store.ts";
import { LakeWriter } from "./writer.ts";
import { Simulator } from "../event/simulator.ts";

const HOUR = 3_600_000;
const nowMs = Date.UTC(2026, 10, 28, 12);

/** A lake of `flushes` small writer files per hour for 10:xx and 11:xx. */
async function smallFiles(flushes: number): Promise<MemoryLakeStore> {
  const store = new MemoryLakeStore();
  const writer = new LakeWriter(store, { topic: "orders", clock: { now: () => nowMs } });
  await writer.assign([0]);
  writer.startAt(0, 0n);
  const sim = new Simulator({ seed: 9, startMs: nowMs - HOUR - 30_000, ratePerS: 40 });
  for (let i = 0; i < flushes * 100; i++) {
    writer.add(0, BigInt(i), sim.next().value);
    if (i % 100 === 99) await writer.flush();
  }
  return store;
}

const compactor = (store: MemoryLakeStore, at: number, more: Partial<ConstructorParameters<typeof LakeCompactor>[1]> = {}) =>
  new LakeCompactor(store, { clock: { now: () => at }, closeAfterMs: 0, graceMs: 60_000, ...more });

describe("LakeCompactor", () => {
  test("runOnce() merges a closed hour's small files into one and readers see the same rows", async () => {
    const store = await smallFiles(10);
    const before = await readLake(store);
    const summary = await compactor(store, nowMs).runOnce();
    expect(summary.compactions).toBe(2);
    const after = await readLake(store);
    expect(after.snapshot.files.length).toBe(2);
    const key = (r: { kafka_offset: bigint }) => r.kafka_offset;
    expect(after.rows.map(key).sort()).toEqual(before.rows.map(key).sort());
  });
  test("replaced files stay on disk until the grace period is over, then the next run deletes them", async () => {
    const store = await smallFiles(5);
    const files = (await listDataFiles(store)).length;
    const first = await compactor(store, nowMs).runOnce();
    expect(first.compactions).toBeGreaterThan(0);
    expect((await listDataFiles(store)).length).toBe(files + first.compactions);
    expect((await compactor(store, nowMs + 60_000).runOnce()).deleted).toBe(first.inputFiles);
    expect((await listDataFiles(store)).length).toBe(files - first.inputFiles + first.compactions);
  });
  test("an output whose journal entry was never written is invisible, and the next run removes it", async () => {
    const store = await smallFiles(5);
    const before = (await readLake(store)).rows.length;
    const failing = Object.assign(Object.create(store) as MemoryLakeStore, {
      writeAtomic: (path: string, bytes: Uint8Array) => (path.startsWith("_journal/") ? Promise.reject(new Error("crash")) : store.writeAtomic(path, bytes)),
    });
    await expect(compactor(failing, nowMs).runOnce()).rejects.toThrow("crash");
    expect((await readLake(store)).rows.length).toBe(before);
    const summary = await compactor(store, nowMs).runOnce();
    expect(summary.orphansRemoved).toBe(1); // the first merge's output; the crash came before the second
    expect((await readJournal(store)).length).toBe(summary.compactions);
    expect((await readLake(store)).rows.length).toBe(before);
  });
  test("an hour that is not closed yet is left alone", async () => {
    const store = await smallFiles(5);
    expect((await compactor(store, nowMs, { closeAfterMs: 2 * HOUR }).runOnce()).compactions).toBe(0);
  });
});
