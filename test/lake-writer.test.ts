/**
 * workers/lake-writer.ts as a real process against a real broker: killed with SIGKILL again and
 * again mid-stream and restarted, it ends with a lake holding exactly the topic's valid records
 * — each once, no gaps — and every snapshot a reader took between two crashes held exactly the
 * records committed at that moment.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { listDataFiles, readLake } from "../lib/lake/reader.ts";
import { Prng } from "../lib/event/prng.ts";
import type { SimulatorOptions } from "../lib/event/simulator.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { checkLakeRows, validRecords } from "./support/lake-invariants.ts";
import { produceSimulated, readTopic, startWorker } from "./support/pipeline-harness.ts";

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

describe("workers/lake-writer.ts", () => {
  test("killed with SIGKILL at least 10 times mid-stream and restarted, the lake holds exactly the valid events", async () => {
    const topic = await uniqueTopic("lake-crash", 4);
    const conn = await testConnection("lake-crash");
    const lakeDir = join(scratch, "crash", "lake");
    const env = {
      KAFKA_BROKERS: conn.brokers.join(","),
      ORDERS_TOPIC: topic,
      LAKE_DIR: lakeDir,
      LAKE_GROUP: "lake-crash",
      LAKE_INSTANCE_ID: "lake-crash-writer",
      KAFKA_SESSION_TIMEOUT: "6s",
    };
    const args = ["--flush-interval", "150ms", "--exit-when-idle", "3s"];
    const store = new FileLakeStore(lakeDir);

    const producing = produceSimulated(conn, topic, 20_000, streamOptions(21), { perSecond: 1_500 });
    let producerDone = false;
    void producing.then(() => (producerDone = true));
    const prng = new Prng(7);
    const snapshots: Awaited<ReturnType<typeof readLake>>[] = [];
    let kills = 0;
    let runsThatRemovedOrphans = 0;
    while (kills < 10 || !producerDone) {
      const worker = startWorker("workers/lake-writer.ts", args, env);
      await worker.waitForLog(/assigned partitions \[0, 1, 2, 3\]/);
      await Bun.sleep(prng.int(300, 2_500));
      worker.kill("SIGKILL");
      expect(await worker.exited).not.toBe(0);
      kills += 1;
      if (/removed \d+ uncommitted/.test(worker.log())) runsThatRemovedOrphans += 1;
      // What a reader sees between crashes: the committed records, each once.
      snapshots.push(await readLake(store));
      if (kills > 40) throw new Error("the producer did not finish within 40 restarts");
    }
    await producing;
    const last = startWorker("workers/lake-writer.ts", args, env);
    expect(await last.exited).toBe(0);
    expect(last.log()).toMatch(/starting at 0@[1-9]/); // it resumed from the lake's offsets, not from the start

    const records = await readTopic(conn, topic);
    const expected = validRecords(records);
    const totalRecords = [...records.values()].reduce((n, l) => n + l.length, 0);
    expect(expected.length).toBeLessThan(totalRecords); // some invalid records were skipped
    const { snapshot, rows } = await readLake(store);
    expect(checkLakeRows(rows, expected)).toEqual([]);
    expect(rows.length).toBe(expected.length);
    expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(expected.map((e) => e.eventId)));
    // The lake's offsets reached each partition's end, and no uncommitted file is left behind.
    for (const [partition, list] of records) expect(snapshot.nextOffsets.get(partition)).toBe(list.at(-1)!.offset + 1n);
    expect((await listDataFiles(store)).sort()).toEqual(snapshot.files);
    expect(new Set(snapshot.files.map((f) => f.split("/").slice(0, 2).join("/"))).size).toBeGreaterThanOrEqual(2);

    for (const s of snapshots) expect(checkLakeRows(s.rows, expected, s.snapshot.nextOffsets)).toEqual([]);
    console.log(`[lake-crash] ${kills} kills, ${runsThatRemovedOrphans} restarts found an interrupted flush; ${snapshot.files.length} files, ${rows.length} rows`);
  }, 180_000);
});
