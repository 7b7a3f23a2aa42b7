import { describe, expect, test } from "bun:test";
import { Simulator } from "../event/simulator.ts";
import { LakeCompactor } from "./compactor.ts";
import { readLake } from "./reader.ts";
import { loadSnapshot } from "./delta-snapshot.ts";
import { LakeWriter } from "./writer.ts";
import { type LakeStore, MemoryLakeStore } from "./store.ts";

const T0 = Date.UTC(2026, 11, 2, 9);
const clock = { now: () => T0 + 5 * 3_600_000 };

/** 600 events of two Kafka partitions over about two hours, in 6 flushes; and what the table must hold. */
async function table() {
  const store = new MemoryLakeStore();
  const writer = new LakeWriter(store, { topic: "orders", clock });
  await writer.assign([0, 1]);
  writer.startAt(0, 0n);
  writer.startAt(1, 0n);
  const sim = new Simulator({ seed: 8, startMs: T0 + 20 * 60_000, ratePerS: 0.1, malformedFraction: 0 });
  for (let i = 0; i < 600; i++) {
    writer.add(i % 2, BigInt(Math.floor(i / 2)), sim.next().value, null);
    if (i % 100 === 99) await writer.flush();
  }
  return { store, all: Array.from({ length: 600 }, (_, i) => `${i % 2}@${Math.floor(i / 2)}`).sort() };
}
const keys = (rows: readonly { kafka_partition: number; kafka_offset: bigint }[]) => rows.map((r) => `${r.kafka_partition}@${r.kafka_offset}`).sort();

describe("readLake", () => {
  test("reads every row of the newest version once, and each Kafka partition's committed next offset", async () => {
    const { store, all } = await table();
    const read = await readLake(store, { topic: "orders" });
    expect(keys(read.rows)).toEqual(all);
    expect(read.nextOffsets).toEqual(new Map([[0, 300n], [1, 300n]]));
    expect(read.retries).toBe(0);
  });

  test("an older version, and hour pruning", async () => {
    const { store, all } = await table();
    const v2 = await readLake(store, { version: 2 }); // created, claimed, one flush
    expect(v2.rows).toHaveLength(100);
    const hours = [...new Set((await readLake(store)).files.map((f) => f.slice(0, f.lastIndexOf("/"))))].sort();
    expect(hours.length).toBeGreaterThan(1);
    const first = await readLake(store, { hours: (dir) => dir === hours[0] });
    expect(first.files.every((f) => f.startsWith(`${hours[0]}/`))).toBe(true);
    expect(first.rows.length).toBeGreaterThan(0);
    expect(first.rows.length).toBeLessThan(all.length);
  });

  test("a file vacuumed mid-read: the newest version is read again from a newer snapshot; an old version says it cannot be served", async () => {
    const { store, all } = await table();
    const before = await readLake(store);
    // The first time the reader opens a data file, a compaction commits and a vacuum with no retention deletes its inputs.
    let raced = false;
    const racing: LakeStore = Object.assign(Object.create(store) as LakeStore, {
      async read(path: string) {
        if (!raced && path.startsWith("dt=")) {
          raced = true;
          expect((await new LakeCompactor(store, { clock }).runOnce()).compactions).toBeGreaterThan(0);
          const live = (await loadSnapshot(store)).files;
          for (const f of before.files) if (!live.has(f)) store.files.delete(f);
        }
        return store.read(path);
      },
    });
    const read = await readLake(racing);
    expect(read.retries).toBe(1);
    expect(read.version).toBeGreaterThan(before.version);
    expect(keys(read.rows)).toEqual(all);
    await expect(readLake(store, { version: before.version })).rejects.toThrow(`version ${before.version} lists`);
  });
});
