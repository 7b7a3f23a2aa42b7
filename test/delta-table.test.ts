/**
 * The lake's Delta log (lib/lake/delta-log.ts, lib/lake/delta-table.ts) read by engines we did
 * not write: delta-rs (the deltalake package, .venv) and Polars (polars.read_delta, which must
 * read the same rows), on the local file system and on a real S3 server (moto). A table is built through lib/ alone — created, two appends of real lake files
 * with a txn per Kafka partition, then a compaction that removes two files and adds their merge
 * with dataChange false, then a checkpoint, one more append, and the commits before the
 * checkpoint deleted — and delta-rs must see every row exactly once at each version (the last one
 * rebuilt from our checkpoint file), the schema and partition columns we declared, and the txn
 * versions we committed. Our own replay of the log must agree with it.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Simulator } from "../lib/event/simulator.ts";
import { writeCheckpoint } from "../lib/lake/delta-checkpoint.ts";
import { commit, commitPath, type DeltaAction } from "../lib/lake/delta-log.ts";
import { loadSnapshot } from "../lib/lake/delta-snapshot.ts";
import { addFileAction, createTableActions } from "../lib/lake/delta-table.ts";
import { LakeCompactor } from "../lib/lake/compactor.ts";
import { LakeWriter, offsetsAppId } from "../lib/lake/writer.ts";
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { hourPartition } from "../lib/lake/layout.ts";
import { decodeLakeFile, encodeLakeFile, type LakeRow, toLakeRow } from "../lib/lake/schema.ts";
import type { LakeStore } from "../lib/lake/store.ts";
import { validateLakeEvent } from "../lib/lake/schema.ts";
import { type DeltaEngineView, readDelta } from "./support/read-delta.ts";
import { s3ServerForSuite } from "./support/s3-server.ts";

const s3 = s3ServerForSuite("lake");
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-delta-table-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const HOUR = 3_600_000;
const PARTITIONS = 3;

/** Valid lake rows of a simulated stream over about two hours, by Kafka partition, offsets from 0. */
function simulatedRows(): LakeRow[][] {
  const start = Math.floor(Date.UTC(2026, 11, 1, 10) / HOUR) * HOUR - 30 * 60_000;
  const sim = new Simulator({ seed: 19, startMs: start, ratePerS: 0.5, malformedFraction: 0 });
  const byPartition: LakeRow[][] = Array.from({ length: PARTITIONS }, () => []);
  for (let i = 0; i < 3_000; i++) {
    const record = sim.next();
    const v = validateLakeEvent(record.value);
    if (!v.ok) continue;
    const partition = i % PARTITIONS;
    const rows = byPartition[partition]!;
    rows.push(toLakeRow(v.event, v.eventTimeMs, partition, BigInt(rows.length), record.emittedAtMs));
  }
  return byPartition;
}

/** Writes `rows` (one Kafka partition, one flush) as one file per hour; returns their add actions. */
async function writeFiles(store: LakeStore, name: string, rows: readonly LakeRow[], dataChange = true): Promise<DeltaAction[]> {
  const byHour = Map.groupBy(rows, (row) => hourPartition(row.created_at.getTime()));
  const actions: DeltaAction[] = [];
  for (const [hour, list] of byHour) {
    const path = `${hour}/${name}.parquet`;
    const bytes = encodeLakeFile(list);
    await store.writeAtomic(path, bytes);
    actions.push({ add: addFileAction(path, bytes.byteLength, list, { modificationTime: Date.now(), dataChange }) });
  }
  return actions;
}

type DeltaRsView = DeltaEngineView;

/** The table at `version` as delta-rs reads it; with Polars reading the same rows too, which must match. */
async function readWithDeltaRs(uri: string, version: number | "latest", appIds: string[]): Promise<DeltaRsView> {
  const [deltaRs, polars] = await Promise.all([readDelta("deltalake", uri, version, appIds, s3), readDelta("polars", uri, version, [], s3)]);
  const sorted = (rows: DeltaRsView["rows"]) => rows.map((r) => JSON.stringify(r)).sort();
  expect(sorted(polars.rows)).toEqual(sorted(deltaRs.rows));
  return deltaRs;
}

const appId = (partition: number) => `orderpulse-lake-orders-${partition}`;
const rowKey = (r: LakeRow) => [String(r.kafka_partition), String(r.kafka_offset), r.event_id];

const places: [string, () => { store: LakeStore; uri: string }][] = [
  ["the local file system", () => {
    const root = join(scratch, crypto.randomUUID());
    return { store: new FileLakeStore(root), uri: root };
  }],
  ["S3 (moto)", () => {
    const prefix = `tables/${crypto.randomUUID()}/orders`;
    return { store: s3.store("lake", prefix), uri: `s3://lake/${prefix}` };
  }],
];

