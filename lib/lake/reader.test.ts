import { describe, expect, test } from "bun:test";
import { LakeCompactor } from "./compactor.ts";
import { readLake, takeSnapshot } from "./reader.ts";
import { MemoryLakeStore } from "./store.ts";
import { LakeWriter } from "./writer.ts";
import { Simulator } from "../event/simulator.ts";

const nowMs = Date.UTC(2026, 10, 28, 12);

async function lake(): Promise<MemoryLakeStore> {
  const store = new MemoryLakeStore();
  const writer = new LakeWriter(store, { topic: "orders", clock: { now: () => nowMs } });
  await writer.assign([0]);
  writer.startAt(0, 0n);
  const sim = new Simulator({ seed: 4, startMs: nowMs - 7_200_000, ratePerS: 40 });
  for (let i = 0; i < 600; i++) {
    writer.add(0, BigInt(i), sim.next().value);
    if (i % 100 === 99) await writer.flush();
  }
  return store;
}

describe("lake reader", () => {
  test("a snapshot taken while a compaction commits is taken again, and holds each row once", async () => {
    const store = await lake();
    const compactor = new LakeCompactor(store, { clock: { now: () => nowMs }, closeAfterMs: 0, graceMs: 0 });
    // The compaction (with immediate clean-up) commits between the reader's journal read and its listing.
    let injected = false;
    const racing = Object.assign(Object.create(store) as MemoryLakeStore, {
      list: async (dir: string) => {
        if (!injected && dir.startsWith("dt=")) {
          injected = true;
          await compactor.runOnce();
        }
        return store.list(dir);
      },
    });
    const { snapshot, rows } = await readLake(racing);
    expect(snapshot.retries).toBeGreaterThan(0);
    expect(rows.length).toBe(600);
    expect(new Set(rows.map((r) => r.kafka_offset)).size).toBe(600);
  });
  test("the hours filter lists only the accepted hour partitions", async () => {
    const store = await lake();
    const all = await takeSnapshot(store);
    const one = all.files[0]!.split("/").slice(0, 2).join("/");
    const pruned = await takeSnapshot(store, { hours: (h) => h === one });
    expect(pruned.files).toEqual(all.files.filter((f) => f.startsWith(`${one}/`)));
  });
});
