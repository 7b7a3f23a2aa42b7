/**
 * Issue 17, item 13: a stop is bounded whatever the services around a worker do. Each
 * long-running worker — producer, aggregator, lake writer, compactor, tail — gets SIGTERM while
 * the broker it was using is down, while no broker ever answered, while InfluxDB is gone, or while
 * its disk is full, and must exit within its shutdown timeout plus a margin; non-zero, with a line
 * saying so, when something it had was not acknowledged or saved.
 *
 * The suite runs its own broker (stopping it disturbs no other suite; a test that needs it again
 * starts it again, on the same port and data) and mounts small tmpfs disks, so it needs root, as
 * test/reliability.test.ts does. Workers that take --shutdown-timeout get 3 s; the others must
 * stop within the same bound.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureTopics } from "../lib/kafka/client.ts";
import { freePort, LocalBroker } from "../lib/kafka/local-broker.ts";
import { isDiskFullError } from "../lib/runtime/durable-fs.ts";
import type { SimulatorOptions } from "../lib/event/simulator.ts";
import { produceSimulated, startWorker, type WorkerProcess } from "./support/pipeline-harness.ts";
import { InfluxDb1 } from "./support/timeseries.ts";

const SHUTDOWN_TIMEOUT = "3s";
const SHUTDOWN_TIMEOUT_MS = 3_000;
/** Beyond the shutdown timeout: closing what is left, the last log lines and the exit, on a busy two-core machine. */
const MARGIN_MS = 5_000;
const BOUND_MS = SHUTDOWN_TIMEOUT_MS + MARGIN_MS;

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-bounded-stop-"));
const broker = new LocalBroker({ onProgress: (line) => console.error(`[bounded-stop broker] ${line}`) });
const mounted: string[] = [];

beforeAll(() => broker.start(), 90_000);
afterAll(async () => {
  await broker.stop({ removeData: true });
  for (const dir of mounted) execFileSync("umount", ["-l", dir]);
  rmSync(scratch, { recursive: true, force: true });
}, 60_000);

/** Every worker a test started: one still running after its test (a failed wait) is killed. */
const workers: WorkerProcess[] = [];
afterEach(async () => {
  for (const worker of workers.splice(0)) {
    worker.kill("SIGKILL");
    await worker.exited;
  }
});

function start(script: string, args: string[], env: Record<string, string>): WorkerProcess {
  const worker = startWorker(script, args, env);
  workers.push(worker);
  return worker;
}

/** The suite's broker, started again if a previous test stopped it; a new topic on it. */
async function liveTopic(prefix: string, partitions = 3): Promise<string> {
  if (!broker.running) await broker.start();
  const topic = `${prefix}-${randomUUID().slice(0, 8)}`;
  await ensureTopics(broker.connection("bounded-stop-admin"), [{ name: topic, partitions }]);
  return topic;
}

/** `during()` while the suite's broker is stopped with SIGSTOP (it neither answers nor closes a connection); then SIGCONT. */
async function whileBrokerHangs<T>(during: () => Promise<T>): Promise<T> {
  const pid = broker.pid;
  if (pid === undefined) throw new Error("the suite's broker is not running");
  // The broker runs in its own process group (lib/runtime/spawn-guarded.ts): stop all of it.
  process.kill(-pid, "SIGSTOP");
  try {
    return await during();
  } finally {
    process.kill(-pid, "SIGCONT");
  }
}

/**
 * How the broker fails before a worker's SIGTERM: stopped (it refuses connections), or stopped
 * with SIGSTOP (it neither answers nor closes a connection: a request in flight waits for the
 * client's request timeout, far beyond the shutdown timeout). Each with a seed for its stream.
 */
const BROKER_FAULTS: [string, (worker: WorkerProcess) => Promise<Stop>, number][] = [
  ["is down", async (worker) => {
    await broker.stop();
    return sigterm(worker);
  }, 1],
  ["hangs (SIGSTOP)", (worker) => whileBrokerHangs(() => sigterm(worker)), 2],
];

/** A loopback address where nothing listens: a broker that never answers. */
async function noBroker(): Promise<string> {
  return `127.0.0.1:${await freePort()}`;
}

/** A stream of valid events from a few minutes ago (inside every worker's max-past). */
function recentStream(seed: number, startMs = Date.now() - 5 * 60_000): SimulatorOptions {
  return { seed, startMs, ratePerS: 5 };
}

