/**
 * What the service-backed suites share: seeded streams into a real topic, reading a topic back
 * per partition, running a worker as a real process, and the stream invariants every
 * crash-and-restart test checks (no window lost, none counted twice, totals equal the oracle's).
 */
import { join, resolve } from "node:path";
import { createConsumer, createProducer, type KafkaConnection, MessagesStreamModes } from "../../lib/kafka/client.ts";
import { Simulator, type SimulatorOptions } from "../../lib/event/simulator.ts";
import { validateOrder } from "../../lib/event/validate-order.ts";
import { parseWindowLines } from "../../lib/hot/jsonl-sink.ts";
import { stringifyWithBigInts } from "../../lib/runtime/json-integers.ts";
import type { AggregatorSettings } from "../../lib/window/partition-aggregator.ts";
import type { WindowResult } from "../../lib/window/window-aggregate.ts";
import { type OraclePartition, type OracleRecord, type OracleWindow, runOracle } from "./oracle.ts";

export const repoRoot = resolve(import.meta.dirname, "..", "..");

export interface TopicRecord {
  partition: number;
  offset: bigint;
  key: string;
  value: Buffer;
  headers: Map<string, string>;
  /** The record's Kafka timestamp, ms. */
  timestampMs: number;
}

/**
 * Sends `count` simulator records to `topic`, keyed by user_id, in batches. With `perSecond`
 * it paces itself to about that many records per wall-clock second (a live stream); otherwise
 * it sends as fast as the broker takes them (a backlog). Resolves once every batch is acknowledged.
 */
export async function produceSimulated(
  conn: KafkaConnection,
  topic: string,
  count: number,
  options: SimulatorOptions,
  pacing: { perSecond?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const simulator = new Simulator(options);
  const producer = createProducer(conn, { role: "test-produce" });
  const batchSize = pacing.perSecond ? Math.max(1, Math.round(pacing.perSecond / 20)) : 1_000;
  const start = performance.now();
  try {
    for (let sent = 0; sent < count && !pacing.signal?.aborted; ) {
      const messages = [];
      for (let i = 0; i < batchSize && sent < count; i++, sent++) {
        const record = simulator.next();
        // Stamped with the stream time it goes out at, as workers/produce.ts does.
        messages.push({ topic, key: record.key, value: Buffer.from(record.value), timestamp: BigInt(record.emittedAtMs) });
      }
      await producer.send({ messages });
      if (pacing.perSecond) {
        const aheadMs = (sent / pacing.perSecond) * 1000 - (performance.now() - start);
        if (aheadMs > 0) await Bun.sleep(aheadMs);
      }
    }
  } finally {
    await producer.close();
  }
}

/** Every record of `topic`, per partition in offset order, read up to the end offsets of the moment. */
export async function readTopic(conn: KafkaConnection, topic: string): Promise<Map<number, TopicRecord[]>> {
  const consumer = createConsumer(conn, { role: "test-read", groupId: `test-read-${topic}-${crypto.randomUUID()}` });
  const byPartition = new Map<number, TopicRecord[]>();
  try {
    const ends = (await consumer.listOffsets({ topics: [topic] })).get(topic) ?? [];
    const remaining = new Map<number, bigint>();
    ends.forEach((end, partition) => {
      byPartition.set(partition, []);
      if (end > 0n) remaining.set(partition, end);
    });
    if (remaining.size === 0) return byPartition;
    const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: false });
    for await (const m of stream) {
      const end = remaining.get(m.partition);
      if (end === undefined || m.offset >= end) continue;
      byPartition.get(m.partition)!.push({ partition: m.partition, offset: m.offset, key: m.key, value: m.value, headers: m.headers, timestampMs: Number(m.timestamp) });
      if (m.offset === end - 1n) remaining.delete(m.partition);
      if (remaining.size === 0) break;
    }
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return byPartition;
}

/**
 * Sends `count` keyed text messages to `topic` with a producer of `conn` and reads the topic
 * back: what was sent and what came back, each sorted, for a round-trip test to compare.
 */
export async function roundTrip(conn: KafkaConnection, topic: string, count: number): Promise<{ sent: KeyedText[]; received: KeyedText[] }> {
  const sent = Array.from({ length: count }, (_, i) => ({ key: `user-${i % 17}`, value: `order-${i}` }));
  const producer = createProducer(conn, { role: "round-trip" });
  try {
    await producer.send({ messages: sent.map((m) => ({ topic, key: m.key, value: m.value })) });
  } finally {
    await producer.close();
  }
  const received = [...(await readTopic(conn, topic)).values()].flat().map((r) => ({ key: r.key, value: r.value.toString("utf8") }));
  const byValue = (a: KeyedText, b: KeyedText) => a.value.localeCompare(b.value);
  return { sent: sent.sort(byValue), received: received.sort(byValue) };
}

interface KeyedText {
  key: string;
  value: string;
}

/**
 * The oracle's answer for a topic's records: each record validated as the worker would (same
 * validator and limits, time bounds judged against the record's own Kafka timestamp), then an
 * idle advance far in the future so every window is final — as it is at the end of a worker run
 * with a short idle timeout.
 */