for (const [where, open] of places) {
  describe(`a Delta table written by lib/lake on ${where}`, () => {
    test("delta-rs (and Polars) read every row exactly once at each version, with our schema, partitions and txn versions; our replay agrees", async () => {
      const { store, uri } = open();
      const rows = simulatedRows();
      const half = rows.map((list) => Math.floor(list.length / 2));
      const apps = Array.from({ length: PARTITIONS }, (_, p) => appId(p));

      expect(await commit(store, 0, createTableActions(crypto.randomUUID(), Date.now()))).toBe(true);
      // Two flushes: each Kafka partition's rows up to `half`, then the rest, with its txn.
      for (const [version, slice] of [[1, (p: number) => rows[p]!.slice(0, half[p])], [2, (p: number) => rows[p]!.slice(half[p])]] as const) {
        const actions: DeltaAction[] = [{ commitInfo: { timestamp: Date.now(), operation: "WRITE", engineInfo: "orderpulse" } }];
        for (let p = 0; p < PARTITIONS; p++) {
          const list = slice(p);
          actions.push(...(await writeFiles(store, `p${p}-v${version}`, list)));
          actions.push({ txn: { appId: appId(p), version: list.at(-1)!.kafka_offset, lastUpdated: Date.now() } });
        }
        expect(await commit(store, version, actions)).toBe(true);
      }
      // A second writer racing for version 2 loses and changes nothing.
      expect(await commit(store, 2, [{ add: { path: "dt=2026-12-01/hour=10/intruder.parquet", partitionValues: { dt: "2026-12-01", hour: "10" }, size: 1, modificationTime: 0, dataChange: true } }])).toBe(false);

      const all = rows.flat();
      const atV2 = await readWithDeltaRs(uri, "latest", apps);
      expect(atV2.version).toBe(2);
      expect(atV2.protocol).toEqual([1, 2]);
      expect(atV2.partitionColumns).toEqual(["dt", "hour"]);
      expect(atV2.fields.map(([name]) => name)).toContain("items");
      expect(Object.fromEntries(atV2.fields)).toMatchObject({ created_at: "PrimitiveType(\"timestamp\")", kafka_offset: "PrimitiveType(\"long\")", dt: "PrimitiveType(\"date\")", hour: "PrimitiveType(\"integer\")" });
      expect(atV2.txn).toEqual(Object.fromEntries(apps.map((app, p) => [app, rows[p]!.length - 1])));
      expect(atV2.rows.map((r) => r.slice(0, 3).join("@")).sort()).toEqual(all.map((r) => rowKey(r).join("@")).sort());
      // Partition values, a money column and the event time come back as written.
      const byKey = new Map(all.map((r) => [rowKey(r).join("@"), r]));
      for (const [partition, offset, eventId, dt, hour, usd, createdAt] of atV2.rows) {
        const r = byKey.get([partition, offset, eventId].join("@"))!;
        const iso = r.created_at.toISOString();
        expect([dt, Number(hour), usd, createdAt]).toEqual([iso.slice(0, 10), Number(iso.slice(11, 13)), String(r.total_usd_cents), r.created_at.getTime()]);
      }
      const atV1 = await readWithDeltaRs(uri, 1, apps);
      expect(atV1.rows.length).toBe(half.reduce((a, b) => a + b, 0));
      expect(atV1.txn).toEqual(Object.fromEntries(apps.map((app, p) => [app, half[p]! - 1])));

      // Compaction: partition 0's two files of its first hour become one, dataChange false.
      const before = await loadSnapshot(store);
      const [firstHourFiles] = [...Map.groupBy([...before.files.keys()].filter((f) => f.includes("/p0-")), (f) => f.slice(0, f.lastIndexOf("/"))).values()].filter((g) => g.length === 2);
      expect(firstHourFiles).toHaveLength(2);
      const merged = (await Promise.all(firstHourFiles!.map(async (f) => decodeLakeFile((await store.read(f))!)))).flat();
      const compaction: DeltaAction[] = [
        { commitInfo: { timestamp: Date.now(), operation: "OPTIMIZE", engineInfo: "orderpulse" } },
        ...firstHourFiles!.map((path) => ({ remove: { path, deletionTimestamp: Date.now(), dataChange: false } })),
        ...(await writeFiles(store, "c1-0", merged, false)),
      ];
      expect(await commit(store, 3, compaction)).toBe(true);
      const atV3 = await readWithDeltaRs(uri, "latest", apps);
      expect(atV3.version).toBe(3);
      expect(atV3.files).toBe(atV2.files - 1);
      expect(atV3.rows.map((r) => r.slice(0, 3).join("@")).sort()).toEqual(atV2.rows.map((r) => r.slice(0, 3).join("@")).sort());
      expect(atV3.txn).toEqual(atV2.txn);

      // Our replay sees the same table.
      const ours = await loadSnapshot(store);
      expect(ours.version).toBe(3);
      expect(ours.files.size).toBe(atV3.files);
      expect(ours.transactions).toEqual(new Map(apps.map((app, p) => [app, BigInt(rows[p]!.length - 1)])));
      expect([...ours.tombstones.keys()].sort()).toEqual([...firstHourFiles!].sort());

      // A checkpoint at version 3, one more append, and the commits before the checkpoint gone:
      // delta-rs must rebuild the table from our checkpoint file.
      expect(await writeCheckpoint(store, ours)).toMatchObject({ version: 3, numOfAddFiles: atV3.files });
      const extra = simulatedRows().map((list, p) => list.slice(0, 5).map((r) => ({ ...r, kafka_offset: BigInt(rows[p]!.length) + r.kafka_offset })));
      const v4: DeltaAction[] = [];
      for (let p = 0; p < PARTITIONS; p++) {
        v4.push(...(await writeFiles(store, `p${p}-v4`, extra[p]!)));
        v4.push({ txn: { appId: appId(p), version: extra[p]!.at(-1)!.kafka_offset } });
      }
      expect(await commit(store, 4, v4)).toBe(true);
      for (let v = 0; v <= 3; v++) await store.remove(commitPath(v));
      const atV4 = await readWithDeltaRs(uri, "latest", apps);
      expect(atV4.version).toBe(4);
      expect(atV4.rows.map((r) => r.slice(0, 3).join("@")).sort()).toEqual([...all, ...extra.flat()].map((r) => rowKey(r).join("@")).sort());
      expect(atV4.txn).toEqual(Object.fromEntries(apps.map((app, p) => [app, rows[p]!.length + 4])));
      expect((await loadSnapshot(store)).files.size).toBe(atV4.files);
    }, 120_000);
  });
}

