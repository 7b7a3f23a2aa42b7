/**
 * The hot path: window results and worker metrics as InfluxDB points (schema in
 * lib/hot/influx-points.ts), over the 2.x API (org, bucket, token) through
 * @influxdata/influxdb-client, or the 1.x API (db, retention policy, user, password).
 *
 * Nothing is dropped silently. Lines wait in a bounded buffer; one sender writes them in batches
 * (gzip). `flush()` resolves only when every line handed in so far is written, so the
 * aggregator's checkpoint never moves past results InfluxDB does not have; when the buffer is
 * full, `congested()` turns true and the aggregator stops fetching until it drains. A failed
 * write is one of three kinds:
 * - retryable (no answer, a timeout, 408, 429, 5xx): the same batch again, with exponential
 *   backoff, honouring `Retry-After` on 429/503, for as long as it takes;
 * - a partial write (the server stored the batch but refused some points for good, e.g. 1.x
 *   "partial write: points beyond retention policy dropped=N" after a replay of old windows, or
 *   a field type conflict): the refused points are dropped and counted in `rejectedPoints`, with
 *   one log line per batch giving the server's reason. Retrying could never store them, and
 *   stopping would only crash-loop on the same replay;
 * - permanent (any other 4xx: a bad token, a missing database or bucket, a line the server cannot
 *   parse): the sink fails. Every `flush()` from then on rejects with the server's answer, so the
 *   worker stops with it and its checkpoint stays before the unwritten results.
 * `close()` gives up on unwritten lines: a `flush()` still waiting then rejects, so a checkpoint
 * waiting on it is never saved.
 *
 * `revoke(partitions)` drops the queued window lines of partitions this worker no longer owns,
 * so they cannot land after the new owner's values and replace them.
 *
 * Credentials never reach a log line or an error message.
 */
import { gzipSync } from "node:zlib";
import { HttpError, InfluxDB, type WriteApi } from "@influxdata/influxdb-client";
import { metricsLines, windowResultLines } from "./influx-points.ts";
import type { ResultSink, WorkerMetrics } from "../window/result-sink.ts";
import type { WindowResult } from "../window/window-aggregate.ts";

export type InfluxTarget =
  | { api: "v2"; url: string; org: string; bucket: string; token: string }
  | { api: "v1"; url: string; db: string; retentionPolicy?: string; user?: string; password?: string };

export interface InfluxSinkOptions {
  /** Value of the `window` tag, e.g. `1m`. */
  window: string;
  /** Lines buffered before `congested()` turns true. Default 200 000. */
  maxBufferedLines?: number;
  /** Lines per write request. Default 5 000. */
  batchLines?: number;
  /** Per-request timeout in ms. Default 10 000. */
  timeoutMs?: number;
  /** Longest pause between two retries, in ms. Default 10 000. */
  maxRetryDelayMs?: number;
  /** One line per outage and per recovery. */
  log?: (line: string) => void;
}

/** Where the sink writes, for logs: the URL and database or org/bucket, never a credential. */
export function describeTarget(target: InfluxTarget): string {
  const url = new URL(target.url);
  url.username = "";
  url.password = "";
  const base = url.toString().replace(/\/$/, "");
  return target.api === "v2"
    ? `InfluxDB 2.x API at ${base}, org ${target.org}, bucket ${target.bucket}`
    : `InfluxDB 1.x API at ${base}, database ${target.db}${target.retentionPolicy ? `, retention policy ${target.retentionPolicy}` : ""}`;
}

type Transport = (lines: string[]) => Promise<void>;

/** How a failed write is handled; see the module comment. */
type FailureKind = "retry" | "partial" | "permanent";

/** A write failure, with the server's requested delay when it sent one. */
class WriteFailure extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
    readonly kind: FailureKind = "retry",
    /** For a partial write: the points the server refused (its `dropped=N`), when it said. */
    readonly dropped?: number,
  ) {
    super(message);
  }
}

/** The kind of an HTTP failure from its status and the server's message. */
export function failureKind(status: number, message: string): FailureKind {
  if (status === 408 || status === 429 || status >= 500) return "retry";
  if (/partial write/i.test(message)) return "partial";
  return status >= 400 ? "permanent" : "retry";
}

/** The `dropped=N` of a partial-write message, or undefined. */
function droppedPoints(message: string): number | undefined {
  const m = /dropped=(\d+)/.exec(message);
  return m ? Number(m[1]) : undefined;
}

/** A permanent write failure: the sink stops, and the worker with it. */
export class InfluxWriteError extends Error {
  override name = "InfluxWriteError";
}

export class InfluxSink implements ResultSink {
  readonly name: string;
  #pending: string[] = [];
  /** The partition of each pending line (-1 for the worker's own metrics), for `revoke()`. */
  #pendingPartitions: number[] = [];
  #sending: Promise<void> | undefined;
  #drainWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  /** Set by a permanent failure: every flush() rejects with it. */
  #failure: InfluxWriteError | undefined;
  #transport: Transport;
  #writeApi: WriteApi | undefined;
  #options: Required<Omit<InfluxSinkOptions, "log">> & { log: (line: string) => void };
  #failing = false;
  #closed = false;
  /** Lines written since start, write attempts that failed, and points the server refused for good (partial writes). */
  written = 0;
  failedAttempts = 0;
  rejectedPoints = 0;
  /** Queued lines dropped because their partition was revoked. */
  revokedLines = 0;