/** A fresh tmpfs of `size` (e.g. "1m"), unmounted after the suite. */
function smallDisk(name: string, size: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
  mounted.push(dir);
  return dir;
}

/**
 * Writes a file on `dir`'s disk until not one more 512-byte block fits, then frees `leaveBytes`
 * (a file written first): room for a small write, such as a lock file, and no more.
 */
function fillDisk(dir: string, leaveBytes = 0): void {
  const reserve = join(dir, `reserve-${randomUUID().slice(0, 6)}`);
  if (leaveBytes > 0) writeFileSync(reserve, Buffer.alloc(leaveBytes));
  const fd = openSync(join(dir, `filler-${randomUUID().slice(0, 6)}`), "w");
  try {
    for (let size = 1 << 20; size >= 512; ) {
      try {
        writeSync(fd, Buffer.alloc(size));
      } catch (error) {
        if (!isDiskFullError(error)) throw error;
        size >>= 1;
      }
    }
  } finally {
    closeSync(fd);
  }
  rmSync(reserve, { force: true });
}

interface Stop {
  withinBound: boolean;
  code: number | "still running";
  stopMs: number;
  /** The worker's last log lines, so a failed expectation shows where it was. */
  lastLines: string;
}

/** SIGTERM, then the exit code if the worker exits within BOUND_MS; otherwise SIGKILL and "still running". */
async function sigterm(worker: WorkerProcess): Promise<Stop> {
  const started = performance.now();
  worker.kill("SIGTERM");
  const code = await Promise.race([worker.exited, Bun.sleep(BOUND_MS).then(() => "still running" as const)]);
  const stopMs = Math.round(performance.now() - started);
  if (code === "still running") {
    worker.kill("SIGKILL");
    await worker.exited;
  }
  return { withinBound: code !== "still running", code, stopMs, lastLines: worker.log().trim().split("\n").slice(-8).join("\n") };
}

// --- the producer --------------------------------------------------------------------------

test("17.13 produce stops within its shutdown timeout when the broker is down", async () => {
  const topic = await liveTopic("bounded-produce");
  const producer = start(
    "workers/produce.ts",
    ["--rate", "500", "--flat", "--topic", topic, "--progress-every", "200ms", "--shutdown-timeout", SHUTDOWN_TIMEOUT],
    { KAFKA_BROKERS: broker.bootstrap },
  );
  await producer.waitForLog(/sent [1-9]/);
  await broker.stop();
  await producer.waitForLog(/send failed/);
  const stop = await sigterm(producer);
  expect(stop).toMatchObject({ withinBound: true, code: 1 });
  expect(producer.log()).toMatch(/\[produce\] [1-9][\d,]* events were not acknowledged \(no answer within the 3000 ms shutdown timeout\)/);
}, 60_000);

test("17.13 produce stops within its shutdown timeout when no broker answers at start", async () => {
  const producer = start("workers/produce.ts", ["--rate", "500", "--shutdown-timeout", SHUTDOWN_TIMEOUT], { KAFKA_BROKERS: await noBroker() });
  await producer.waitForLog(/waiting for a broker/);
  expect(await sigterm(producer)).toMatchObject({ withinBound: true });
}, 30_000);

// --- tail ----------------------------------------------------------------------------------

test("17.13 tail stops within its shutdown timeout when the broker is down", async () => {
  const topic = await liveTopic("bounded-tail");
  const tail = start("workers/tail.ts", ["--topic", topic, "--shutdown-timeout", SHUTDOWN_TIMEOUT], { KAFKA_BROKERS: broker.bootstrap });
  await tail.waitForLog(/reading /);
  await broker.stop();
  const stop = await sigterm(tail);
  expect(stop).toMatchObject({ withinBound: true });
  // Exit 1 only with the line that says the consumer could not be closed.
  if (stop.code !== 0) expect(tail.log()).toContain("did not stop within 3000 ms (--shutdown-timeout)");
}, 60_000);

test("17.13 tail stops within its shutdown timeout when no broker answers at start", async () => {
  const tail = start("workers/tail.ts", ["--shutdown-timeout", SHUTDOWN_TIMEOUT], { KAFKA_BROKERS: await noBroker() });
  await tail.waitForLog(/waiting for Kafka/);
  expect(await sigterm(tail)).toMatchObject({ withinBound: true, code: 0 });
  expect(tail.log()).toContain("stopped before Kafka answered");
}, 30_000);

// --- the aggregator ------------------------------------------------------------------------

