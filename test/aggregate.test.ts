/**
 * workers/aggregate.ts as a real process against a real broker, held to the independent oracle
 * (test/support/oracle.ts): uninterrupted, killed with SIGKILL again and again, and split over
 * two workers of one consumer group with one of them stopped mid-stream.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_AGGREGATOR_SETTINGS } from "../lib/window/partition-aggregator.ts";
import type { SimulatorOptions } from "../lib/event/simulator.ts";
import { REJECT_REASONS } from "../lib/event/validate-order.ts";
import { Prng } from "../lib/event/prng.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import {
  checkResultsAgainstOracle,
  oracleForTopic,
  oracleTotal,
  produceSimulated,
  readResults,
  readTopic,
  startWorker,
} from "./support/pipeline-harness.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-aggregate-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A faulty shop: out-of-order, late (within and beyond the watermark), duplicated and malformed events. */
function streamOptions(seed: number): SimulatorOptions {
  return {
    seed,
    // Two hours ago, so created_at stays within the validator's one-day past limit, and all
    // windows can close once the stream ends.
    startMs: Date.now() - 2 * 3_600_000,
    ratePerS: 40, // stream time: 24,000 records span 10 minutes, about ten 1-minute windows
    lateFraction: 0.05,
    outOfOrderFraction: 0.3,
    duplicateFraction: 0.05,
    malformedFraction: 0.02,
  };
}

/** Topics and files of one test run of the worker. */
async function setup(name: string, partitions: number) {
  const topic = await uniqueTopic(name, partitions);
  const dlq = await uniqueTopic(`${name}-dlq`, 1);
  const late = await uniqueTopic(`${name}-late`, 1);
  const conn = await testConnection(name);
  const env = (group: string, extra: Record<string, string> = {}) => ({
    KAFKA_BROKERS: conn.brokers.join(","),
    ORDERS_TOPIC: topic,
    DLQ_TOPIC: dlq,
    LATE_TOPIC: late,
    CHECKPOINT_DIR: join(scratch, name, "checkpoints"),
    AGGREGATE_GROUP: group,
    KAFKA_SESSION_TIMEOUT: "6s",
    ...extra,
  });
  return { topic, dlq, late, conn, env, results: (file: string) => join(scratch, name, file) };
}

const workerArgs = (resultsPath: string) => [
  "--sink", `jsonl:${resultsPath}`,
  "--idle-timeout", "3s",
  "--exit-when-idle", "4s",
  "--checkpoint-interval", "1s",
];

/** Distinct (source partition, source offset) of a DLQ or late topic, and whether each carries a reason. */
async function forwarded(conn: Awaited<ReturnType<typeof testConnection>>, topic: string) {
  const positions = new Set<string>();
  const reasons = new Set<string>();
  let withoutReason = 0;
  for (const list of (await readTopic(conn, topic)).values()) {
    for (const r of list) {
      positions.add(`${r.headers.get("source-partition")}@${r.headers.get("source-offset")}`);
      const reason = r.headers.get("reason");
      if (reason) reasons.add(reason);
      else withoutReason += 1;
    }
  }
  return { positions, reasons, withoutReason };
}