export function oracleForTopic(records: Map<number, TopicRecord[]>, settings: AggregatorSettings): OraclePartition[] {
  const input = new Map<number, OracleRecord[]>();
  let latestMs = Date.now();
  for (const [partition, list] of records) {
    const sequence: OracleRecord[] = list.map((r) => {
      if (r.timestampMs > latestMs) latestMs = r.timestampMs;
      const v = validateAsLogged(r);
      return v.ok ? { kind: "event", offset: r.offset, event: v.event, eventTimeMs: v.eventTimeMs, timestampMs: r.timestampMs } : { kind: "invalid", offset: r.offset };
    });
    input.set(partition, sequence);
  }
  for (const sequence of input.values()) sequence.push({ kind: "idle", nowMs: latestMs + 365 * 86_400_000 });
  return runOracle(input, settings);
}

/** The validator's verdict on a record as the aggregator judges it: time bounds from the record's timestamp (the clock without one). */
export function validateAsLogged(r: { value: Uint8Array; timestampMs: number }): ReturnType<typeof validateOrder> {
  return validateOrder(r.value, { nowMs: r.timestampMs < 0 ? Date.now() : r.timestampMs });
}

export interface WorkerProcess {
  pid: number;
  exited: Promise<number>;
  /** Everything the worker wrote to stderr so far. */
  log(): string;
  kill(signal?: NodeJS.Signals | number): void;
  /** Resolves when `pattern` appears in the log; rejects if the worker exits first or after `timeoutMs`. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/**
 * Starts `bun run script` (a path from the repository's root) as a child process. With `cwd`,
 * it runs there instead of in the repository, with TMPDIR there too: a worker on another host's
 * disk, as far as files go.
 */
export function startWorker(script: string, args: string[], env: Record<string, string>, options: { cwd?: string } = {}): WorkerProcess {
  const child = Bun.spawn([process.execPath, "run", options.cwd ? join(repoRoot, script) : script, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, ...(options.cwd ? { TMPDIR: options.cwd } : {}), ...env },
    stdout: "ignore",
    stderr: "pipe",
  });
  let text = "";
  const waiters = new Set<() => void>();
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      text += decoder.decode(chunk, { stream: true });
      for (const w of waiters) w();
    }
  })();
  const exited = child.exited;
  return {
    pid: child.pid,
    exited,
    log: () => text,
    kill: (signal = "SIGTERM") => child.kill(signal),
    waitForLog(pattern, timeoutMs = 60_000) {
      return new Promise<void>((resolvePromise, reject) => {
        const check = () => {
          if (pattern.test(text)) {
            cleanup();
            resolvePromise();
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no ${pattern} in the worker's log within ${timeoutMs} ms:\n${text.slice(-3000)}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        void exited.then((code) => {
          if (!pattern.test(text)) {
            cleanup();
            reject(new Error(`the worker exited (${code}) before ${pattern} appeared:\n${text.slice(-3000)}`));
          }
        });
        check();
      });
    },
  };
}

const resultKey = (r: { partition: number; windowStartMs: number }) => `${r.partition}/${r.windowStartMs}`;

/**
 * The stream invariants, checked against the oracle: every window the oracle has ends as the
 * oracle says (its last emitted result, and every final one, equal the oracle's window), no
 * window appears that the oracle does not have, and nothing stays open. Returns the problems
 * (empty when all hold), so a failing test shows what differs.
 */
export function checkResultsAgainstOracle(emitted: readonly WindowResult[], oracle: readonly OraclePartition[]): string[] {
  const problems: string[] = [];
  const expected = new Map<string, OracleWindow>();
  for (const p of oracle) for (const w of p.windows) expected.set(resultKey(w), w);
  const last = new Map<string, WindowResult>();
  for (const r of emitted) {
    last.set(resultKey(r), r);
    const want = expected.get(resultKey(r));
    if (!want) {
      problems.push(`window ${resultKey(r)} was emitted but the oracle has no such window`);
      continue;
    }
    if (r.final && !Bun.deepEquals(withoutEmitTime(r), want)) {
      problems.push(`a final result for ${resultKey(r)} differs from the oracle: ${diff(withoutEmitTime(r), want)}`);
    }
  }
  for (const [key, want] of expected) {
    const got = last.get(key);
    if (!got) problems.push(`window ${key} (${want.orders} orders) was never emitted`);
    else if (!got.final) problems.push(`window ${key} never became final`);
    else if (!Bun.deepEquals(withoutEmitTime(got), want)) problems.push(`the last result for ${key} differs from the oracle: ${diff(withoutEmitTime(got), want)}`);
  }
  return [...new Set(problems)];
}

function withoutEmitTime(r: WindowResult): OracleWindow {
  const { emittedAtMs: _, ...rest } = r;
  return rest;
}

function diff(got: OracleWindow, want: OracleWindow): string {
  const fields = Object.keys(want) as (keyof OracleWindow)[];
  return fields
    .filter((f) => !Bun.deepEquals(got[f], want[f]))
    .map((f) => `${f}: got ${stringifyWithBigInts(got[f])}, want ${stringifyWithBigInts(want[f])}`)
    .join("; ");
}

/** Every window line of a JSON-lines results file, in order; revenues exact (bigint) at any size. */
export function readResults(path: string): Promise<WindowResult[]> {
  return Bun.file(path).text().then(parseWindowLines);
}

/** Sum of a counter over the oracle's partitions. */
export function oracleTotal(oracle: readonly OraclePartition[], field: "counted" | "duplicates" | "late" | "invalid"): number {
  return oracle.reduce((sum, p) => sum + p[field], 0);
}
