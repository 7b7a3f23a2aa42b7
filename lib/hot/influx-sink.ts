/**
 * The hot path: window results and worker metrics as InfluxDB points (schema in
 * lib/hot/influx-points.ts), over the 2.x API (org, bucket, token) through
 * @influxdata/influxdb-client, or the 1.x API (db, retention policy, user, password).
 *
 * Nothing is dropped. Lines wait in a bounded buffer; one sender writes them in batches (gzip)
 * and, when a write fails, retries the same batch with exponential backoff, honouring
 * `Retry-After` on 429/503. `flush()` resolves only when every line handed in so far is written,
 * so the aggregator's checkpoint never moves past results InfluxDB does not have. When the buffer
 * is full, `congested()` turns true and the aggregator stops fetching until it drains.
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

/** A write failure, with the server's requested delay when it sent one. */
class WriteFailure extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
  }
}

export class InfluxSink implements ResultSink {
  readonly name: string;
  #pending: string[] = [];
  #sending: Promise<void> | undefined;
  #drainWaiters: (() => void)[] = [];
  #transport: Transport;
  #writeApi: WriteApi | undefined;
  #options: Required<Omit<InfluxSinkOptions, "log">> & { log: (line: string) => void };
  #failing = false;
  #closed = false;
  /** Lines written since start, and write attempts that failed. */
  written = 0;
  failedAttempts = 0;

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
          const retryAfter = error instanceof HttpError && (error.statusCode === 429 || error.statusCode === 503) ? error.retryAfter() : undefined;
          throw new WriteFailure(safeMessage(error), retryAfter);
        }
      };
    } else {
      this.#transport = v1Transport(target, this.#options.timeoutMs);
    }
  }

  write(results: readonly WindowResult[]): Promise<void> {
    for (const result of results) for (const line of windowResultLines(result, this.#options.window)) this.#pending.push(line);
    this.#kick();
    return Promise.resolve();
  }

  writeMetrics(metrics: WorkerMetrics): Promise<void> {
    for (const line of metricsLines(metrics)) this.#pending.push(line);
    this.#kick();
    return Promise.resolve();
  }

  congested(): boolean {
    return this.#pending.length >= this.#options.maxBufferedLines;
  }

  get bufferedLines(): number {
    return this.#pending.length;
  }

  /** Resolves once every line handed in so far is written; keeps waiting through an outage. */
  flush(): Promise<void> {
    this.#kick();
    if (this.#pending.length === 0 && !this.#sending) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#kick();
    await this.#sending;
    await this.#writeApi?.close().catch(() => {});
  }

  #kick(): void {
    if (this.#sending || this.#pending.length === 0) return;
    this.#sending = this.#sendAll().finally(() => {
      this.#sending = undefined;
      if (this.#pending.length > 0 && !this.#closed) this.#kick();
      else for (const resolve of this.#drainWaiters.splice(0)) resolve();
    });
  }

  async #sendAll(): Promise<void> {
    let attempt = 0;
    while (this.#pending.length > 0) {
      const batch = this.#pending.slice(0, this.#options.batchLines);
      try {
        await this.#transport(batch);
      } catch (error) {
        if (this.#closed) return; // close() gives up on what is left; the checkpoint did not cover it
        this.failedAttempts += 1;
        attempt += 1;
        const failure = error instanceof WriteFailure ? error : new WriteFailure(safeMessage(error), undefined);
        if (!this.#failing) {
          this.#failing = true;
          this.#options.log(`cannot write to ${this.name.slice("influx:".length)} (${failure.message}); retrying, nothing is dropped`);
        }
        const backoffMs = Math.min(this.#options.maxRetryDelayMs, 200 * 2 ** Math.min(attempt, 10));
        const delayMs = failure.retryAfterMs ?? backoffMs * (0.5 + Math.random() / 2);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        continue;
      }
      this.#pending.splice(0, batch.length);
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
    );
  };
}

/** An error's message without anything that looks like a credential. */
function safeMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/(token|authorization|password|p=|u=)[^\s,&]*/gi, "$1(hidden)").slice(0, 300);
}
