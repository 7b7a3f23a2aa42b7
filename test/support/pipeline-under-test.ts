/**
 * The whole local pipeline as real processes — workers/produce.ts → a real broker →
 * workers/aggregate.ts (into a real InfluxDB 1.x) and workers/lake-writer.ts (into a Parquet
 * lake) → workers/compact.ts — on a seeded stream, with the handles a reliability test needs to
 * hurt it: SIGKILL and restart of each worker, a memory sampler, a "caught up again" clock, and
 * at the end a verdict computed from what is really there (the topic read back, the time-series
 * server queried, the lake read, the DLQ read) against the independent oracle.
 *
 * Each instance has its own topics, consumer groups, checkpoint directory, lake directory and
 * InfluxDB database, so scenarios share only the broker and the time-series server.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FileLakeStore } from "../../lib/lake/file-store.ts";
import { createAdmin, createConsumer, ensureTopics, type KafkaConnection } from "../../lib/kafka/client.ts";
import { readLake } from "../../lib/lake/reader.ts";
import { queryInfluxql } from "../../lib/hot/influxql-client.ts";
import { stringifyWithBigInts } from "../../lib/runtime/json-integers.ts";
import type { AggregatorSettings } from "../../lib/window/partition-aggregator.ts";
import { Prng } from "../../lib/event/prng.ts";
import { REJECT_REASONS } from "../../lib/event/validate-order.ts";
import { runProducer, startProducer } from "../produce-harness.ts";
import { checkLakeRows, countLakeDifferences, validRecords } from "./lake-invariants.ts";
import { allowHugeMessages } from "./malformed-burst.ts";
import { oracleForTopic, readTopic, startWorker, validateAsLogged } from "./pipeline-harness.ts";
import { newestCheckpointFile } from "../../lib/window/file-checkpoint-store.ts";
import type { OracleWindow } from "./oracle.ts";
import type { InfluxDb1 } from "./timeseries.ts";

export const ROLES = ["producer", "aggregator", "lake-writer", "compactor"] as const;
export type Role = (typeof ROLES)[number];

/** Small windows, so a stream of seconds closes many of them (the workers take any size). */
export const RELIABILITY_SETTINGS: AggregatorSettings = { windowSizeMs: 1_000, watermarkDelayMs: 3_000, maxDimensionValues: 50, maxAheadMs: 10_000 };

/**
 * A worker's RSS above this is a failure: memory must stay bounded whatever the input. The
 * scenarios' streams need about 150 MB; the malformed burst's highly compressible values decode
 * to up to ~256 MB per fetch (lib/kafka/group-fetcher.ts budgets) plus garbage the runtime collects
 * late. Before those budgets, and before the DLQ forwarder applied backpressure, the burst took
 * the aggregator past 2 GB.
 */
export const RSS_LIMIT_MB = 1_536;

/** What a scenario's stream looks like: `count` events paced at `ratePerS` per wall-clock second. */
export interface StreamSpec {
  seed: number;
  count: number;
  ratePerS: number;
}

export interface PipelineOptions {
  name: string;
  conn: KafkaConnection;
  influx: InfluxDb1;
  /** Checkpoints and other scratch files. */
  scratch: string;
  /** The lake's orders table (may sit on a small tmpfs). */
  lakeDir: string;
  stream: StreamSpec;
  /** The aggregator's STATE_STORE: its changelog topic (the default), or checkpoint files (which a scenario can damage). */
  stateStore?: "kafka" | "file";
}

