import { describe, expect, test } from "bun:test";
import { Simulator } from "../event/simulator.ts";
import { checkpointPath } from "./delta-checkpoint.ts";
import { commitPath, readCommit } from "./delta-log.ts";
import { loadSnapshot } from "./delta-snapshot.ts";
import { LakeWriter, offsetsAppId, ownerAppId, partitionOfOffsetsAppId } from "./writer.ts";
import { decodeLakeFile, type LakeRow } from "./schema.ts";
import { type LakeStore, MemoryLakeStore } from "./store.ts";
import { LakeTopicMismatchError } from "./writer-errors.ts";
import { validateLakeEvent } from "./schema.ts";

const clock = { now: () => Date.UTC(2026, 11, 2, 12) };
const TOPIC = "orders";

/** Simulated records, valid and not, with their validity: the same every call. */
function records(count: number, seed = 19): { value: Uint8Array; valid: boolean; timestampMs: number }[] {
  const sim = new Simulator({ seed, startMs: Date.UTC(2026, 11, 2, 9, 50), ratePerS: 2, malformedFraction: 0.05 });
  return Array.from({ length: count }, () => {
    const r = sim.next();
    return { value: r.value, valid: validateLakeEvent(r.value).ok, timestampMs: r.emittedAtMs };
  });
}

/** Every row the table's latest snapshot holds, as "partition@offset", sorted. */
async function tableRows(store: LakeStore): Promise<string[]> {
  const snapshot = await loadSnapshot(store);
  const rows: LakeRow[] = [];
  for (const path of snapshot.files.keys()) rows.push(...(await decodeLakeFile((await store.read(path))!)));
  return rows.map((r) => `${r.kafka_partition}@${r.kafka_offset}`).sort();
}

const key = (partition: number, offset: number) => `${partition}@${offset}`;

