/**
 * The aggregator's input: the records of the partitions the consumer group assigns to this
 * worker, fed to the engine (lib/window/aggregator-engine.ts) from exactly the engine's next
 * offsets. The group only decides who owns which partition; positions come from the checkpoints.
 * Fetching pauses, rather than drops anything, while a sink or the DLQ/late forwarder is full.
 *
 * What the engine is told about each partition after a fetch round decides idleness (a quiet
 * partition's watermark follows the clock only when it is read to its end): a partition the
 * broker served gets its lag, counted from the fetch position (past transaction markers and
 * aborted records); one it did not serve — no leader, an error code for the partition, or not
 * reached this round — is unread, and its quiet time starts again.
 *
 * Bad bytes never stall the feed: a corrupt batch (CRC mismatch, message format v0/v1, codec
 * 5-7, records that do not decompress or fit) is skipped to the DLQ with reason `corrupt_batch`
 * and its offsets (the engine's skipCorruptBatch), and the partition goes on after it. A log
 * that cannot be framed past some offset (an offset at or beyond 2^53, a batch length that
 * frames nothing) cannot be skipped: the worker stops with one line naming topic, partition and
 * offset.
 */
import { onGroupFailure, type OrderConsumer } from "../kafka/client.ts";
import { UnsupportedBrokerError } from "../kafka/api-versions.ts";
import { GroupFetcher, OffsetOutOfRangeError, type RecordRangeHandler, UnreadablePartitionError } from "../kafka/group-fetcher.ts";
import { describeError } from "../runtime/worker-runtime.ts";
import type { AggregatorEngine } from "../window/aggregator-engine.ts";
import type { ResultSink } from "../window/result-sink.ts";
import type { KafkaForwarder } from "./kafka-forwarder.ts";

export interface AssignedFeedOptions {
  topic: string;
  /** The consumer group's session timeout and heartbeat interval. */
  group: { sessionTimeoutMs: number; heartbeatIntervalMs: number };
  /** Fetching pauses while one of them is congested. */
  sinks: readonly ResultSink[];
  /** The DLQ/late forwarder: records stop being fed while it is congested. */
  forwarder: KafkaForwarder;
  /** A partition started with empty state (`--reset`), and why. */
  onReset: (partition: number, why: string) => void;
  log: (line: string) => void;
}

/**
 * Feeds the engine the records of the partitions the group assigns to this worker, fetched from
 * exactly the engine's next offsets (lib/kafka/group-fetcher.ts). An assignment change is applied
 * between two fetches: revoked partitions' state is dropped, new ones are loaded from their
 * checkpoints.
 */
export class AssignedFeed {
  #fetcher: GroupFetcher;
  #positions = new Map<number, bigint>();
  #reassignNeeded = true;
  #paused = false;
  get paused(): boolean {
    return this.#paused;
  }
  #stopped = false;
  /** Aborted by stop(): a fetch round still waiting on a broker that is away ends at once. */
  readonly #stopping = new AbortController();
  #wake: (() => void) | undefined;
  /** Partitions the broker did not serve in the latest round, and why (logged when it changes). */
  #unserved = new Map<number, string>();
  /** The group commit in flight, and the newest offsets handed in meanwhile (see `commit()`). */
  #committing: Promise<void> | undefined;
  #nextCommit: Map<number, bigint> | undefined;
  /** performance.now() of the latest moment the feed could not read (fetch failed, or paused). */
  lastUnreadAtMs: number | undefined;
  /** Some partition started past offset 0 (from a checkpoint, or --reset latest): not a first run. */
  resumed = false;
  /** performance.now() of the first and the latest record fed to the engine. */
  firstRecordAtMs: number | undefined;
  lastRecordAtMs: number | undefined;
  /**
   * Process CPU time (user + system, µs) before the first fetch that returned records and after
   * the latest one, and the records in between: the drain's cost per record, which unlike the
   * wall-clock rate does not depend on what else the machine's cores are doing.
   */
  drainCpu = { firstUs: 0, lastUs: 0, records: 0 };

  readonly topic: string;
  readonly group: { sessionTimeoutMs: number; heartbeatIntervalMs: number };
  readonly sinks: readonly ResultSink[];
  readonly forwarder: KafkaForwarder;
  readonly onReset: (partition: number, why: string) => void;
  readonly log: (line: string) => void;