interface Running {
  role: Role;
  pid: number;
  exited: Promise<number>;
  log(): string;
  kill(signal: NodeJS.Signals): void;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

interface ProducerRun {
  args: string[];
  /** Records this run would send in full. */
  count: number;
  /** Records the run reported as sent (acknowledged): its last progress line, or its summary. */
  reported: () => number;
  killed: boolean;
}

export interface Verdict {
  /** Events that should be somewhere and are not: producer → topic, topic → lake, topic → time series, topic → DLQ. */
  lost: number;
  /** Extra copies: in the topic, in the lake, orders counted twice in the time series. */
  doubled: number;
  /** DLQ records beyond one per invalid record (allowed: the DLQ is at-least-once across crashes). */
  dlqResends: number;
  /** Everything else that is wrong, in words (empty when all holds). */
  problems: string[];
  counts: { topic: number; valid: number; invalid: number; windows: number; foreign: number };
  peakRssMb: Record<Role, number>;
}

const PRODUCER_FAULTS = ["--flat", "--customers", "5000", "--late-fraction", "0.03", "--out-of-order", "0.2", "--jitter", "3s", "--duplicate-fraction", "0.03", "--malformed-fraction", "0.01"];

export class PipelineUnderTest {
  readonly topic: string;
  readonly dlq: string;
  readonly late: string;
  readonly db: string;
  readonly checkpointDir: string;
  /** Kills this pipeline suffered on purpose, per role. */
  readonly kills: Record<Role, number> = { producer: 0, aggregator: 0, "lake-writer": 0, compactor: 0 };
  /** Workers that exited non-zero without being killed or expected to (what the verdict reports). */
  readonly deaths: string[] = [];
  readonly #o: PipelineOptions;
  /** The latest process of each role, running or not. */
  readonly #latest = new Map<Role, Running>();
  readonly #alive = new Set<Running>();
  readonly #expectedExits = new Set<Running>();
  readonly #producerRuns: ProducerRun[] = [];
  readonly #peakRss: Record<Role, number> = { producer: 0, aggregator: 0, "lake-writer": 0, compactor: 0 };
  readonly #streamStartMs = Date.now() - 2 * 3_600_000;
  #producerStartedAt = 0;
  #sampler: ReturnType<typeof setInterval> | undefined;
  /** Records sent besides the producer's stream (a malformed burst): the verdict expects exactly these. */
  foreignSent = 0;

  constructor(options: PipelineOptions) {
    this.#o = options;
    const id = `${options.name}-${crypto.randomUUID().slice(0, 6)}`;
    this.topic = `rel-${id}`;
    this.dlq = `${this.topic}.dlq`;
    this.late = `${this.topic}.late`;
    this.db = `rel_${id.replaceAll("-", "_")}`;
    this.checkpointDir = join(options.scratch, id, "checkpoints");
  }

  /** Events the scenario's stream holds in all (over every producer run). */
  get streamCount(): number {
    return this.#o.stream.count;
  }

  get conn(): KafkaConnection {
    return this.#o.conn;
  }

