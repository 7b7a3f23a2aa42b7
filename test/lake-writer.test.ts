/**
 * workers/lake-writer.ts as a real process against a real broker, writing the Delta table on a
 * local directory and on a real S3 server: killed with SIGKILL again and again mid-stream and
 * restarted, it ends with a table holding exactly the topic's valid records — each once, no gaps
 * — and every snapshot a reader took between two crashes held exactly the records committed at
 * that moment.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listHourFiles, vacuum } from "../lib/lake/delta-vacuum.ts";
import { readLake } from "../lib/lake/reader.ts";
import { Prng } from "../lib/event/prng.ts";
import type { SimulatorOptions } from "../lib/event/simulator.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { checkLakeRows, validRecords } from "./support/lake-invariants.ts";
import { produceSimulated, readTopic, startWorker } from "./support/pipeline-harness.ts";
import { s3ServerForSuite } from "./support/s3-server.ts";
import { freshLake, LAKE_KINDS, lakeLabel } from "./support/test-lakes.ts";

const s3 = s3ServerForSuite("lake-writer");
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-lake-writer-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Starts a minute before an hour boundary two hours ago, so the stream spans two hour partitions. */
function streamOptions(seed: number): SimulatorOptions {
  const hour = 3_600_000;
  return {
    seed,
    startMs: Math.floor((Date.now() - 2 * hour) / hour) * hour - 60_000,
    ratePerS: 40,
    lateFraction: 0.05,
    outOfOrderFraction: 0.3,
    duplicateFraction: 0.02,
    malformedFraction: 0.03,
  };
}

for (const kind of LAKE_KINDS) {
  describe(`workers/lake-writer.ts writing to ${lakeLabel(kind)}`, () => {
    test("killed with SIGKILL at least 10 times mid-stream and restarted, the table holds exactly the valid events", async () => {
      const topic = await uniqueTopic(`lake-crash-${kind}`, 4);
      const conn = await testConnection(`lake-crash-${kind}`);
      const lake = freshLake(kind, scratch, s3, "lake-writer", "crash");
      const env = {
        KAFKA_BROKERS: conn.brokers.join(","),
        ORDERS_TOPIC: topic,
        ...lake.env,
        LAKE_GROUP: `lake-crash-${kind}`,
        LAKE_INSTANCE_ID: "lake-crash-writer",
        KAFKA_SESSION_TIMEOUT: "6s",
      };
      const args = ["--flush-interval", "150ms", "--exit-when-idle", "3s"];
      const { store } = lake;

      const producing = produceSimulated(conn, topic, 20_000, streamOptions(21), { perSecond: 1_500 });
      let producerDone = false;
      void producing.then(() => (producerDone = true));
      const prng = new Prng(7);
      const snapshots: Awaited<ReturnType<typeof readLake>>[] = [];
      let kills = 0;
      while (kills < 10 || !producerDone) {
        const worker = startWorker("workers/lake-writer.ts", args, env);
        await worker.waitForLog(/assigned partitions \[0, 1, 2, 3\]/);
        await Bun.sleep(prng.int(300, 2_500));
        worker.kill("SIGKILL");
        expect(await worker.exited).not.toBe(0);
        kills += 1;
        // What a reader sees between crashes: the committed records, each once.
        snapshots.push(await readLake(store, { topic }));
        if (kills > 40) throw new Error("the producer did not finish within 40 restarts");
      }
      await producing;
      const last = startWorker("workers/lake-writer.ts", args, env);
      expect(await last.exited).toBe(0);
      expect(last.log()).toMatch(/starting at 0@[1-9]/); // it resumed from the table's offsets, not from the start

      const records = await readTopic(conn, topic);
      const expected = validRecords(records);
      const totalRecords = [...records.values()].reduce((n, l) => n + l.length, 0);
      expect(expected.length).toBeLessThan(totalRecords); // some invalid records were skipped
      const read = await readLake(store, { topic });
      expect(checkLakeRows(read.rows, expected)).toEqual([]);
      expect(read.rows.length).toBe(expected.length);
      expect(new Set(read.rows.map((r) => r.event_id))).toEqual(new Set(expected.map((e) => e.eventId)));
      // The table's offsets reached each partition's end; the stream spans two hour partitions.
      for (const [partition, list] of records) expect(read.nextOffsets.get(partition)).toBe(list.at(-1)!.offset + 1n);
      expect(new Set(read.files.map((f) => f.split("/").slice(0, 2).join("/"))).size).toBeGreaterThanOrEqual(2);
      // Files of flushes a kill interrupted before their commit are in storage, referenced by no
      // version; a vacuum with no retention deletes exactly those, and the table reads the same.
      const stored = await listHourFiles(store);
      const uncommitted = stored.filter((path) => !read.files.includes(path));
      expect(stored.filter((path) => read.files.includes(path)).length).toBe(read.files.length);
      const vacuumed = await vacuum(store, { nowMs: Date.now() + 1_000, retentionMs: 0, allowShortRetention: true });
      expect(vacuumed.orphansDeleted + vacuumed.tombstonesDeleted).toBe(uncommitted.length);
      expect((await listHourFiles(store)).sort()).toEqual(read.files);
      expect((await readLake(store, { topic })).rows.length).toBe(expected.length);

      for (const s of snapshots) expect(checkLakeRows(s.rows, expected, s.nextOffsets)).toEqual([]);
      console.log(`[lake-crash ${kind}] ${kills} kills; ${uncommitted.length} files of interrupted flushes; table v${read.version}, ${read.files.length} files, ${read.rows.length} rows`);
    }, 240_000);
  });
}