  constructor(
    private readonly consumer: OrderConsumer,
    private readonly engine: AggregatorEngine,
    options: AssignedFeedOptions,
  ) {
    ({ topic: this.topic, group: this.group, sinks: this.sinks, forwarder: this.forwarder, onReset: this.onReset, log: this.log } = options);
    // Larger budgets than GroupFetcher's defaults (4 MiB / 256 KiB, sized for fetchOnce, which
    // copies every record): fetchRanges decodes a batch at a time into views, and delivery stops
    // while the forwarder is full, so memory stays bounded; the drain is ~18 % faster with them.
    // On live traffic, the broker answers once it holds 2 MiB or after 400 ms: a few full fetches
    // a second instead of hundreds of small ones. Each wake-up of this process costs about a
    // millisecond of CPU whatever it carries, which at 20,000 events/s was a third of the CPU per
    // event (bench/results/aggregate-live.md); the latency it adds (p99 1.36 s at 20,000 events/s
    // and a 1 s emit interval) stays under 1.5 s. A backlog fills a request at once either way.
    this.#fetcher = new GroupFetcher(consumer, this.topic, {
      signal: this.#stopping.signal,
      maxBytes: 16 * 1024 * 1024,
      partitionMaxBytes: 2 * 1024 * 1024,
      minBytes: 2 * 1024 * 1024,
      maxWaitMs: 400,
      onCorruptBatch: (partition, batch) => {
        engine.skipCorruptBatch(partition, batch);
        this.log(`${this.topic}/${partition}: skipped a corrupt record batch, offsets ${batch.firstOffset}-${batch.lastOffset}, to the DLQ (reason corrupt_batch): ${batch.detail}`);
      },
    });
  }

  owns(partition: number): boolean {
    return this.#positions.has(partition) && this.#fetcher.assigned().includes(partition);
  }

  stop(): void {
    this.#stopped = true;
    this.#stopping.abort();
    this.#wake?.();
  }

  async run(): Promise<void> {
    this.consumer.on("consumer:group:join", () => {
      // Partitions gone from the assignment stop emitting and lose their queued results right
      // away, not when the fetch loop next comes round (#reassign awaits the sinks).
      const assigned = this.#fetcher.assigned();
      void this.engine.revoke([...this.#positions.keys()].filter((p) => !assigned.includes(p)));
      this.#reassignNeeded = true;
      this.#wake?.();
    });
    let groupFailure: { error: unknown } | undefined;
    onGroupFailure(this.consumer, () => this.#stopped, (error) => {
      groupFailure ??= { error };
      this.#wake?.();
    });
    await this.#fetcher.join(this.group);
    const engine = this.engine;
    // Records as byte ranges of the fetch response: no Buffer per record (lib/kafka/read-record-batches.ts).
    // One response can hold hundreds of MB once decompressed; stop feeding it while the forwarder
    // is full (the rest is fetched again after the loop below waits for room).
    const forwarder = this.forwarder;
    const onRecord: RecordRangeHandler = (partition, offset, data, valueStart, valueEnd, keyStart, keyEnd, timestampMs, headersStart, headersEnd) => {
      engine.processRange(partition, offset, data, valueStart, valueEnd, keyStart, keyEnd, timestampMs, headersStart, headersEnd);
      return !forwarder.congested();
    };
    while (!this.#stopped) {
      if (groupFailure) {
        throw new Error(`the consumer group could not be rejoined: ${describeError(groupFailure.error)}; its state and offsets are intact: start the aggregator again`, { cause: groupFailure.error });
      }
      if (this.#reassignNeeded) {
        this.#reassignNeeded = false;
        await this.#reassign();
        continue;
      }
      if (this.#positions.size === 0) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      const congested = this.sinks.find((s) => s.congested?.());
      if (congested) {
        // Backpressure: a sink is full (its server is down or slow). Stop fetching — the group
        // membership stays alive on its heartbeat timer — rather than drop anything.
        if (!this.#paused) this.log(`pausing all partitions: sink ${congested.name} is full`);
        this.#paused = true;
        this.#unread();
        await Bun.sleep(100);
        continue;
      }
      if (this.#paused) this.log("resuming: the sinks have room again");
      this.#paused = false;
      if (this.forwarder.congested()) {
        // Invalid and late records still on their way to the DLQ and late topics: wait for
        // their acknowledgements rather than fetch more (memory stays bounded in a burst).
        this.#unread();
        await this.forwarder.room();
        continue;
      }
      let fetched;
      const cpuBefore = process.cpuUsage();
      try {
        fetched = await this.#fetcher.fetchRanges(this.#positions, onRecord);
      } catch (error) {
        if (error instanceof OffsetOutOfRangeError) {
          throw new Error(
            `${error.message}: its checkpoint points at records Kafka no longer has (retention?) or does not have yet ` +
              "(topic recreated?). Results would silently skip data; restart with --reset earliest|latest after moving the checkpoint away.",
          );
        }
        // A broker too old for any Fetch version we speak (lib/kafka/raw-fetch.ts): its message says what is needed.
        if (error instanceof UnsupportedBrokerError) throw error;
        if (error instanceof UnreadablePartitionError) {
          // The same bytes come back on every fetch, and nothing after them can be framed: stop.
          throw new Error(
            `${error.message}. Nothing after offset ${error.offset} of this partition can be read or skipped; ` +
              `inspect its log segment (kafka-dump-log.sh --deep-iteration) and repair or rebuild the partition, then restart.`,
          );
        }
        if (this.#stopped) break;
        this.#unread();
        this.log(`fetch failed, retrying: ${describeError(error)}`);
        await Bun.sleep(500);
        continue;
      }
      if (fetched.records > 0) {
        this.lastRecordAtMs = performance.now();
        if (this.firstRecordAtMs === undefined) {
          this.firstRecordAtMs = this.lastRecordAtMs;
          this.drainCpu.firstUs = cpuBefore.user + cpuBefore.system;
        }
        const cpuAfter = process.cpuUsage();
        this.drainCpu.lastUs = cpuAfter.user + cpuAfter.system;
        this.drainCpu.records += fetched.records;
      }
      for (const [partition, next] of fetched.nextPositions) if (this.#positions.has(partition)) this.#positions.set(partition, next);
      const unread: number[] = [];
      for (const [partition, position] of this.#positions) {
        const end = fetched.highWatermarks.get(partition);
        if (end !== undefined) engine.setEndOffset(partition, end, position);
        else unread.push(partition);
      }
      this.#noteUnserved(fetched.unread, fetched.highWatermarks);
      if (unread.length > 0) {
        // Not read this round (no leader, an error for the partition, or not reached): not idle.
        this.lastUnreadAtMs = performance.now();
        engine.noteUnread(unread);
      }
      if (fetched.highWatermarks.size === 0) {
        // The broker served none of them (every leader gone): ask again shortly, not in a tight loop.
        await Bun.sleep(500);
        continue;
      }
      // Let the timers (emissions, checkpoints, heartbeats) run between fetches.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Commits checkpointed offsets to the group: informational only (lag tools), so it never holds
   * up the checkpoint that calls it. A commit can take many seconds — the client retries its
   * metadata, which fails as a whole while one partition has no leader — and checkpoints (and the
   * sinks' flushes they carry) must not wait for it: offsets handed in meanwhile are committed
   * after it, only the newest. A commit refused mid-rebalance is retried at the next checkpoint.
   * `close()` waits for what is in flight.
   */
  commit(offsets: Map<number, bigint>): Promise<void> {
    this.#nextCommit = offsets;
    this.#committing ??= this.#commitInTurn();
    return Promise.resolve();
  }

  async #commitInTurn(): Promise<void> {
    for (let offsets = this.#nextCommit; offsets; offsets = this.#nextCommit) {
      this.#nextCommit = undefined;
      const list = [...offsets].filter(([p]) => this.owns(p)).map(([partition, offset]) => ({ topic: this.topic, partition, offset, leaderEpoch: -1 }));
      if (list.length > 0) await this.consumer.commit({ offsets: list }).catch(() => {});
    }
    this.#committing = undefined;
  }

  async close(): Promise<void> {
    // The last checkpoint's commit, for lag tools: a moment, not the stop's whole budget (the broker may be away).
    if (this.#committing) await Promise.race([this.#committing, Bun.sleep(COMMIT_ON_CLOSE_MS)]);
    // Closing leaves the group, so the partitions move to the other workers at once.
    await this.consumer.close(true).catch(() => {});
  }

  #unread(): void {
    this.lastUnreadAtMs = performance.now();
    this.engine.noteUnread();
  }

  /** Logs a partition the broker stops serving (and why, once), and when it serves it again. */
  #noteUnserved(unserved: ReadonlyMap<number, string>, served: ReadonlyMap<number, bigint>): void {
    for (const [partition, why] of unserved) {
      if (!this.#positions.has(partition) || this.#unserved.has(partition)) continue;
      this.#unserved.set(partition, why);
      this.log(`${this.topic}/${partition} not served: ${why}; fetching it again, its windows wait (not idle) until it is read`);
    }
    for (const partition of [...this.#unserved.keys()]) {
      if (!served.has(partition)) continue;
      this.#unserved.delete(partition);
      if (this.#positions.has(partition)) this.log(`${this.topic}/${partition} is served again`);
    }
  }

  async #reassign(): Promise<void> {
    const assigned = this.#fetcher.assigned();
    const revoked = [...this.#positions.keys()].filter((p) => !assigned.includes(p));
    await this.engine.revoke(revoked);
    for (const p of revoked) this.#positions.delete(p);
    const restoreStartedAt = performance.now();
    const starts = await this.engine.assign(assigned, {
      offsetAt: async (partition, end) => {
        const offsets = await this.consumer.listOffsets({ topics: [this.topic], timestamp: end === "earliest" ? -2n : -1n });
        return offsets.get(this.topic)?.[partition] ?? 0n;
      },
      hasCommittedOffset: async (partition) => {
        const committed = await this.consumer.listCommittedOffsets({ topics: [{ topic: this.topic, partitions: [partition] }] });
        return (committed.get(this.topic)?.[partition] ?? -1n) >= 0n;
      },
      onReset: this.onReset,
    });
    for (const [partition, offset] of starts) {
      if (this.#positions.has(partition)) continue;
      this.#positions.set(partition, offset);
      if (offset > 0n) this.resumed = true;
    }
    this.log(
      `assigned partitions [${assigned.join(", ")}]` +
        (revoked.length > 0 ? `, revoked [${revoked.join(", ")}]` : "") +
        `; starting at ${[...this.#positions].map(([p, o]) => `${p}@${o}`).join(" ") || "-"}` +
        `; state loaded in ${Math.round(performance.now() - restoreStartedAt)} ms`,
    );
  }
}

/** How long `close()` waits for a group commit still in flight. */
const COMMIT_ON_CLOSE_MS = 1_000;
