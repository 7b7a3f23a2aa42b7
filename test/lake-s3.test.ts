/**
 * The lake's Delta table on object storage (a real S3 server, moto) with the real workers:
 *
 * - two lake writer processes in one consumer group, each with its own working and temporary
 *   directory (no disk in common: the table is all they share), through rebalances — the second
 *   joining, the first SIGKILLed and coming back — leave every valid record in the table once;
 * - engines we did not write (delta-rs, and Polars at the same version) read the table again and
 *   again while a lake writer appends and the compactor merges and vacuums: each read holds
 *   exactly the records its version's txn offsets cover, each once.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SimulatorOptions } from "../lib/event/simulator.ts";
import { readLake } from "../lib/lake/reader.ts";
import { offsetsAppId } from "../lib/lake/writer.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { checkLakeRows, validRecords } from "./support/lake-invariants.ts";
import { produceSimulated, readTopic, startWorker } from "./support/pipeline-harness.ts";
import { type DeltaEngineView, readDelta } from "./support/read-delta.ts";
import { s3ServerForSuite } from "./support/s3-server.ts";
import { s3Lake } from "./support/test-lakes.ts";

const s3 = s3ServerForSuite("lake-s3");
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-lake-s3-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const HOUR = 3_600_000;
const stream = (seed: number): SimulatorOptions => ({
  seed,
  startMs: Math.floor((Date.now() - 2 * HOUR) / HOUR) * HOUR - 60_000,
  ratePerS: 40,
  outOfOrderFraction: 0.2,
  duplicateFraction: 0.02,
  malformedFraction: 0.02,
});

describe("the lake writer and the compactor on S3", () => {
  test("two lake writers in one group, on two separate local directories, writing one S3 table through rebalances: no lost or doubled rows", async () => {
    const topic = await uniqueTopic("lake-s3-pair", 6);
    const conn = await testConnection("lake-s3-pair");
    const lake = s3Lake(s3, "lake-s3", "pair/orders");
    const env = { KAFKA_BROKERS: conn.brokers.join(","), ORDERS_TOPIC: topic, ...lake.env, LAKE_GROUP: "lake-s3-pair", KAFKA_SESSION_TIMEOUT: "6s" };
    const hosts = ["host-a", "host-b"].map((name) => {
      const dir = join(scratch, name);
      mkdirSync(dir, { recursive: true });
      return dir;
    });
    const args = ["--flush-interval", "200ms"];
    const producing = produceSimulated(conn, topic, 16_000, stream(71), { perSecond: 1_000 });

    const a = startWorker("workers/lake-writer.ts", args, env, { cwd: hosts[0] });
    await a.waitForLog(/assigned partitions \[0, 1, 2, 3, 4, 5\]/);
    await Bun.sleep(2_000);
    // B joins: the group splits the partitions between them.
    const b = startWorker("workers/lake-writer.ts", args, env, { cwd: hosts[1] });
    await b.waitForLog(/assigned partitions \[\d/);
    // A's second assignment: the partitions it keeps (those B claimed first are fenced, not revoked).
    await a.waitForLog(/assigned partitions[\s\S]*assigned partitions \[\d/);
    await Bun.sleep(2_000);
    const midway = await readLake(lake.store, { topic });
    // A dies without a word: its partitions move to B after the session timeout.
    a.kill("SIGKILL");
    expect(await a.exited).not.toBe(0);
    await b.waitForLog(/assigned partitions \[0, 1, 2, 3, 4, 5\]/, 30_000);
    // A comes back on its own disk; the group splits the partitions again.
    const a2 = startWorker("workers/lake-writer.ts", [...args, "--exit-when-idle", "4s"], env, { cwd: hosts[0] });
    await producing;
    const a2Exit = await a2.exited;
    expect({ a2Exit, log: a2Exit === 0 ? "" : a2.log() }).toEqual({ a2Exit: 0, log: "" });
    await b.waitForLog(/records 16000:|revoked|assigned/);
    b.kill("SIGTERM");
    const bExit = await b.exited;
    expect({ bExit, log: bExit === 0 ? "" : b.log() }).toEqual({ bExit: 0, log: "" });
    // Whatever B held when it stopped is read once more by a last writer.
    const last = startWorker("workers/lake-writer.ts", [...args, "--exit-when-idle", "3s"], env, { cwd: hosts[1] });
    expect(await last.exited).toBe(0);

    const records = await readTopic(conn, topic);
    const expected = validRecords(records);
    const read = await readLake(lake.store, { topic });
    expect(checkLakeRows(read.rows, expected)).toEqual([]);
    expect(read.rows.length).toBe(expected.length);
    for (const [partition, list] of records) expect(read.nextOffsets.get(partition)).toBe(list.at(-1)!.offset + 1n);
    expect(checkLakeRows(midway.rows, expected, midway.nextOffsets)).toEqual([]);
    expect(midway.rows.length).toBeGreaterThan(0);
    // Both writers committed, and neither wrote anything to its own disk.
    expect(/assigned partitions/.test(a2.log()) && /assigned partitions/.test(b.log())).toBe(true);
    for (const dir of hosts) expect({ dir, files: readdirSync(dir) }).toEqual({ dir, files: [] });
    console.log(`[lake-s3-pair] ${read.rows.length} rows in table v${read.version}, ${read.files.length} files`);
  }, 180_000);

  test("delta-rs and Polars read the table while a lake writer appends and the compactor merges and vacuums: every read is exactly its version's records", async () => {
    const topic = await uniqueTopic("lake-s3-engines", 3);
    const conn = await testConnection("lake-s3-engines");
    const lake = s3Lake(s3, "lake-s3", "engines/orders");
    const env = { KAFKA_BROKERS: conn.brokers.join(","), ORDERS_TOPIC: topic, ...lake.env, LAKE_GROUP: "lake-s3-engines" };
    // Part of the stream in the table first, then the rest while the engines read.
    await produceSimulated(conn, topic, 4_000, stream(81));
    const first = startWorker("workers/lake-writer.ts", ["--flush-rows", "100", "--exit-when-idle", "2s"], env);
    expect(await first.exited).toBe(0);
    const producing = produceSimulated(conn, topic, 4_000, stream(82), { perSecond: 400 });
    const writer = startWorker("workers/lake-writer.ts", ["--flush-interval", "300ms", "--exit-when-idle", "3s"], env);
    const compactor = startWorker(
      "workers/compact.ts",
      ["--interval", "300ms", "--target-size", "256KB", "--close-after", "0s", "--retention", "20s", "--vacuum-interval", "0s", "--allow-short-retention"],
      lake.env,
    );
    const uri = lake.uri;
    const apps = [0, 1, 2].map((p) => offsetsAppId(topic, p));
    const reads: { engine: string; view: DeltaEngineView; below: Map<number, bigint> }[] = [];
    let writerDone = false;
    void writer.exited.then(() => (writerDone = true));
    while (!writerDone || reads.length < 4) {
      const latest = await readDelta("deltalake", uri, "latest", apps, s3);
      // Polars at the version delta-rs just read: the same records.
      const pinned = await readDelta("polars", uri, latest.version, [], s3);
      const below = new Map(apps.flatMap((app, p) => (latest.txn[app] === null || latest.txn[app] === undefined ? [] : [[p, BigInt(latest.txn[app]!) + 1n] as const])));
      reads.push({ engine: "deltalake", view: latest, below }, { engine: "polars", view: pinned, below });
      if (reads.length > 200) throw new Error("the lake writer did not finish");
    }
    await producing;
    const all = validRecords(await readTopic(conn, topic));
    const problems: string[] = [];
    for (const { engine, view, below } of reads) {
      const found = checkLakeRows(view.rows.map(([partition, offset, eventId]) => ({ kafka_partition: Number(partition), kafka_offset: BigInt(offset), event_id: eventId }) as never), all, below);
      if (found.length > 0) problems.push(`${engine} at v${view.version}: ${found.join("; ")}`);
    }
    compactor.kill("SIGTERM");
    expect(await compactor.exited).toBe(0);
    expect(await writer.exited).toBe(0);
    expect(problems).toEqual([]);
    const merges = compactor.log().split("\n").filter((l) => /v\d+ dt=/.test(l)).length;
    expect(merges).toBeGreaterThan(0);
    // The last read covers everything, and reads were taken at several versions.
    const final = await readDelta("deltalake", uri, "latest", apps, s3);
    expect(final.rows.length).toBe(all.length);
    const versions = [...new Set(reads.map((r) => r.view.version))];
    expect(versions.length).toBeGreaterThan(2);
    console.log(`[lake-s3-engines] ${reads.length} engine reads at versions ${versions.join(", ")}; ${merges} merges`);
  }, 180_000);
});
