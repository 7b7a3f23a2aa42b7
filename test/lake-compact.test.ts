/**
 * workers/compact.ts as a real process on a lake the real lake writer fills, with a reader loop
 * (lib/lake/reader.ts) running the whole time: every read holds exactly the committed event set
 * — each valid record below the lake's offsets once, nothing else — before, during and after
 * merges, while late events land in hours already compacted, and with replaced files deleted at
 * once (--grace 0s), so readers must notice and read again.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { hourStartMs } from "../lib/lake/layout.ts";
import { listDataFiles, readJournal, readLake } from "../lib/lake/reader.ts";
import type { SimulatorOptions } from "../lib/event/simulator.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { checkLakeRows, validRecords } from "./support/lake-invariants.ts";
import { produceSimulated, readTopic, startWorker } from "./support/pipeline-harness.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-lake-compact-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const HOUR = 3_600_000;
/** Two hours ago, a minute before an hour boundary: two closed hour partitions. */
const streamStartMs = Math.floor((Date.now() - 2 * HOUR) / HOUR) * HOUR - 60_000;
/** A lake path in one of the hours the stream's event times fall in (its start, give or take an hour). */
const inStreamHours = (path: string) => {
  const start = hourStartMs(path.split("/").slice(0, 2).join("/"));
  return start !== undefined && start >= streamStartMs - 2 * HOUR && start <= streamStartMs + HOUR;
};
const stream = (seed: number): SimulatorOptions => ({ seed, startMs: streamStartMs, ratePerS: 40, outOfOrderFraction: 0.2, malformedFraction: 0.02 });

describe("workers/compact.ts", () => {
  test("a reader loop during compaction always reads exactly the committed event set", async () => {
    const topic = await uniqueTopic("lake-compact", 3);
    const conn = await testConnection("lake-compact");
    const lakeDir = join(scratch, "lake");
    const store = new FileLakeStore(lakeDir);
    const env = { KAFKA_BROKERS: conn.brokers.join(","), ORDERS_TOPIC: topic, LAKE_DIR: lakeDir, LAKE_GROUP: "lake-compact", KAFKA_SESSION_TIMEOUT: "6s" };
    const writerArgs = ["--flush-interval", "100ms", "--exit-when-idle", "3s"];

    // 1. Many small files: a paced stream, flushed ten times a second.
    // Also by count: a flush that keeps far-off events writes each to its own hour (a file and
    // its new directories, all fsynced), so under load fewer flushes fit in the stream's 4 s.
    const writer1 = startWorker("workers/lake-writer.ts", [...writerArgs, "--flush-rows", "100"], env);
    await writer1.waitForLog(/assigned partitions \[0, 1, 2\]/);
    await produceSimulated(conn, topic, 6_000, stream(31), { perSecond: 1_500 });
    expect(await writer1.exited).toBe(0);
    const smallFiles = (await listDataFiles(store)).filter(inStreamHours).length;
    expect(smallFiles).toBeGreaterThan(40);

    // 2. More events for the same hours, waiting in Kafka: they land after the first merges.
    await produceSimulated(conn, topic, 4_000, stream(32));
    const expected = validRecords(await readTopic(conn, topic));

    const compactor = startWorker(
      "workers/compact.ts",
      ["--interval", "100ms", "--target-size", "512KB", "--close-after", "0s", "--grace", "0s"],
      { LAKE_DIR: lakeDir },
    );
    let compactorExit: number | undefined;
    void compactor.exited.then((code) => (compactorExit = code));
    let reads = 0;
    let retries = 0;
    let writer2: ReturnType<typeof startWorker> | undefined;
    let writer2Done = false;
    let quietPassesAfterWriter = 0;
    let passesAtWriterEnd: number | undefined;
    const problems: string[] = [];
    while (quietPassesAfterWriter < 2) {
      const { snapshot, rows } = await readLake(store);
      reads += 1;
      retries += snapshot.retries;
      const found = checkLakeRows(rows, expected, snapshot.nextOffsets);
      if (found.length > 0) problems.push(`read ${reads}: ${found.join("; ")}`);
      if (!writer2 && /#\d+ dt=/.test(compactor.log())) {
        writer2 = startWorker("workers/lake-writer.ts", writerArgs, env);
        void writer2.exited.then(() => (writer2Done = true));
      }
      if (writer2Done) {
        // Settled: two passes without a merge, both begun after the late files were all committed.
        const passes = compactor.log().split("\n").filter((l) => / pass \d+: /.test(l));
        passesAtWriterEnd ??= passes.length;
        quietPassesAfterWriter = passes.slice(passesAtWriterEnd + 1).filter((l) => /: 0 merges/.test(l)).length;
      }
      if (compactorExit !== undefined) throw new Error(`the compactor exited (${compactorExit}):\n${compactor.log().slice(-2000)}`);
      if (reads > 5_000) throw new Error(`the compactor did not settle:\n${compactor.log().slice(-2000)}`);
    }
    compactor.kill("SIGTERM");
    expect(await compactor.exited).toBe(0);
    expect(await writer2!.exited).toBe(0);
    expect(problems).toEqual([]);

    const { snapshot, rows } = await readLake(store);
    expect(checkLakeRows(rows, expected)).toEqual([]);
    expect(rows.length).toBe(expected.length);
    const journal = await readJournal(store);
    expect(journal.length).toBeGreaterThan(2);
    // Late files in an already compacted hour were merged again: some input is an earlier output.
    expect(journal.some((e) => e.inputs.some((i) => /\/c\d+-\d+\.parquet$/.test(i)))).toBe(true);
    // Counted in the stream's hours: an event with a far-off created_at (the stream's past and future
    // timestamp faults, which the lake keeps) sits alone in its own hour, with nothing to merge it with.
    expect(snapshot.files.filter(inStreamHours).length).toBeLessThan(smallFiles / 3);
    expect(await listDataFiles(store)).toEqual(snapshot.files); // replaced files were deleted (grace 0)
    console.log(`[lake-compact] ${smallFiles} small files → ${snapshot.files.length}; ${journal.length} merges; ${reads} reads, ${retries} retries`);
  }, 120_000);
});