function aggregatorEnv(topic: string, extra: Record<string, string> = {}): Record<string, string> {
  return { KAFKA_BROKERS: broker.bootstrap, ORDERS_TOPIC: topic, DLQ_TOPIC: `${topic}.dlq`, LATE_TOPIC: `${topic}.late`, AGGREGATE_GROUP: topic, KAFKA_SESSION_TIMEOUT: "6s", ...extra };
}

for (const [fault, stopWith, seed] of BROKER_FAULTS) {
  test(`17.13 aggregate stops within its shutdown timeout when the broker ${fault}`, async () => {
    const topic = await liveTopic("bounded-agg");
    await produceSimulated(broker.connection("bounded-agg"), topic, 300, recentStream(130 + seed));
    const jsonl = join(scratch, `${topic}.jsonl`);
    // No checkpoint before the stop: the final one, into the changelog topic, is all there is to save.
    const aggregator = start(
      "workers/aggregate.ts",
      ["--sink", `jsonl:${jsonl}`, "--emit-interval", "200ms", "--checkpoint-interval", "1h", "--shutdown-timeout", SHUTDOWN_TIMEOUT],
      aggregatorEnv(topic),
    );
    // Its metrics line (every 5 s) reports the records read; 300 is the whole topic.
    await aggregator.waitForLog(/records 300:/);
    const stop = await stopWith(aggregator);
    expect(stop).toMatchObject({ withinBound: true, code: 1 });
    expect(aggregator.log()).toMatch(/error: the aggregator stopped on an error: .*checkpoint/);
  }, 90_000);
}

test("17.13 aggregate stops within its shutdown timeout when no broker answers at start", async () => {
  const aggregator = start("workers/aggregate.ts", ["--sink", "console", "--shutdown-timeout", SHUTDOWN_TIMEOUT], {
    ...aggregatorEnv("bounded-agg-none"),
    KAFKA_BROKERS: await noBroker(),
  });
  await aggregator.waitForLog(/waiting for Kafka/);
  expect(await sigterm(aggregator)).toMatchObject({ withinBound: true });
}, 30_000);

test("17.13 aggregate stops within its shutdown timeout when InfluxDB is down", async () => {
  await using influx = new InfluxDb1();
  await influx.start();
  await influx.query("CREATE DATABASE bounded");
  const topic = await liveTopic("bounded-agg-influx");
  // A live stream, so there are always new results for the sink to hold while its server is away.
  const producing = new AbortController();
  const produced = produceSimulated(broker.connection("bounded-agg-influx"), topic, 1_000_000, recentStream(132, Date.now() - 60_000), {
    perSecond: 100,
    signal: producing.signal,
  });
  try {
    const aggregator = start(
      "workers/aggregate.ts",
      ["--sink", "influx", "--emit-interval", "200ms", "--checkpoint-interval", "500ms", "--shutdown-timeout", SHUTDOWN_TIMEOUT],
      aggregatorEnv(topic, { INFLUX_URL: influx.url, INFLUX_API: "v1", INFLUX_DB: "bounded" }),
    );
    for (;;) {
      if ((await influx.query('SELECT count("orders") FROM "order_window"', "bounded")).length > 0) break;
      await Bun.sleep(200);
    }
    await influx.stop();
    await aggregator.waitForLog(/cannot write to InfluxDB/);
    const stop = await sigterm(aggregator);
    expect(stop).toMatchObject({ withinBound: true, code: 1 });
    expect(aggregator.log()).toContain(`the last checkpoint did not finish within ${SHUTDOWN_TIMEOUT_MS} ms (the sinks did not take the last results`);
  } finally {
    producing.abort();
    await produced;
  }
}, 90_000);

test("17.13 aggregate stops within its shutdown timeout when its checkpoint disk is full", async () => {
  const disk = smallDisk("agg-checkpoints", "1m");
  const topic = await liveTopic("bounded-agg-disk");
  await produceSimulated(broker.connection("bounded-agg-disk"), topic, 300, recentStream(133));
  // No checkpoint before the stop: the final one meets the full disk.
  const aggregator = start(
    "workers/aggregate.ts",
    ["--sink", `jsonl:${join(scratch, `${topic}.jsonl`)}`, "--checkpoint-interval", "1h", "--shutdown-timeout", SHUTDOWN_TIMEOUT],
    aggregatorEnv(topic, { STATE_STORE: "file", CHECKPOINT_DIR: disk }),
  );
  await aggregator.waitForLog(/records 300:/);
  fillDisk(disk);
  const stop = await sigterm(aggregator);
  expect(stop).toMatchObject({ withinBound: true, code: 1 });
  // The line says what was not saved, not only the system error.
  expect(aggregator.log()).toMatch(/error: the aggregator stopped on an error: .*checkpoint/);
}, 90_000);

