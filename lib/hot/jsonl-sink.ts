/**
 * A JSON-lines file of every emission: one line per (window, partition) result with every
 * measure, `final` and the emission time, and one line per metrics report. Lines are appended in
 * emission order, so the last line for a (partition, windowStartMs) key is its current value.
 *
 * Revenue sums (bigint) are JSON numbers with all their digits (lib/runtime/json-integers.ts), so a
 * line stays plain JSON; past 2^53 only a reader that keeps big integers reads them exactly, as
 * {@link parseWindowLines} does.
 */
import { type FileHandle, mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";
import { bigintsAt, stringifyWithBigInts } from "../runtime/json-integers.ts";
import type { ResultSink, WorkerMetrics } from "../window/result-sink.ts";
import type { WindowResult } from "../window/window-aggregate.ts";

/** The line for one result: the result's fields plus ISO times for people and tools. */
export function windowResultLine(result: WindowResult): string {
  return stringifyWithBigInts({
    type: "window",
    ...result,
    windowStart: new Date(result.windowStartMs).toISOString(),
    windowEnd: new Date(result.windowEndMs).toISOString(),
    emittedAt: new Date(result.emittedAtMs).toISOString(),
  });
}

export function metricsLine(metrics: WorkerMetrics): string {
  return JSON.stringify({ type: "metrics", ...metrics }, (_key, value: unknown) => {
    if (typeof value === "bigint") return Number(value);
    if (value === -Infinity) return null;
    return value;
  });
}

export class JsonlSink implements ResultSink {
  readonly name: string;
  #file: Promise<FileHandle>;
  #pending = "";

  /**
   * Appends to `path` (created with its directory if missing). A torn last line — the worker was
   * killed mid-append — is cut off first: its results were never checkpointed, so the restarted
   * worker emits them again.
   */
  constructor(readonly path: string) {
    this.name = `jsonl:${path}`;
    this.#file = mkdir(dirname(path), { recursive: true }).then(async () => {
      const file = await open(path, "a+");
      const { size } = await file.stat();
      if (size > 0) {
        const tailBytes = Math.min(size, 1 << 20);
        const tail = Buffer.alloc(tailBytes);
        await file.read(tail, 0, tailBytes, size - tailBytes);
        if (tail[tailBytes - 1] !== 0x0a) {
          const lastNewline = tail.lastIndexOf(0x0a);
          await file.truncate(lastNewline === -1 ? size - tailBytes : size - tailBytes + lastNewline + 1);
        }
      }
      return file;
    });
  }

  write(results: readonly WindowResult[]): Promise<void> {
    for (const result of results) this.#pending += `${windowResultLine(result)}\n`;
    return Promise.resolve();
  }

  writeMetrics(metrics: WorkerMetrics): Promise<void> {
    this.#pending += `${metricsLine(metrics)}\n`;
    return Promise.resolve();
  }

  async flush(): Promise<void> {
    const file = await this.#file;
    if (this.#pending.length > 0) {
      const text = this.#pending;
      this.#pending = "";
      await file.appendFile(text, "utf8");
    }
    await file.sync();
  }

  async close(): Promise<void> {
    await this.flush();
    await (await this.#file).close();
  }
}

const REVENUE_AS_BIGINT = bigintsAt(["revenueUsdCents"]);

/** Reads a JSON-lines sink file back: every window line, in order, revenues exact (bigint). */
export function parseWindowLines(text: string): WindowResult[] {
  const out: WindowResult[] = [];
  for (const line of text.split("\n")) {
    if (line.length === 0) continue;
    const record = JSON.parse(line, REVENUE_AS_BIGINT) as Record<string, unknown>;
    if (record.type !== "window") continue;
    const { type: _type, windowStart: _s, windowEnd: _e, emittedAt: _a, ...result } = record;
    out.push(result as unknown as WindowResult);
  }
  return out;
}