describe("LakeWriter", () => {
  test("an offsets application id names its topic and partition, and only offsets ids are read back as partitions", () => {
    expect(partitionOfOffsetsAppId(TOPIC, offsetsAppId(TOPIC, 12))).toBe(12);
    expect(partitionOfOffsetsAppId(TOPIC, ownerAppId(TOPIC, 12))).toBeUndefined();
    expect(partitionOfOffsetsAppId(TOPIC, offsetsAppId("orders.late", 12))).toBeUndefined();
    expect(partitionOfOffsetsAppId("orders.late", offsetsAppId(TOPIC, 12))).toBeUndefined();
  });

  test("creates the table, claims its partitions, and commits each flush once with a txn per partition: the last offset it covers", async () => {
    const store = new MemoryLakeStore();
    const writer = new LakeWriter(store, { topic: TOPIC, clock });
    expect(await writer.assign([0, 1])).toEqual(new Map([[0, undefined], [1, undefined]]));
    writer.startAt(0, 0n);
    writer.startAt(1, 100n);
    const input = records(200);
    input.forEach((r, i) => writer.add(i % 2, BigInt(i % 2 === 0 ? i / 2 : 100 + (i - 1) / 2), r.value, r.timestampMs));
    expect(await writer.flush()).toEqual(new Map([[0, 100n], [1, 200n]]));
    const snapshot = await loadSnapshot(store);
    expect(snapshot.version).toBe(2); // created, claimed, written
    expect(snapshot.transactions.get(offsetsAppId(TOPIC, 0))).toBe(99n);
    expect(snapshot.transactions.get(offsetsAppId(TOPIC, 1))).toBe(199n);
    expect(snapshot.transactions.get(ownerAppId(TOPIC, 0))).toBe(1n);
    const want = input.flatMap((r, i) => (r.valid ? [i % 2 === 0 ? key(0, i / 2) : key(1, 100 + (i - 1) / 2)] : [])).sort();
    expect(await tableRows(store)).toEqual(want);
    expect(writer.totals.invalid).toBe(input.filter((r) => !r.valid).length);
    expect(writer.dirty).toBe(false);
    expect(await writer.flush()).toEqual(new Map()); // nothing moved: no commit
    expect((await loadSnapshot(store)).version).toBe(2);
  });

  test("a restarted writer resumes each partition after its txn version, under a new owner epoch", async () => {
    const store = new MemoryLakeStore();
    const first = new LakeWriter(store, { topic: TOPIC, clock });
    await first.assign([0]);
    first.startAt(0, 0n);
    for (const [i, r] of records(50).entries()) first.add(0, BigInt(i), r.value, r.timestampMs);
    await first.flush();
    const second = new LakeWriter(store, { topic: TOPIC, clock });
    expect(await second.assign([0])).toEqual(new Map([[0, 50n]]));
    expect(second.epoch(0)).toBe(2);
    expect(second.committed(0)).toBe(50n);
  });

  test("a writer whose partition another writer claimed is fenced: its flush commits nothing of it, and the new owner's rows are the only ones", async () => {
    const store = new MemoryLakeStore();
    const input = records(60);
    const old = new LakeWriter(store, { topic: TOPIC, clock });
    await old.assign([0, 1]);
    old.startAt(0, 0n);
    old.startAt(1, 0n);
    for (const [i, r] of input.entries()) old.add(i % 2, BigInt(Math.floor(i / 2)), r.value, r.timestampMs);
    const newer = new LakeWriter(store, { topic: TOPIC, clock });
    expect(await newer.assign([0])).toEqual(new Map([[0, undefined]]));
    newer.startAt(0, 0n);
    for (const [i, r] of input.entries()) if (i % 2 === 0) newer.add(0, BigInt(i / 2), r.value, r.timestampMs);
    // The old owner flushes after the claim: partition 1 commits, partition 0 is fenced.
    expect(await old.flush()).toEqual(new Map([[1, 30n]]));
    expect(old.takeFenced()).toEqual([{ partition: 0, epoch: 1, newerEpoch: 2, droppedRows: input.filter((r, i) => i % 2 === 0 && r.valid).length }]);
    expect(old.owned()).toEqual([1]);
    expect(await newer.flush()).toEqual(new Map([[0, 30n]]));
    const want = input.flatMap((r, i) => (r.valid ? [key(i % 2, Math.floor(i / 2))] : [])).sort();
    expect(await tableRows(store)).toEqual(want); // each row once: none of the old owner's partition-0 files is referenced
  });

  test("two writers racing for the same versions both land, each retrying after the commits it missed", async () => {
    const store = new MemoryLakeStore();
    const a = new LakeWriter(store, { topic: TOPIC, clock });
    const b = new LakeWriter(store, { topic: TOPIC, clock });
    await a.assign([0]);
    await b.assign([1]);
    const input = records(400);
    for (let round = 0; round < 4; round++) {
      for (let i = round * 100; i < (round + 1) * 100; i++) {
        const writer = i % 2 === 0 ? a : b;
        writer.startAt(i % 2, 0n);
        writer.add(i % 2, BigInt(Math.floor(i / 2)), input[i]!.value, input[i]!.timestampMs);
      }
      await Promise.all([a.flush(), b.flush()]);
    }
    expect(a.commits.raced + b.commits.raced).toBeGreaterThan(0);
    const want = input.flatMap((r, i) => (r.valid ? [key(i % 2, Math.floor(i / 2))] : [])).sort();
    expect(await tableRows(store)).toEqual(want);
    const snapshot = await loadSnapshot(store);
    expect(snapshot.transactions.get(offsetsAppId(TOPIC, 0))).toBe(199n);
    expect(snapshot.transactions.get(offsetsAppId(TOPIC, 1))).toBe(199n);
  });

  test("a commit whose write fails after the object landed is recognised as landed; one that did not land leaves the rows for the next flush, and the retry doubles nothing", async () => {
    const inner = new MemoryLakeStore();
    let failCommits: "after" | "before" | undefined;
    const store: LakeStore = Object.assign(Object.create(inner) as LakeStore, {
      async writeIfAbsent(path: string, bytes: Uint8Array) {
        if (failCommits && path.startsWith("_delta_log/")) {
          const mode = failCommits;
          failCommits = undefined;
          if (mode === "after") await inner.writeIfAbsent(path, bytes);
          throw new Error("connection reset");
        }
        return inner.writeIfAbsent(path, bytes);
      },
    });
    const writer = new LakeWriter(store, { topic: TOPIC, clock });
    await writer.assign([0]);
    writer.startAt(0, 0n);
    const input = records(90);
    for (const [i, r] of input.slice(0, 30).entries()) writer.add(0, BigInt(i), r.value, r.timestampMs);
    failCommits = "after";
    expect(await writer.flush()).toEqual(new Map([[0, 30n]]));
    expect((await loadSnapshot(inner)).version).toBe(2); // created, claimed, this flush: not committed a second time
    for (const [i, r] of input.slice(30, 60).entries()) writer.add(0, BigInt(30 + i), r.value, r.timestampMs);
    failCommits = "before";
    await expect(writer.flush()).rejects.toThrow("cannot write partition 0's commit to the lake: connection reset");
    expect(writer.committed(0)).toBe(30n);
    for (const [i, r] of input.slice(60).entries()) writer.add(0, BigInt(60 + i), r.value, r.timestampMs);
    expect(await writer.flush()).toEqual(new Map([[0, 90n]]));
    const want = input.flatMap((r, i) => (r.valid ? [key(0, i)] : [])).sort();
    expect(await tableRows(inner)).toEqual(want);
  });

  test("a commit that landed although both its write and the read-back failed is taken as done at the next flush: no row twice", async () => {
    const inner = new MemoryLakeStore();
    let failing = false;
    const store: LakeStore = Object.assign(Object.create(inner) as LakeStore, {
      async writeIfAbsent(path: string, bytes: Uint8Array) {
        const created = await inner.writeIfAbsent(path, bytes);
        if (failing && path.startsWith("_delta_log/")) throw new Error("connection reset");
        return created;
      },
      read(path: string) {
        if (failing && path.startsWith("_delta_log/")) return Promise.reject(new Error("connection reset"));
        return inner.read(path);
      },
    });
    const writer = new LakeWriter(store, { topic: TOPIC, clock });
    await writer.assign([0]);
    writer.startAt(0, 0n);
    const input = records(90);
    for (const [i, r] of input.slice(0, 40).entries()) writer.add(0, BigInt(i), r.value, r.timestampMs);
    failing = true;
    await expect(writer.flush()).rejects.toThrow("connection reset");
    failing = false;
    // It landed (version 2); the writer does not know it, and has read on meanwhile.
    expect((await loadSnapshot(inner)).transactions.get(offsetsAppId(TOPIC, 0))).toBe(39n);
    for (const [i, r] of input.slice(40).entries()) writer.add(0, BigInt(40 + i), r.value, r.timestampMs);
    expect(await writer.flush()).toEqual(new Map([[0, 90n]]));
    expect(await tableRows(inner)).toEqual(input.flatMap((r, i) => (r.valid ? [key(0, i)] : [])).sort());
    expect(writer.committed(0)).toBe(90n);
  });

  test("a checkpoint every checkpointInterval versions; the table reads the same from it", async () => {
    const store = new MemoryLakeStore();
    const writer = new LakeWriter(store, { topic: TOPIC, clock, checkpointInterval: 4 });
    await writer.assign([0]);
    writer.startAt(0, 0n);
    const input = records(100);
    for (let flush = 0; flush < 10; flush++) {
      for (let i = flush * 10; i < flush * 10 + 10; i++) writer.add(0, BigInt(i), input[i]!.value, input[i]!.timestampMs);
      await writer.flush();
    }
    expect(writer.version).toBe(11);
    expect(writer.commits.checkpoints).toBe(2); // versions 4 and 8
    expect(await store.read(checkpointPath(8))).toBeDefined();
    const full = await loadSnapshot(store);
    for (let v = 0; v <= 8; v++) store.files.delete(commitPath(v));
    expect(await loadSnapshot(store)).toEqual(full);
  });

  test("the table names its topic, and a writer of another topic is refused before it commits anything", async () => {
    const store = new MemoryLakeStore();
    await new LakeWriter(store, { topic: TOPIC, clock }).assign([0]);
    expect((await loadSnapshot(store)).metadata?.configuration).toEqual({ "orderpulse.topic": TOPIC });
    const version = (await loadSnapshot(store)).version;
    await expect(new LakeWriter(store, { topic: "payments", clock }).assign([0])).rejects.toThrow(LakeTopicMismatchError);
    await expect(new LakeWriter(store, { topic: "payments", clock }).assign([0])).rejects.toThrow('holds the events of topic "orders"');
    expect((await loadSnapshot(store)).version).toBe(version);
  });

  test("skipTo() commits the skipped range as done, named in the commit, and refuses to go back", async () => {
    const store = new MemoryLakeStore();
    const writer = new LakeWriter(store, { topic: TOPIC, clock });
    await writer.assign([3]);
    writer.startAt(3, 0n);
    expect(await writer.skipTo(3, 500n)).toBe(true);
    expect(writer.committed(3)).toBe(500n);
    const snapshot = await loadSnapshot(store);
    expect(snapshot.transactions.get(offsetsAppId(TOPIC, 3))).toBe(499n);
    const info = (await readCommit(store, snapshot.version))![0] as { commitInfo: { operation: string; operationParameters: Record<string, string> } };
    expect(info.commitInfo).toMatchObject({ operation: "SKIP LOST RECORDS", operationParameters: { partition: "3", from: "0", to: "500" } });
    await expect(writer.skipTo(3, 400n)).rejects.toThrow("goes forward only");
  });
});
