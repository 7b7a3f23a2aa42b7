/**
 * The live table a person watches while `bun run pipeline` runs: after each batch of emissions,
 * one block with the newest windows' totals over all partitions (lib/hot/window-table.ts), and the
 * worker's figures under it. On a terminal (`inPlace`) each block replaces the last one: the
 * screen is cleared and the block drawn from its top, like `top`; log lines that other processes
 * print in between show under it until the next block. Piped, blocks follow one another as lines.
 */

/** Cursor to the top left, then erase the screen (ECMA-48 CUP and ED). */
export const CLEAR_SCREEN = "\x1b[H\x1b[2J";
import type { ResultSink, WorkerMetrics } from "../window/result-sink.ts";
import type { WindowResult } from "../window/window-aggregate.ts";
import { renderWindowTable, windowRows } from "./window-table.ts";

export class ConsoleSink implements ResultSink {
  readonly name = "console";
  /** Latest result per "windowStartMs/partition", for the newest windows only. */
  #latest = new Map<string, WindowResult>();
  #lastMetrics = "";

  readonly #out: (text: string) => void;
  readonly #windowsShown: number;
  readonly #inPlace: boolean;

  constructor(options: { out?: (text: string) => void; windowsShown?: number; inPlace?: boolean } = {}) {
    this.#out = options.out ?? ((text) => process.stdout.write(text));
    this.#windowsShown = options.windowsShown ?? 8;
    this.#inPlace = options.inPlace ?? false;
  }

  write(results: readonly WindowResult[]): Promise<void> {
    if (results.length === 0) return Promise.resolve();
    for (const r of results) this.#latest.set(`${r.windowStartMs}/${r.partition}`, r);
    const rows = windowRows(this.#latest.values(), this.#windowsShown);
    const oldestShown = rows.at(-1)?.windowStartMs ?? -Infinity;
    for (const [key, r] of this.#latest) if (r.windowStartMs < oldestShown) this.#latest.delete(key);
    const title = `-- windows at ${new Date(Math.max(...results.map((r) => r.emittedAtMs))).toISOString()} --`;
    const block = `${renderWindowTable(rows, title)}\n${this.#lastMetrics}`;
    this.#out(this.#inPlace ? `${CLEAR_SCREEN}${block}` : `\n${block}`);
    return Promise.resolve();
  }

  writeMetrics(m: WorkerMetrics): Promise<void> {
    this.#lastMetrics =
      `${m.eventsPerSecond.toFixed(0)} events/s; counted ${m.counted}, late ${m.late}, duplicates ${m.duplicates}, ` +
      `invalid ${m.invalid}\n`;
    return Promise.resolve();
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
