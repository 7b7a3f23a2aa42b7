import { describe, expect, test } from "bun:test";
import { encodeOffsets, type PartitionOffsets } from "./offsets.ts";
import { appendOffsets, readOffsetsHead } from "./offsets-log.ts";
import { MemoryLakeStore } from "./store.ts";

const entry = (seq: number, epoch: number, nextOffset: bigint | undefined, owner = `writer-${epoch}`): PartitionOffsets => ({
  topic: "orders",
  partition: 0,
  seq,
  epoch,
  owner,
  firstEpoch: 1,
  nextOffset,
  closed: [],
  skipped: [],
  writtenAtMs: 0,
});

describe("offsets log", () => {
  test("appendOffsets() makes the entry the newest and deletes the older ones", async () => {
    const store = new MemoryLakeStore();
    expect(await appendOffsets(store, entry(1, 1, undefined))).toEqual({ appended: true });
    expect(await appendOffsets(store, entry(2, 1, 100n))).toEqual({ appended: true });
    expect([...store.files.keys()]).toEqual(["_offsets/partition-0/000000000002.json"]);
    expect(await readOffsetsHead(store, 0)).toEqual(entry(2, 1, 100n));
  });
  test("appendOffsets() refuses a seq another writer took, and says what is newest", async () => {
    const store = new MemoryLakeStore();
    await appendOffsets(store, entry(1, 1, 100n));
    expect(await appendOffsets(store, entry(2, 2, 100n))).toEqual({ appended: true }); // a claim
    expect(await appendOffsets(store, entry(2, 1, 200n))).toEqual({ appended: false, newest: entry(2, 2, 100n) }); // the old owner's commit
  });
  test("appendOffsets() does not count an entry that re-creates a deleted seq below the newest", async () => {
    const store = new MemoryLakeStore();
    await appendOffsets(store, entry(1, 1, 100n));
    await appendOffsets(store, entry(2, 2, 100n));
    await appendOffsets(store, entry(3, 2, 300n)); // deletes 1 and 2
    // The old owner still believes entry 1 is the newest: seq 2 is free on disk again.
    expect(await appendOffsets(store, entry(2, 1, 200n))).toEqual({ appended: false, newest: entry(3, 2, 300n) });
    expect((await readOffsetsHead(store, 0))?.nextOffset).toBe(300n);
  });
  test("readOffsetsHead() reads a lake's offsets file from before the log as entry 0 of epoch 0", async () => {
    const store = new MemoryLakeStore();
    store.files.set("_offsets/partition-0.json", new TextEncoder().encode(JSON.stringify({ version: 1, topic: "orders", partition: 0, nextOffset: "1400", writtenAtMs: 5 })));
    expect(await readOffsetsHead(store, 0)).toEqual({ ...entry(0, 0, 1400n, ""), firstEpoch: 0, writtenAtMs: 5 });
    // Once the log has an entry, the old file is not read.
    await appendOffsets(store, entry(1, 1, 1400n));
    expect((await readOffsetsHead(store, 0))?.seq).toBe(1);
  });
  test("readOffsetsHead() looks again when the newest entry vanishes between listing and reading", async () => {
    const store = new MemoryLakeStore();
    await appendOffsets(store, entry(1, 1, 100n));
    const racing = Object.assign(Object.create(store) as MemoryLakeStore, {
      read: async (path: string) => {
        if (path.endsWith("000000000001.json") && store.files.has(path)) {
          // The owner appends and cleans up right then.
          store.files.set("_offsets/partition-0/000000000002.json", encodeOffsets(entry(2, 1, 200n)));
          store.files.delete(path);
        }
        return store.read(path);
      },
    });
    expect((await readOffsetsHead(racing, 0))?.nextOffset).toBe(200n);
  });
});