describe("the Delta lake writer and compactor cores (lib/lake/writer.ts, compactor.ts) on S3 (moto)", () => {
  test("two writers, partitions moving from one to the other mid-stream and the old owner flushing after the claim, then a compaction: delta-rs and Polars read every valid record exactly once", async () => {
    const prefix = `tables/${crypto.randomUUID()}/orders`;
    const store = s3.store("lake", prefix);
    const clock = { now: () => Date.now() };
    const sim = new Simulator({ seed: 7, startMs: Date.UTC(2026, 11, 2, 9, 30), ratePerS: 1, malformedFraction: 0.03 });
    const input = Array.from({ length: 1_200 }, () => sim.next());
    const a = new LakeWriter(store, { topic: "orders", clock, checkpointInterval: 5 });
    const b = new LakeWriter(store, { topic: "orders", clock, checkpointInterval: 5 });
    await a.assign([0, 1, 2]);
    for (const p of [0, 1, 2]) a.startAt(p, 0n);
    const feed = (writer: LakeWriter, from: number, to: number, partitions: number[]) => {
      for (let i = from; i < to; i++) {
        const partition = i % PARTITIONS;
        const offset = BigInt(Math.floor(i / PARTITIONS));
        if (partitions.includes(partition) && (writer.position(partition) ?? 0n) <= offset) writer.add(partition, offset, input[i]!.value, input[i]!.emittedAtMs);
      }
    };
    feed(a, 0, 300, [0, 1, 2]);
    await a.flush();
    feed(a, 300, 600, [0, 1, 2]); // buffered when partitions 1 and 2 move to b
    const starts = await b.assign([1, 2]);
    expect(starts).toEqual(new Map([[1, 100n], [2, 100n]]));
    feed(b, 300, 900, [1, 2]);
    await Promise.all([a.flush(), b.flush()]); // a's partitions 1 and 2 are fenced
    expect(a.takeFenced().map((f) => f.partition).sort()).toEqual([1, 2]);
    feed(a, 600, 1_200, [0]);
    feed(b, 900, 1_200, [1, 2]);
    await Promise.all([a.flush(), b.flush()]);

    const want = input.flatMap((r, i) => (validateLakeEvent(r.value).ok ? [`${i % PARTITIONS}@${Math.floor(i / PARTITIONS)}`] : [])).sort();
    const apps = [0, 1, 2].map((p) => offsetsAppId("orders", p));
    const read = await readWithDeltaRs(`s3://lake/${prefix}`, "latest", apps);
    expect(read.rows.map((r) => `${r[0]}@${r[1]}`).sort()).toEqual(want);
    expect(read.txn).toEqual(Object.fromEntries(apps.map((app) => [app, 399])));
    expect(a.commits.checkpoints + b.commits.checkpoints).toBeGreaterThan(0);

    // The compactor merges every closed hour's small files; the engines read the same records.
    const compacted = await new LakeCompactor(store, { clock: { now: () => Date.UTC(2026, 11, 3) } }).runOnce();
    expect(compacted.compactions).toBeGreaterThan(0);
    const after = await readWithDeltaRs(`s3://lake/${prefix}`, "latest", apps);
    expect(after.files).toBeLessThan(read.files);
    expect(after.rows.map((r) => `${r[0]}@${r[1]}`).sort()).toEqual(want);
    expect(after.txn).toEqual(read.txn);
  }, 120_000);
});
