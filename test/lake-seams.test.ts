/**
 * The lake at its seams (issue 17), on a real disk and, where Kafka is part of the condition, a
 * real broker and real worker processes:
 *
 * - 17.4: the lake keeps every valid event whatever its created_at (a writer outage longer than
 *   a day, a rebuild from the topic, a clock behind the producer's);
 * - 17.5: two writers racing for one partition — once the new owner has claimed it, nothing of
 *   the stale owner's is committed, at whatever moment its flush comes;
 * - 17.7: no recovery path deletes committed data (a commit that landed and then reported an
 *   error, an offset Kafka no longer has);
 * - the directories the lake creates are fsynced into their parents.
 *
 * The lake is the Delta table (issue 19): a claim and a flush are each one commit,
 * `_delta_log/<version>.json`, written put-if-absent.
 *
 * Every check of the lake's contents is the exactly-once invariant of test/support/lake-invariants.ts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { createAdmin } from "../lib/kafka/client.ts";
import { readCommit } from "../lib/lake/delta-log.ts";
import { listHourFiles, vacuum } from "../lib/lake/delta-vacuum.ts";
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { readLake } from "../lib/lake/reader.ts";
import { decodeLakeFile } from "../lib/lake/schema.ts";
import type { LakeStore } from "../lib/lake/store.ts";
import { LakeWriter } from "../lib/lake/writer.ts";
import { Simulator, type SimulatorOptions } from "../lib/event/simulator.ts";
import { validateOrder } from "../lib/event/validate-order.ts";
import { syncDirectory } from "../lib/runtime/durable-fs.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { checkLakeRows, type ExpectedRecord } from "./support/lake-invariants.ts";
import { produceSimulated, readTopic, startWorker } from "./support/pipeline-harness.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-lake-seams-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const clock = { now: () => Date.now() };

/** Every validator rule but the time bounds: what the lake keeps (spelled out here, not taken from the code under test). */
function lakeValid(value: Uint8Array) {
  return validateOrder(value, { nowMs: 0, maxFutureMs: Number.POSITIVE_INFINITY, maxPastMs: Number.POSITIVE_INFINITY });
}

/** The records of a topic (as readTopic returns them) that the lake must hold, each once. */
function lakeRecords(records: Map<number, { offset: bigint; value: Uint8Array }[]>): ExpectedRecord[] {
  const out: ExpectedRecord[] = [];
  for (const [partition, list] of records) {
    for (const r of list) {
      const v = lakeValid(r.value);
      if (v.ok) out.push({ partition, offset: r.offset, eventId: v.event.event_id });
    }
  }
  return out;
}

/** `count` simulated values of partition 0 from `startMs`, with their expected lake records. */
function simulated(count: number, startMs = Date.now() - 2 * HOUR): { values: Uint8Array[]; expected: ExpectedRecord[] } {
  const sim = new Simulator({ seed: 17, startMs, ratePerS: 40, malformedFraction: 0.02 });
  const values = Array.from({ length: count }, () => sim.next().value);
  return { values, expected: lakeRecords(new Map([[0, values.map((value, i) => ({ offset: BigInt(i), value }))]])) };
}

function feed(writer: LakeWriter, values: readonly Uint8Array[], from: number, to: number): void {
  for (let i = from; i < to; i++) writer.add(0, BigInt(i), values[i]!);
}

/** A Delta commit's path (a claim or a flush), as opposed to a data file or a checkpoint. */
const isCommit = (path: string) => /^_delta_log\/\d{20}\.json$/.test(path);

/** `store`, with `before(path)` awaited before each write: a data file, or a commit (`_delta_log/…json`: a claim or a flush). */
function beforeWrite(store: LakeStore, before: (path: string) => Promise<void>): LakeStore {
  return {
    list: (dir) => store.list(dir),
    read: (path) => store.read(path),
    size: (path) => store.size(path),
    modifiedAt: (path) => store.modifiedAt(path),
    remove: (path) => store.remove(path),
    writeAtomic: async (path, bytes) => (await before(path), store.writeAtomic(path, bytes)),
    writeIfAbsent: async (path, bytes) => (await before(path), store.writeIfAbsent(path, bytes)),
  };
}