// --- the lake writer -----------------------------------------------------------------------

function lakeEnv(topic: string, lakeDir: string): Record<string, string> {
  return { KAFKA_BROKERS: broker.bootstrap, ORDERS_TOPIC: topic, LAKE_URI: lakeDir, LAKE_GROUP: topic, KAFKA_SESSION_TIMEOUT: "6s" };
}

for (const [fault, stopWith, seed] of BROKER_FAULTS) {
  test(`17.13 lake-writer stops within its shutdown timeout when the broker ${fault}`, async () => {
    const topic = await liveTopic("bounded-lake");
    await produceSimulated(broker.connection("bounded-lake"), topic, 300, recentStream(140 + seed));
    // Nothing flushes before the stop: the final flush must write what was read, broker or not.
    const writer = start("workers/lake-writer.ts", ["--flush-rows", "1000000", "--flush-interval", "1h", "--shutdown-timeout", SHUTDOWN_TIMEOUT], lakeEnv(topic, join(scratch, topic)));
    await writer.waitForLog(/records 300:/);
    const stop = await stopWith(writer);
    expect(stop).toMatchObject({ withinBound: true, code: 0 });
    expect(writer.log()).toMatch(/stopping: final flush[\s\S]*stopped; read 300 records: valid 300, invalid 0; wrote [1-9]\d* files/);
  }, 90_000);
}

test("17.13 lake-writer stops within its shutdown timeout when no broker answers at start", async () => {
  const writer = start("workers/lake-writer.ts", ["--shutdown-timeout", SHUTDOWN_TIMEOUT], { ...lakeEnv("bounded-lake-none", join(scratch, "lake-none")), KAFKA_BROKERS: await noBroker() });
  await writer.waitForLog(/waiting for Kafka/);
  expect(await sigterm(writer)).toMatchObject({ withinBound: true });
}, 30_000);

test("17.13 lake-writer stops within its shutdown timeout when its disk is full", async () => {
  const lakeDir = smallDisk("lake-full", "1m");
  const topic = await liveTopic("bounded-lake-disk");
  const writer = start("workers/lake-writer.ts", ["--flush-interval", "200ms", "--shutdown-timeout", SHUTDOWN_TIMEOUT], lakeEnv(topic, lakeDir));
  await writer.waitForLog(/assigned partitions \[0, 1, 2\]/);
  fillDisk(lakeDir);
  await produceSimulated(broker.connection("bounded-lake-disk"), topic, 300, recentStream(142));
  await writer.waitForLog(/is full/);
  const stop = await sigterm(writer);
  expect(stop).toMatchObject({ withinBound: true, code: 1 });
  expect(writer.log()).toMatch(/events were not written; they stay in Kafka/);
}, 90_000);

// --- the compactor -------------------------------------------------------------------------

test("17.13 compact stops within its shutdown timeout when its disk is full", async () => {
  const lakeDir = smallDisk("compact-full", "8m");
  const topic = await liveTopic("bounded-compact");
  // Small files in a closed hour: events from two hours ago, in three runs of the writer (a flush
  // writes one file per hour, so each run adds at least one to that hour).
  const hourMs = 3_600_000;
  for (const seed of [151, 152, 153]) {
    await produceSimulated(broker.connection("bounded-compact"), topic, 700, recentStream(seed, Math.floor(Date.now() / hourMs) * hourMs - 2 * hourMs));
    const writer = start("workers/lake-writer.ts", ["--flush-rows", "200", "--exit-when-idle", "1s", "--shutdown-timeout", SHUTDOWN_TIMEOUT], lakeEnv(topic, lakeDir));
    expect(await writer.exited).toBe(0);
  }
  // Room for the compactor's lock file, not for a merged file.
  fillDisk(lakeDir, 16 * 1024);
  const compactor = start("workers/compact.ts", ["--interval", "200ms", "--close-after", "0s"], { LAKE_URI: lakeDir });
  await compactor.waitForLog(/no space left on the lake's disk/);
  const stop = await sigterm(compactor);
  // Nothing is lost: the merge was not committed, and readers still see the small files.
  expect(stop).toMatchObject({ withinBound: true, code: 0 });
}, 90_000);