describe("workers/aggregate.ts", () => {
  test("an uninterrupted run's final results equal the oracle's, and every invalid and late event is forwarded with its reason", async () => {
    const run = await setup("agg-oracle", 4);
    await produceSimulated(run.conn, run.topic, 24_000, streamOptions(11));
    const records = await readTopic(run.conn, run.topic);
    const oracle = oracleForTopic(records, DEFAULT_AGGREGATOR_SETTINGS);
    expect(oracleTotal(oracle, "late")).toBeGreaterThan(100);
    expect(oracleTotal(oracle, "duplicates")).toBeGreaterThan(100);
    expect(oracleTotal(oracle, "invalid")).toBeGreaterThan(100);

    const resultsPath = run.results("results.jsonl");
    const worker = startWorker("workers/aggregate.ts", workerArgs(resultsPath), run.env("agg-oracle"));
    expect(await worker.exited).toBe(0);

    expect(checkResultsAgainstOracle(await readResults(resultsPath), oracle)).toEqual([]);
    const totals = /stopped; read (\d+) records: counted (\d+), late (\d+), duplicates (\d+), invalid (\d+)/.exec(worker.log());
    expect(totals?.slice(1).map(Number)).toEqual([
      [...records.values()].reduce((n, l) => n + l.length, 0),
      oracleTotal(oracle, "counted"),
      oracleTotal(oracle, "late"),
      oracleTotal(oracle, "duplicates"),
      oracleTotal(oracle, "invalid"),
    ]);

    const dlq = await forwarded(run.conn, run.dlq);
    expect(dlq.positions.size).toBe(oracleTotal(oracle, "invalid"));
    expect(dlq.withoutReason).toBe(0);
    expect([...dlq.reasons].filter((r) => !(REJECT_REASONS as readonly string[]).includes(r))).toEqual([]);
    const late = await forwarded(run.conn, run.late);
    expect({ late: late.positions.size, withoutReason: late.withoutReason }).toEqual({ late: oracleTotal(oracle, "late"), withoutReason: 0 });
  }, 120_000);

  test("killed with SIGKILL 10 times mid-stream and restarted from its checkpoint, it ends with the uninterrupted run's results", async () => {
    const run = await setup("agg-crash", 4);
    const producing = produceSimulated(run.conn, run.topic, 30_000, streamOptions(12), { perSecond: 1_500 });
    // The uninterrupted reference run, on the same live stream in its own group.
    const referencePath = run.results("reference.jsonl");
    const reference = startWorker("workers/aggregate.ts", workerArgs(referencePath), run.env("agg-crash-reference", { CHECKPOINT_DIR: join(scratch, "agg-crash", "reference-checkpoints") }));

    const crashPath = run.results("crashed.jsonl");
    const env = run.env("agg-crash", { AGGREGATE_INSTANCE_ID: "crash-test-worker" });
    const prng = new Prng(99);
    let kills = 0;
    let producerDone = false;
    void producing.then(() => (producerDone = true));
    while (kills < 10 || !producerDone) {
      const worker = startWorker("workers/aggregate.ts", workerArgs(crashPath), env);
      await worker.waitForLog(/assigned partitions \[0, 1, 2, 3\]/);
      await Bun.sleep(prng.int(100, 1_500));
      worker.kill("SIGKILL");
      expect(await worker.exited).not.toBe(0);
      kills += 1;
      if (kills > 40) throw new Error("the producer did not finish within 40 restarts");
    }
    await producing;
    const last = startWorker("workers/aggregate.ts", workerArgs(crashPath), env);
    expect(await last.exited).toBe(0);
    expect(await reference.exited).toBe(0);
    expect(last.log()).toMatch(/starting at 0@[1-9]/); // it resumed from a checkpoint, not from the start

    const oracle = oracleForTopic(await readTopic(run.conn, run.topic), DEFAULT_AGGREGATOR_SETTINGS);
    const referenceResults = await readResults(referencePath);
    expect(checkResultsAgainstOracle(referenceResults, oracle)).toEqual([]);
    expect(checkResultsAgainstOracle(await readResults(crashPath), oracle)).toEqual([]);
    // Forwarded records are at-least-once across crashes (and both runs share the DLQ here), but
    // each invalid record's source position is there, and no other.
    expect((await forwarded(run.conn, run.dlq)).positions.size).toBe(oracleTotal(oracle, "invalid"));
    console.log(`[agg-crash] ${kills} kills`);
  }, 300_000);

  test("two workers in one group split the partitions; stopping one mid-stream loses and double-counts nothing", async () => {
    const run = await setup("agg-scale", 6);
    const producing = produceSimulated(run.conn, run.topic, 24_000, streamOptions(13), { perSecond: 2_000 });
    const pathA = run.results("a.jsonl");
    const pathB = run.results("b.jsonl");
    const a = startWorker("workers/aggregate.ts", workerArgs(pathA), run.env("agg-scale"));
    const b = startWorker("workers/aggregate.ts", workerArgs(pathB), run.env("agg-scale"));
    await Promise.all([a.waitForLog(/assigned partitions \[[0-9, ]+\]/), b.waitForLog(/assigned partitions \[[0-9, ]+\]/)]);
    // Both hold partitions at once: a split of the six, three each under round-robin.
    await a.waitForLog(/assigned partitions \[\d, \d, \d\]/);
    await Bun.sleep(3_000);
    b.kill("SIGTERM");
    expect(await b.exited).toBe(0);
    await a.waitForLog(/assigned partitions \[0, 1, 2, 3, 4, 5\]/);
    await producing;
    expect(await a.exited).toBe(0);

    const oracle = oracleForTopic(await readTopic(run.conn, run.topic), DEFAULT_AGGREGATOR_SETTINGS);
    const emitted = [...(await readResults(pathB)), ...(await readResults(pathA))].sort((x, y) => x.emittedAtMs - y.emittedAtMs);
    expect(b.log()).toMatch(/assigned partitions \[\d, \d, \d\]/);
    expect(checkResultsAgainstOracle(emitted, oracle)).toEqual([]);
  }, 180_000);

  test("two workers on separate hosts (no shared directory): one SIGKILLed with its windows full and restarted on a third, the results equal the oracle's", async () => {
    const run = await setup("agg-hosts", 6);
    const producing = produceSimulated(run.conn, run.topic, 30_000, streamOptions(17), { perSecond: 2_000 });
    // Each "host" has a directory of its own; the state lives in the changelog topic, so none is written.
    const host = (name: string) => ({ CHECKPOINT_DIR: join(scratch, "agg-hosts", `host-${name}`) });
    const path = (name: string) => run.results(`${name}.jsonl`);
    // Idle exit only after the group's session timeout (6 s): B must not stop before it takes A's partitions over.
    const args = (name: string) => [...workerArgs(path(name)).slice(0, -4), "--exit-when-idle", "10s", "--checkpoint-interval", "1s"];
    const a = startWorker("workers/aggregate.ts", args("a"), run.env("agg-hosts", host("a")));
    const b = startWorker("workers/aggregate.ts", args("b"), run.env("agg-hosts", host("b")));
    await a.waitForLog(/assigned partitions \[\d, \d, \d\]/);
    await b.waitForLog(/assigned partitions \[\d, \d, \d\]/);
    // Windows open and checkpointed (every second): A holds state when it dies.
    await a.waitForLog(/records (1\d{4}|[2-9]\d{4}):.*state [1-9]\d* ids/);
    a.kill("SIGKILL");
    await a.exited;
    // B takes all six over once the group drops A (6 s), restoring A's three from the changelog.
    await b.waitForLog(/assigned partitions \[0, 1, 2, 3, 4, 5\]; starting at \d+@[1-9]/);
    const c = startWorker("workers/aggregate.ts", args("c"), run.env("agg-hosts", host("c")));
    await producing;
    expect([await b.exited, await c.exited]).toEqual([0, 0]);

    expect(a.log()).toContain("state in changelog topic agg-hosts-");
    for (const name of ["a", "b", "c"]) expect(existsSync(host(name).CHECKPOINT_DIR)).toBe(false);
    const oracle = oracleForTopic(await readTopic(run.conn, run.topic), DEFAULT_AGGREGATOR_SETTINGS);
    const emitted = [...(await readResults(path("a"))), ...(await readResults(path("b"))), ...(await readResults(path("c")))].sort((x, y) => x.emittedAtMs - y.emittedAtMs);
    expect(checkResultsAgainstOracle(emitted, oracle)).toEqual([]);
    // C took part: the group split the partitions between B and C before the end.
    expect(c.log()).toMatch(/assigned partitions \[\d(, \d)*\]/);
  }, 240_000);
});