/** Runs `action` once, the first time the returned function is called. */
function once(action: () => Promise<void>): () => Promise<void> {
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    await action();
  };
}

const recentStream = (seed: number): SimulatorOptions => ({ seed, startMs: Date.now() - 2 * HOUR, ratePerS: 40, malformedFraction: 0.02 });

describe("the lake at its seams", () => {
  test("17.4 the lake writer keeps valid orders of any age: a stream three days old, and events dated days ahead", async () => {
    const topic = await uniqueTopic("lake-age", 2);
    const conn = await testConnection("lake-age");
    const lakeDir = join(scratch, "age", "orders");
    // Three days of writer outage: the records are three days old (and stamped so in Kafka).
    await produceSimulated(conn, topic, 1_500, { seed: 41, startMs: Date.now() - 3 * DAY, ratePerS: 40, malformedFraction: 0.02 });
    // Today's stream, with its share of events dated days behind or ahead of their time.
    await produceSimulated(conn, topic, 600, { seed: 42, startMs: Date.now() - HOUR, ratePerS: 40, malformedFraction: 0.3 });
    const writer = startWorker("workers/lake-writer.ts", ["--flush-interval", "200ms", "--exit-when-idle", "2s"], {
      KAFKA_BROKERS: conn.brokers.join(","),
      ORDERS_TOPIC: topic,
      LAKE_URI: lakeDir,
      LAKE_GROUP: "lake-age",
    });
    expect(await writer.exited).toBe(0);
    const records = await readTopic(conn, topic);
    const expected = lakeRecords(records);
    const { rows } = await readLake(new FileLakeStore(lakeDir));
    expect(checkLakeRows(rows, expected)).toEqual([]);
    expect(rows.length).toBe(expected.length);
    const now = Date.now();
    expect(rows.filter((r) => r.created_at.getTime() < now - 2 * DAY).length).toBeGreaterThan(1_400);
    expect(rows.some((r) => r.created_at.getTime() > now + DAY)).toBe(true);
    // Each row keeps its record's Kafka timestamp, which the hot path judges time against.
    const stamps = new Map([...records.values()].flat().map((r) => [`${r.partition}@${r.offset}`, r.timestampMs]));
    expect(rows.filter((r) => r.kafka_timestamp?.getTime() !== stamps.get(`${r.kafka_partition}@${r.kafka_offset}`)).length).toBe(0);
  }, 60_000);

  test("17.5 a stale owner's flush is refused on a real disk when the new owner claims before its files, between its files and its commit, or commits first", async () => {
    const moments = [
      { name: "claim before the stale flush's files", at: (path: string) => !path.startsWith("_delta_log/"), newOwnerCommits: false },
      { name: "claim between the stale flush's files and its commit", at: isCommit, newOwnerCommits: false },
      { name: "claim and commit between the stale flush's files and its commit", at: isCommit, newOwnerCommits: true },
    ];
    for (const [i, moment] of moments.entries()) {
      const store = new FileLakeStore(join(scratch, `race-${i}`, "orders"));
      const { values, expected } = simulated(3_000);
      const owner = new LakeWriter(store, { topic: "orders", clock });
      const takeOver = once(async () => {
        expect(await owner.assign([0])).toEqual(new Map([[0, 1_000n]]));
        feed(owner, values, 1_000, 3_000);
        if (moment.newOwnerCommits) await owner.flush();
      });
      let flushing = false;
      const hooked = beforeWrite(store, (path) => (flushing && moment.at(path) ? takeOver() : Promise.resolve()));
      const stale = new LakeWriter(hooked, { topic: "orders", clock });
      await stale.assign([0]);
      stale.startAt(0, 0n);
      feed(stale, values, 0, 1_000);
      await stale.flush();
      feed(stale, values, 1_000, 2_000);
      flushing = true;
      const staleCommitted = await stale.flush();
      await owner.flush();

      const read = await readLake(store, { topic: "orders" });
      expect({ moment: moment.name, problems: checkLakeRows(read.rows, expected) }).toEqual({ moment: moment.name, problems: [] });
      expect(read.nextOffsets.get(0)).toBe(3_000n);
      expect(staleCommitted).toEqual(new Map());
      const dropped = expected.filter((e) => e.offset >= 1_000n && e.offset < 2_000n).length;
      expect(stale.takeFenced().map((f) => ({ partition: f.partition, droppedRows: f.droppedRows }))).toEqual([{ partition: 0, droppedRows: dropped }]);
      // The refused flush's files (the stale writer's) are in storage, never in the table; vacuum deletes them.
      const leftOver = (await listHourFiles(store)).filter((f) => !read.files.includes(f));
      expect(leftOver.length).toBeGreaterThan(0);
      expect(leftOver.every((f) => f.endsWith(`-${stale.run}.parquet`))).toBe(true);
      await vacuum(store, { nowMs: Date.now() + 1_000, retentionMs: 0, allowShortRetention: true });
      expect((await listHourFiles(store)).sort()).toEqual(read.files);
      expect(checkLakeRows((await readLake(store)).rows, expected)).toEqual([]);
    }
  });

  test("17.5 a stale owner's commit that lands before the new owner's claim counts, and the new owner starts after it", async () => {
    const store = new FileLakeStore(join(scratch, "race-commit", "orders"));
    const { values, expected } = simulated(3_000);
    const stale = new LakeWriter(store, { topic: "orders", clock });
    await stale.assign([0]);
    stale.startAt(0, 0n);
    feed(stale, values, 0, 1_000);
    await stale.flush();
    feed(stale, values, 1_000, 2_000);
    // The new owner has read the table (offset 1,000); the stale owner commits 2,000 before the claim is written.
    const staleCommits = once(async () => void (await stale.flush()));
    const owner = new LakeWriter(beforeWrite(store, (path) => (isCommit(path) ? staleCommits() : Promise.resolve())), { topic: "orders", clock });
    expect(await owner.assign([0])).toEqual(new Map([[0, 2_000n]]));
    feed(owner, values, 2_000, 3_000);
    await owner.flush();
    // The stale owner reads on, and its next flush is refused.
    feed(stale, values, 2_000, 2_500);
    expect(await stale.flush()).toEqual(new Map());
    const { rows, nextOffsets } = await readLake(store, { topic: "orders" });
    expect(checkLakeRows(rows, expected)).toEqual([]);
    expect(nextOffsets.get(0)).toBe(3_000n);
    expect(stale.takeFenced().map((f) => f.partition)).toEqual([0]);
  });

  test("17.5 two lake writer processes racing for one partition: the stale one's flush after the takeover is refused, and the lake holds each valid record once", async () => {
    const topic = await uniqueTopic("lake-fence", 1);
    const conn = await testConnection("lake-fence");
    const lakeDir = join(scratch, "fence", "orders");
    const store = new FileLakeStore(lakeDir);
    const env = (group: string) => ({ KAFKA_BROKERS: conn.brokers.join(","), ORDERS_TOPIC: topic, LAKE_URI: lakeDir, LAKE_GROUP: group });
    await produceSimulated(conn, topic, 1_000, recentStream(51));
    // A buffers everything it reads and flushes only when stopped.
    const stale = startWorker("workers/lake-writer.ts", ["--flush-interval", "1h", "--flush-rows", "1000000"], env("lake-fence-a"));
    await stale.waitForLog(/assigned partitions \[0\]/);
    // B gets partition 0 too (another group here; a rebalance while A was paused in production),
    // claims it in the lake, writes what is there and stops.
    const owner = startWorker("workers/lake-writer.ts", ["--flush-interval", "100ms", "--exit-when-idle", "2s"], env("lake-fence-b"));
    expect(await owner.exited).toBe(0);
    const afterOwner = await readLake(store, { topic });
    expect(afterOwner.nextOffsets.get(0)).toBe(1_000n);
    // More records: A reads them too, then its final flush covers 0..1,999, half of it B's.
    await produceSimulated(conn, topic, 1_000, { ...recentStream(52), startMs: Date.now() - HOUR });
    await stale.waitForLog(/records 2000:/);
    stale.kill("SIGTERM");
    const staleExit = await stale.exited;

    const all = lakeRecords(await readTopic(conn, topic));
    const afterStale = await readLake(store, { topic });
    expect(checkLakeRows(afterStale.rows, all, afterStale.nextOffsets)).toEqual([]);
    expect(afterStale.files).toEqual(afterOwner.files); // A landed nothing after B's claim
    expect({ staleExit, refused: /partition 0 was claimed in the lake by another writer/.test(stale.log()) }).toEqual({ staleExit: 0, refused: true });

    // The next owner picks up where B left off: A's dropped rows are read again, once.
    const next = startWorker("workers/lake-writer.ts", ["--flush-interval", "100ms", "--exit-when-idle", "2s"], env("lake-fence-c"));
    expect(await next.exited).toBe(0);
    const { rows, files, nextOffsets } = await readLake(store, { topic });
    expect(checkLakeRows(rows, all)).toEqual([]);
    expect(rows.length).toBe(all.length);
    expect(nextOffsets.get(0)).toBe(2_000n);
    // A's refused flush left its files in storage, referenced by no version: A's rows, offsets 0..1,999.
    const refusedFiles = (await listHourFiles(store)).filter((f) => !files.includes(f));
    expect(refusedFiles.length).toBeGreaterThan(0);
    const refusedRows = (await Promise.all(refusedFiles.map(async (f) => decodeLakeFile((await store.read(f))!)))).flat();
    expect(refusedRows.length).toBeGreaterThan(0);
    expect(refusedRows.every((r) => r.kafka_partition === 0 && r.kafka_offset < 2_000n)).toBe(true);
  }, 90_000);

  test("17.7 a flush whose commit landed on disk keeps its files when writing the commit then reports an error", async () => {
    const disk = new FileLakeStore(join(scratch, "landed", "orders"));
    const { values, expected } = simulated(2_000);
    // The commit lands (the link done), then a later step of it fails (its directory's fsync, say).
    const eio = () => Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
    let failing = false;
    const store: LakeStore = {
      ...Object.fromEntries((["list", "read", "size", "modifiedAt", "remove"] as const).map((m) => [m, (p: string) => disk[m](p)])) as Pick<LakeStore, "list" | "read" | "size" | "modifiedAt" | "remove">,
      writeAtomic: async (path, bytes) => {
        await disk.writeAtomic(path, bytes);
        if (failing && isCommit(path)) throw eio();
      },
      writeIfAbsent: async (path, bytes) => {
        const created = await disk.writeIfAbsent(path, bytes);
        if (failing && isCommit(path)) throw eio();
        return created;
      },
    };
    const writer = new LakeWriter(store, { topic: "orders", clock });
    await writer.assign([0]);
    writer.startAt(0, 0n);
    feed(writer, values, 0, 2_000);
    failing = true;
    // The writer reads the commit back, recognises its own (commitInfo's txnId) and counts it done.
    expect(await writer.flush()).toEqual(new Map([[0, 2_000n]]));
    expect(writer.bufferedRows).toBe(0);
    const { rows, nextOffsets } = await readLake(disk, { topic: "orders" });
    expect(nextOffsets.get(0)).toBe(2_000n);
    expect(checkLakeRows(rows, expected)).toEqual([]);
  });

  test("17.7 an offset Kafka deleted stops the writer with advice that deletes nothing; --skip-lost-records goes on and keeps every committed file", async () => {
    const topic = await uniqueTopic("lake-lost", 1);
    const conn = await testConnection("lake-lost");
    const lakeDir = join(scratch, "lost", "orders");
    const store = new FileLakeStore(lakeDir);
    const env = { KAFKA_BROKERS: conn.brokers.join(","), ORDERS_TOPIC: topic, LAKE_URI: lakeDir, LAKE_GROUP: "lake-lost" };
    const idle = ["--flush-interval", "100ms", "--exit-when-idle", "1s"];
    await produceSimulated(conn, topic, 300, recentStream(61));
    expect(await startWorker("workers/lake-writer.ts", idle, env).exited).toBe(0);
    const committed = await readLake(store, { topic });
    const committedFiles = committed.files;
    expect(committed.nextOffsets.get(0)).toBe(300n);

    // The writer is down while 300 more arrive and retention deletes up to offset 450.
    await produceSimulated(conn, topic, 300, { ...recentStream(62), startMs: Date.now() - HOUR });
    const before = await readTopic(conn, topic);
    const admin = createAdmin(conn);
    try {
      await admin.deleteRecords({ topics: [{ name: topic, partitions: [{ partition: 0, offset: 450n }] }] });
    } finally {
      await admin.close();
    }

    const refused = startWorker("workers/lake-writer.ts", idle, env);
    expect(await refused.exited).not.toBe(0);
    expect(refused.log()).toMatch(/retention deleted records 300\.\.449 .*restart with --skip-lost-records/);
    expect(refused.log()).toMatch(/Do not move or delete anything under _delta_log\//);
    // It claimed the partition (a commit of its own) and added nothing.
    expect((await readLake(store, { topic })).files).toEqual(committedFiles);
    expect((await listHourFiles(store)).sort()).toEqual(committedFiles);
    expect(checkLakeRows((await readLake(store)).rows, lakeRecords(before), new Map([[0, 300n]]))).toEqual([]);

    const skipping = startWorker("workers/lake-writer.ts", [...idle, "--skip-lost-records"], env);
    expect(await skipping.exited).toBe(0);
    expect(skipping.log()).toMatch(/records 300\.\.449 were deleted from Kafka before the lake read them/);
    const { rows, files, version } = await readLake(store, { topic });
    const kept = lakeRecords(before).filter((e) => e.offset < 300n || e.offset >= 450n);
    expect(checkLakeRows(rows, kept)).toEqual([]);
    // The gap is on record in the table's history: a commit naming the skipped range.
    const skips = [];
    for (let v = committed.version + 1; v <= version; v++) {
      for (const action of (await readCommit(store, v)) ?? []) {
        if ("commitInfo" in action && action.commitInfo.operation === "SKIP LOST RECORDS") skips.push(action.commitInfo.operationParameters);
      }
    }
    expect(skips).toEqual([{ partition: "0", from: "300", to: "450" }]);
    expect(committedFiles.filter((f) => !files.includes(f))).toEqual([]);
  }, 90_000);

  test("17.dir-fsync every directory the lake creates is fsynced into its parent before a file in it counts as written", async () => {
    const root = join(scratch, "dir-fsync", "lake", "orders");
    const synced: string[] = [];
    const store = new FileLakeStore(root, {
      syncDirectory: async (dir) => {
        synced.push(relative(scratch, dir));
        await syncDirectory(dir);
      },
    });
    const { values } = simulated(500);
    const writer = new LakeWriter(store, { topic: "orders", clock });
    await writer.assign([0]);
    writer.startAt(0, 0n);
    feed(writer, values, 0, 500);
    await writer.flush();
    // Every directory under scratch/dir-fsync that the store created (the lake root and its parent
    // `lake` included), and each one's parent, were fsynced.
    const created: string[] = [];
    const walk = (dir: string) => {
      created.push(dir);
      for (const name of readdirSync(dir)) if (statSync(join(dir, name)).isDirectory()) walk(join(dir, name));
    };
    walk(join(scratch, "dir-fsync"));
    expect(created.filter((dir) => !synced.includes(relative(scratch, dirname(dir)))).map((d) => relative(scratch, d))).toEqual([]);
    expect(created.some((d) => /hour=\d\d$/.test(d)) && created.some((d) => d.endsWith("_delta_log"))).toBe(true);
  });
});