  /** Path of the aggregator's newest checkpoint file of `partition` (its owners' epochs: lib/window/file-checkpoint-store.ts). */
  checkpointPath(partition: number): string {
    const path = join(this.checkpointDir, this.#group("aggregator"), this.topic, `partition-${partition}.ckpt`);
    const newest = newestCheckpointFile(path);
    if (!newest) throw new Error(`no checkpoint of partition ${partition} beside ${path}`);
    return newest;
  }

  /** Topics (the DLQ and orders take a 10 MB message), the database, then every worker, producer last. */
  async start(): Promise<void> {
    await ensureTopics(this.conn, [
      { name: this.topic, partitions: 4 },
      { name: this.dlq, partitions: 1 },
      { name: this.late, partitions: 1 },
    ]);
    await allowHugeMessages(this.conn, [this.topic, this.dlq]);
    await this.#o.influx.query(`CREATE DATABASE ${this.db}`);
    this.#sampler = setInterval(() => this.#sampleRss(), 250);
    const started = [this.startWorker("aggregator"), this.startWorker("lake-writer"), this.startWorker("compactor")];
    await Promise.all(started.slice(0, 2).map((w) => w.waitForLog(/assigned partitions \[0, 1, 2, 3\]/, 120_000)));
    this.#producerStartedAt = performance.now();
    this.startWorker("producer");
  }

  /** The running process of `role`, if any. */
  running(role: Role): Running | undefined {
    const handle = this.#latest.get(role);
    return handle && this.#alive.has(handle) ? handle : undefined;
  }

  /** Starts `role` (which must not be running); `extraArgs` for this start only (e.g. --reset earliest). */
  startWorker(role: Role, extraArgs: string[] = []): Running {
    if (this.running(role)) throw new Error(`${role} is already running`);
    const handle = role === "producer" ? this.#startProducer() : this.#wrap(role, startWorker(SCRIPTS[role], [...ARGS[role], ...extraArgs], this.#env(role)));
    this.#latest.set(role, handle);
    this.#alive.add(handle);
    void handle.exited.then((code) => {
      this.#alive.delete(handle);
      if (code !== 0 && !this.#expectedExits.has(handle)) this.deaths.push(`${role} (pid ${handle.pid}) exited ${code}:\n${handle.log().slice(-1500)}`);
    });
    return handle;
  }

  /** SIGKILL `role` and wait for it to be gone. */
  async kill(role: Role): Promise<void> {
    const handle = this.running(role);
    if (!handle) throw new Error(`${role} is not running`);
    this.#expectedExits.add(handle);
    if (role === "producer") this.#producerRuns.at(-1)!.killed = true;
    handle.kill("SIGKILL");
    await handle.exited;
    this.kills[role] += 1;
  }

  /** SIGKILL `role` and start it again at once (the producer continues the shop's stream with a new seed). */
  async killAndRestart(role: Role): Promise<Running> {
    await this.kill(role);
    return this.startWorker(role);
  }

  /** Marks the running `role`'s coming exit as expected whatever its code (a refusal the scenario provokes). */
  expectExit(handle: Running): void {
    this.#expectedExits.add(handle);
  }

  /** Events the producer has reported as sent so far, over all its runs. */
  producedSoFar(): number {
    return this.#producerRuns.reduce((n, r) => n + r.reported(), 0);
  }

  /** Resolves once the producer has reported `share` of the stream as sent. */
  async waitProduced(share: number, timeoutMs = 120_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.producedSoFar() < share * this.#o.stream.count) {
      if (performance.now() > deadline) throw new Error(`the producer did not reach ${share * 100}% of the stream in ${timeoutMs} ms (${this.producedSoFar()} sent)`);
      await Bun.sleep(50);
    }
  }

  /**
   * Milliseconds from `sinceMs` (performance.now()) until the aggregator's checkpoints and the
   * lake's offsets (each group's committed offsets, which follow them) cover every record the
   * topic held when this was called: how long the pipeline took to catch up after a fault.
   */
  async recoveryMs(sinceMs: number, timeoutMs = 240_000): Promise<number> {
    const reader = createConsumer(this.conn, { role: "rel-ends", groupId: `rel-ends-${this.topic}` });
    const admin = createAdmin(this.conn);
    try {
      const ends = (await reader.listOffsets({ topics: [this.topic] })).get(this.topic) ?? [];
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const groups = await admin.listConsumerGroupOffsets({ groups: [this.#group("aggregator"), this.#group("lake-writer")] }).catch(() => []);
        const behind = groups.length === 2 && groups.every((g) => {
          const committed = new Map((g.topics.find((t) => t.name === this.topic)?.partitions ?? []).map((p) => [p.partitionIndex, p.committedOffset]));
          return ends.every((end, partition) => (committed.get(partition) ?? -1n) >= end);
        });
        if (behind) return performance.now() - sinceMs;
        if (performance.now() > deadline) throw new Error(`the pipeline did not catch up within ${timeoutMs} ms of the fault's end`);
        await Bun.sleep(200);
      }
    } finally {
      await admin.close().catch(() => {});
      await reader.close(true).catch(() => {});
    }
  }

  /**
   * The end of the run: the producer's last run completes, the aggregator and the lake writer
   * stop by themselves once idle (exit 0, every window final), then the compactor is stopped with
   * SIGTERM (exit 0).
   */
  async finish(): Promise<void> {
    const wait = async (role: Role) => {
      const handle = this.#latest.get(role);
      if (!handle) throw new Error(`${role} never ran`);
      const code = await withTimeout(handle.exited, 240_000, `${role} did not stop by itself`);
      if (code !== 0) throw new Error(`${role} ended with exit ${code}:\n${handle.log().slice(-2000)}`);
    };
    await wait("producer");
    await Promise.all([wait("aggregator"), wait("lake-writer")]);
    this.running("compactor")?.kill("SIGTERM");
    await wait("compactor");
    clearInterval(this.#sampler);
  }

  /** Stops whatever still runs (cleanup after a failure). */
  async stopAll(): Promise<void> {
    clearInterval(this.#sampler);
    const alive = [...this.#alive];
    for (const handle of alive) {
      this.#expectedExits.add(handle);
      handle.kill("SIGKILL");
    }
    await Promise.all(alive.map((h) => h.exited));
  }

  /** Everything checked against the oracle and the producer's own streams; see {@link Verdict}. */
  async verify(): Promise<Verdict> {
    const problems: string[] = [...this.deaths.map((d) => `a worker died: ${d}`)];
    const records = await readTopic(this.conn, this.topic);

    // 1. producer → topic: every event a run reported as sent is there, none more than its stream holds.
    const stream = await this.#producerStreams();
    const inTopic = new Map<string, number>();
    let foreign = 0;
    let total = 0;
    for (const list of records.values()) {
      for (const r of list) {
        total += 1;
        if (!/^u-\d+$/.test(r.key ?? "")) {
          foreign += 1;
          continue;
        }
        const v = r.value.toString("latin1");
        inTopic.set(v, (inTopic.get(v) ?? 0) + 1);
      }
    }
    let lost = 0;
    let doubled = 0;
    for (const [v, need] of stream.reported) lost += Math.max(0, need - (inTopic.get(v) ?? 0));
    for (const [v, n] of inTopic) {
      const most = stream.all.get(v) ?? 0;
      if (most === 0) problems.push(`the topic holds a record no producer run made: ${JSON.stringify(v.slice(0, 80))}`);
      doubled += Math.max(0, n - most);
    }
    if (foreign !== this.foreignSent) problems.push(`the topic holds ${foreign} records besides the producer's, expected ${this.foreignSent}`);
    if (stream.unreported > 0 && !this.#producerRuns.some((r) => r.killed)) problems.push(`${stream.unreported} stream records were never reported sent`);

    // 2. topic → time series: the final windows in InfluxDB equal the oracle's.
    const oracle = oracleForTopic(records, RELIABILITY_SETTINGS);
    const want = new Map<string, OracleWindow>(oracle.flatMap((p) => p.windows.map((w) => [`${w.partition}/${w.windowStartMs}`, w] as const)));
    // Read through lib/hot/influxql-client.ts, which keeps an integer past 2^53 exact (a bigint).
    const rows = await queryInfluxql(
      { api: "v1", url: this.#o.influx.url, db: this.db },
      'SELECT "orders", "revenue_cents", "items", "customers", "final" FROM "order_window" GROUP BY "partition"',
    );
    const exact = (x: unknown) => (typeof x === "bigint" ? x : Number.isSafeInteger(x) ? BigInt(x as number) : null);
    const stored = new Map<string, { orders: number; revenue: bigint | null; items: number; customers: number; final: boolean }>();
    for (const s of rows) {
      for (const v of s.values) {
        stored.set(`${s.tags.partition}/${v[0]}`, { orders: v[1] as number, revenue: exact(v[2]), items: v[3] as number, customers: v[4] as number, final: v[5] as boolean });
      }
    }
    for (const [k, w] of want) {
      const got = stored.get(k);
      const orders = got?.orders ?? 0;
      lost += Math.max(0, w.orders - orders);
      doubled += Math.max(0, orders - w.orders);
      if (!got) problems.push(`window ${k} (${w.orders} orders) is not in InfluxDB`);
      else if (got.revenue !== w.revenueUsdCents || got.items !== w.items || got.customers !== w.customers || !got.final) {
        problems.push(`window ${k} in InfluxDB differs from the oracle: ${stringifyWithBigInts(got)} vs orders ${w.orders}, revenue ${w.revenueUsdCents}, items ${w.items}, customers ${w.customers}, final`);
      }
    }
    for (const [k, got] of stored) {
      if (want.has(k)) continue;
      doubled += got.orders;
      problems.push(`window ${k} is in InfluxDB but not in the oracle`);
    }

    // 3. topic → lake: each valid record exactly once.
    const expected = validRecords(records);
    const lake = await readLake(new FileLakeStore(this.#o.lakeDir));
    const lakeDiff = countLakeDifferences(lake.rows, expected);
    lost += lakeDiff.missing;
    doubled += lakeDiff.doubled;
    if (lakeDiff.missing + lakeDiff.doubled + lakeDiff.unexpected > 0) problems.push(`lake: ${checkLakeRows(lake.rows, expected).join("; ")}`);

    // 4. topic → DLQ: each invalid record's position at least once, with a known reason, nothing else.
    const invalid = new Set<string>();
    for (const [partition, list] of records) for (const r of list) if (!validateAsLogged(r).ok) invalid.add(`${partition}@${r.offset}`);
    const dead = [...(await readTopic(this.conn, this.dlq)).values()].flat();
    const positions = new Set<string>();
    for (const r of dead) {
      const at = `${r.headers.get("source-partition")}@${r.headers.get("source-offset")}`;
      positions.add(at);
      if (!invalid.has(at)) problems.push(`the DLQ holds ${at}, which is not an invalid record`);
      if (!(REJECT_REASONS as readonly string[]).includes(r.headers.get("reason") ?? "")) problems.push(`the DLQ record of ${at} has no known reason (${r.headers.get("reason")})`);
    }
    for (const at of invalid) if (!positions.has(at)) lost += 1;

    for (const role of ROLES) {
      if (this.#peakRss[role] > RSS_LIMIT_MB) problems.push(`${role} peaked at ${this.#peakRss[role]} MB RSS, above ${RSS_LIMIT_MB} MB`);
      if (this.#peakRss[role] === 0) problems.push(`no RSS sample of the ${role}`);
    }
    return {
      lost,
      doubled,
      dlqResends: dead.length - positions.size,
      problems: [...new Set(problems)].slice(0, 30),
      counts: { topic: total, valid: expected.length, invalid: invalid.size, windows: want.size, foreign },
      peakRssMb: { ...this.#peakRss },
    };
  }

  /** Each producer run's stream regenerated offline (--stdout, same seed and start): how often each value occurs, in all and among what was reported sent. */
  async #producerStreams(): Promise<{ all: Map<string, number>; reported: Map<string, number>; unreported: number }> {
    const all = new Map<string, number>();
    const reported = new Map<string, number>();
    let unreported = 0;
    for (const run of this.#producerRuns) {
      const { exitCode, stdout } = await runProducer([...run.args, "--stdout", "--max"]);
      if (exitCode !== 0) throw new Error(`regenerating a producer run's stream failed (exit ${exitCode})`);
      const values = splitLines(stdout);
      if (values.length !== run.count) throw new Error(`a producer run's stream regenerated ${values.length} records, expected ${run.count}`);
      const sent = run.reported();
      values.forEach((v, i) => {
        all.set(v, (all.get(v) ?? 0) + 1);
        if (i < sent) reported.set(v, (reported.get(v) ?? 0) + 1);
      });
      unreported += run.count - sent;
    }
    return { all, reported, unreported };
  }

  #startProducer(): Running {
    const done = this.#producerRuns.reduce((n, r) => n + r.reported(), 0);
    const first = this.#producerRuns.length === 0;
    // A restarted producer is a new process of the same shop: a new seed, its stream continuing
    // where the killed one's stream time had got to, for the events still to come.
    const startMs = this.#streamStartMs + Math.round(performance.now() - this.#producerStartedAt);
    const count = first ? this.#o.stream.count : Math.max(500, this.#o.stream.count - done);
    const args = [
      "--seed", String(this.#o.stream.seed * 1_000 + this.#producerRuns.length),
      "--start", new Date(first ? this.#streamStartMs : startMs).toISOString(),
      "--rate", String(this.#o.stream.ratePerS),
      "--count", String(count),
      ...PRODUCER_FAULTS,
    ];
    const p = startProducer([...args, "--topic", this.topic, "--progress-every", "100ms"], { KAFKA_BROKERS: this.conn.brokers.join(",") });
    let summarySent: number | undefined;
    void p.finished.then((f) => (summarySent = f.summary?.sent));
    const lastProgress = () => {
      const all = [...p.stderr().matchAll(/sent ([\d,]+) \|/g)];
      return all.length === 0 ? 0 : Number(all.at(-1)![1]!.replaceAll(",", ""));
    };
    this.#producerRuns.push({ args, count, killed: false, reported: () => summarySent ?? lastProgress() });
    return {
      role: "producer",
      pid: p.proc.pid,
      exited: p.proc.exited,
      log: p.stderr,
      kill: (signal) => p.proc.kill(signal),
      waitForLog: async (pattern, timeoutMs) => void (await p.waitForStderr(pattern, timeoutMs)),
    };
  }

  #wrap(role: Role, w: ReturnType<typeof startWorker>): Running {
    return { role, pid: w.pid, exited: w.exited, log: w.log, kill: (signal) => w.kill(signal), waitForLog: w.waitForLog };
  }

  #group(role: "aggregator" | "lake-writer"): string {
    return `${this.topic}-${role}`;
  }

  #env(role: Exclude<Role, "producer">): Record<string, string> {
    const kafka = { KAFKA_BROKERS: this.conn.brokers.join(","), ORDERS_TOPIC: this.topic, KAFKA_SESSION_TIMEOUT: "6s" };
    switch (role) {
      case "aggregator":
        return {
          ...kafka,
          DLQ_TOPIC: this.dlq,
          LATE_TOPIC: this.late,
          STATE_STORE: this.#o.stateStore ?? "kafka",
          CHECKPOINT_DIR: this.checkpointDir,
          AGGREGATE_GROUP: this.#group("aggregator"),
          AGGREGATE_INSTANCE_ID: "rel-aggregator",
          INFLUX_URL: this.#o.influx.url,
          INFLUX_API: "v1",
          INFLUX_DB: this.db,
        };
      case "lake-writer":
        return { ...kafka, LAKE_URI: this.#o.lakeDir, LAKE_GROUP: this.#group("lake-writer"), LAKE_INSTANCE_ID: "rel-lake-writer" };
      case "compactor":
        return { LAKE_URI: this.#o.lakeDir };
    }
  }

  #sampleRss(): void {
    for (const handle of this.#alive) {
      try {
        const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${handle.pid}/status`, "utf8"))?.[1] ?? 0);
        this.#peakRss[handle.role] = Math.max(this.#peakRss[handle.role], Math.round(kb / 1024));
      } catch {
        // The process just exited.
      }
    }
  }
}

const SCRIPTS: Record<Exclude<Role, "producer">, string> = {
  aggregator: "workers/aggregate.ts",
  "lake-writer": "workers/lake-writer.ts",
  compactor: "workers/compact.ts",
};

/**
 * The idle timeout (10 s) outlasts any gap a producer restart leaves, so no watermark follows the
 * clock mid-stream; the aggregator and the lake writer stop by themselves once the stream is over.
 */
const ARGS: Record<Exclude<Role, "producer">, string[]> = {
  aggregator: [
    "--sink", "influx",
    "--window", `${RELIABILITY_SETTINGS.windowSizeMs}ms`,
    "--watermark", `${RELIABILITY_SETTINGS.watermarkDelayMs}ms`,
    "--emit-interval", "200ms",
    "--checkpoint-interval", "1s",
    "--idle-timeout", "10s",
    "--exit-when-idle", "11s",
    "--influx-buffer", "2000",
  ],
  "lake-writer": ["--flush-interval", "300ms", "--exit-when-idle", "10s"],
  // Vacuum with a short retention, but longer than a flush of the lake writer running beside it.
  compactor: ["--interval", "500ms", "--target-size", "512KB", "--close-after", "0s", "--retention", "10s", "--vacuum-interval", "0s", "--allow-short-retention"],
};

function splitLines(bytes: Uint8Array): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 10) {
      out.push(Buffer.from(bytes.subarray(start, i)).toString("latin1"));
      start = i + 1;
    }
  }
  return out;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms))),
  ]);
}

/** A seeded schedule of waits, so each run's "random points" can be reproduced from its seed. */
export function randomPauses(seed: number): { next(minMs: number, maxMs: number): Promise<void> } {
  const prng = new Prng(seed);
  return { next: (minMs, maxMs) => Bun.sleep(prng.int(minMs, maxMs)) };
}