  constructor(target: InfluxTarget, options: InfluxSinkOptions) {
    this.name = `influx:${describeTarget(target)}`;
    this.#options = {
      window: options.window,
      maxBufferedLines: options.maxBufferedLines ?? 200_000,
      batchLines: options.batchLines ?? 5_000,
      timeoutMs: options.timeoutMs ?? 10_000,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 10_000,
      log: options.log ?? (() => {}),
    };
    if (target.api === "v2") {
      const writeApi = new InfluxDB({ url: target.url, token: target.token, timeout: this.#options.timeoutMs }).getWriteApi(
        target.org,
        target.bucket,
        "ms",
        {
          batchSize: this.#options.batchLines + 1,
          flushInterval: 0,
          gzipThreshold: 1_000,
          maxRetries: 0,
          // Hand every failure back to flush(); this sink does its own retrying, without dropping.
          writeFailed: (error) => Promise.reject(error),
        },
      );
      this.#writeApi = writeApi;
      this.#transport = async (lines) => {
        writeApi.writeRecords(lines);
        try {
          await writeApi.flush();
        } catch (error) {
          if (!(error instanceof HttpError)) throw new WriteFailure(safeMessage(error), undefined);
          const retryAfter = error.statusCode === 429 || error.statusCode === 503 ? error.retryAfter() : undefined;
          const message = `HTTP ${error.statusCode} ${safeMessage(error)}`;
          const kind = failureKind(error.statusCode, `${error.message} ${error.body ?? ""}`);
          throw new WriteFailure(message, retryAfter, kind, droppedPoints(`${error.message} ${error.body ?? ""}`));
        }
      };
    } else {
      this.#transport = v1Transport(target, this.#options.timeoutMs);
    }
  }

  write(results: readonly WindowResult[]): Promise<void> {
    for (const result of results) {
      for (const line of windowResultLines(result, this.#options.window)) {
        this.#pending.push(line);
        this.#pendingPartitions.push(result.partition);
      }
    }
    this.#kick();
    return Promise.resolve();
  }

  writeMetrics(metrics: WorkerMetrics): Promise<void> {
    for (const line of metricsLines(metrics)) {
      this.#pending.push(line);
      this.#pendingPartitions.push(-1);
    }
    this.#kick();
    return Promise.resolve();
  }

  /**
   * Drops the queued window lines of `partitions` (revoked from this worker). A batch already on
   * its way is not recalled: this resolves once it is answered, so nothing of those partitions
   * is in flight any more.
   */
  async revoke(partitions: readonly number[]): Promise<void> {
    const gone = new Set(partitions);
    // The batch in flight is the head of the queue: it stays as it is being sent; if that send
    // fails, the retry leaves these partitions' lines out (#sendAll).
    for (const p of gone) this.#revokedInFlight.add(p);
    this.#dropPending(gone, this.#sending ? Math.min(this.#inFlight, this.#pending.length) : 0);
    await this.#inFlightDone;
  }

  congested(): boolean {
    return this.#pending.length >= this.#options.maxBufferedLines;
  }

  get bufferedLines(): number {
    return this.#pending.length;
  }

  /**
   * Resolves once every line handed in so far is written; keeps waiting through an outage.
   * Rejects once the sink failed for good, or when it is closed with lines unwritten.
   */
  flush(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    this.#kick();
    if (this.#pending.length === 0 && !this.#sending) return Promise.resolve();
    return new Promise((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#kick();
    await this.#sending;
    this.#settleWaiters();
    await this.#writeApi?.close().catch(() => {});
  }

  /** Lines in the batch being sent (the head of #pending), and a promise of its answer. */
  #inFlight = 0;
  /** Partitions revoked while a batch was in flight: left out of its retry. */
  #revokedInFlight = new Set<number>();
  #inFlightDone: Promise<unknown> = Promise.resolve();

  #kick(): void {
    if (this.#sending || this.#pending.length === 0 || this.#failure) return;
    this.#sending = this.#sendAll().finally(() => {
      this.#sending = undefined;
      if (this.#pending.length > 0 && !this.#closed && !this.#failure) this.#kick();
      else this.#settleWaiters();
    });
  }

  /** Drops the queued lines of partitions revoked while a batch was in flight (nothing is in flight now). */
  #dropRevoked(): void {
    const gone = this.#revokedInFlight;
    this.#revokedInFlight = new Set();
    this.#dropPending(gone, 0);
  }

  /** Drops the pending lines of `partitions`, from `from` on (the lines before it are being sent). */
  #dropPending(partitions: ReadonlySet<number>, from: number): void {
    const lines = this.#pending.slice(0, from);
    const owners = this.#pendingPartitions.slice(0, from);
    for (let i = from; i < this.#pending.length; i++) {
      if (partitions.has(this.#pendingPartitions[i]!)) {
        this.revokedLines += 1;
        continue;
      }
      lines.push(this.#pending[i]!);
      owners.push(this.#pendingPartitions[i]!);
    }
    this.#pending = lines;
    this.#pendingPartitions = owners;
  }

  /** Answers every waiting flush(): written, failed for good, or closed with lines left. */
  #settleWaiters(): void {
    if (this.#sending) return;
    const waiters = this.#drainWaiters.splice(0);
    const error =
      this.#failure ??
      (this.#pending.length > 0 ? new InfluxWriteError(`the InfluxDB sink was closed with ${this.#pending.length} lines not written; they are not covered by a checkpoint`) : undefined);
    for (const waiter of waiters) error ? waiter.reject(error) : waiter.resolve();
  }

  async #sendAll(): Promise<void> {
    let attempt = 0;
    while (this.#pending.length > 0) {
      if (this.#revokedInFlight.size > 0) this.#dropRevoked();
      if (this.#pending.length === 0) break;
      const batch = this.#pending.slice(0, this.#options.batchLines);
      this.#inFlight = batch.length;
      const sent = this.#transport(batch);
      this.#inFlightDone = sent.catch(() => {});
      try {
        await sent;
      } catch (error) {
        this.#inFlight = 0;
        if (this.#closed) return; // close() gives up on what is left; the checkpoint did not cover it
        const failure = error instanceof WriteFailure ? error : new WriteFailure(safeMessage(error), undefined);
        const where = this.name.slice("influx:".length);
        if (failure.kind === "partial") {
          // Stored, except the points the server refuses for good: drop those, count them, go on.
          const dropped = failure.dropped ?? 0;
          this.rejectedPoints += dropped;
          this.#options.log(`${where} refused ${failure.dropped ?? "some"} of ${batch.length} points for good and stored the rest; dropping them (${failure.message})`);
          this.#pending.splice(0, batch.length);
          this.#pendingPartitions.splice(0, batch.length);
          this.written += batch.length - dropped;
          attempt = 0;
          continue;
        }
        if (failure.kind === "permanent") {
          this.#failure = new InfluxWriteError(
            `${where} refused a write for good (${failure.message}); check the database or bucket, the credentials and the server's log. ` +
              `${this.#pending.length} lines are not written and the checkpoint stays before them`,
          );
          this.#options.log(this.#failure.message);
          return;
        }
        this.failedAttempts += 1;
        attempt += 1;
        if (!this.#failing) {
          this.#failing = true;
          this.#options.log(`cannot write to ${this.name.slice("influx:".length)} (${failure.message}); retrying, nothing is dropped`);
        }
        const backoffMs = Math.min(this.#options.maxRetryDelayMs, 200 * 2 ** Math.min(attempt, 10));
        const delayMs = failure.retryAfterMs ?? backoffMs * (0.5 + Math.random() / 2);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        continue;
      }
      this.#inFlight = 0;
      this.#revokedInFlight.clear(); // written before the revoke took effect: nothing left to drop
      this.#pending.splice(0, batch.length);
      this.#pendingPartitions.splice(0, batch.length);
      this.written += batch.length;
      attempt = 0;
      if (this.#failing) {
        this.#failing = false;
        this.#options.log(`writing to ${this.name.slice("influx:".length)} again`);
      }
    }
  }
}

/** InfluxDB 1.x `/write`: gzip body, ms precision, basic auth when a user is set. */
function v1Transport(target: Extract<InfluxTarget, { api: "v1" }>, timeoutMs: number): Transport {
  const url = new URL("write", target.url.endsWith("/") ? target.url : `${target.url}/`);
  url.searchParams.set("db", target.db);
  url.searchParams.set("precision", "ms");
  if (target.retentionPolicy) url.searchParams.set("rp", target.retentionPolicy);
  const headers: Record<string, string> = { "Content-Type": "text/plain; charset=utf-8", "Content-Encoding": "gzip" };
  if (target.user) headers.Authorization = `Basic ${Buffer.from(`${target.user}:${target.password ?? ""}`).toString("base64")}`;
  return async (lines) => {
    let response: Response;
    try {
      response = await fetch(url, { method: "POST", headers, body: gzipSync(`${lines.join("\n")}\n`), signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw new WriteFailure(safeMessage(error), undefined);
    }
    if (response.status === 204 || response.status === 200) return;
    const body = (await response.text().catch(() => "")).slice(0, 300);
    const retryAfterS = Number(response.headers.get("retry-after"));
    throw new WriteFailure(
      `HTTP ${response.status} ${body.trim()}`,
      (response.status === 429 || response.status === 503) && retryAfterS > 0 ? retryAfterS * 1000 : undefined,
      failureKind(response.status, body),
      droppedPoints(body),
    );
  };
}

/** An error's message without anything that looks like a credential. */
function safeMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/(token|authorization|password|p=|u=)[^\s,&]*/gi, "$1(hidden)").slice(0, 300);
}
