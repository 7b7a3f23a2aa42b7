/**
 * The live table a person watches while `bun run pipeline` runs: after each batch of emissions,
 * one block with the newest windows' totals over all partitions (lib/hot/window-table.ts), and the
 * worker's figures under it.
 */
import type { ResultSink, WorkerMetrics } from "../window/result-sink.ts";
import type { WindowResult } from "../window/window-aggregate.ts";
import { renderWindowTable, windowRows } from "./window-table.ts";

export class ConsoleSink implements ResultSink {
  readonly name = "console";
  /** Latest result per "windowStartMs/partition", for the newest windows only. */
  #latest = new Map<string, WindowResult>();
  #lastMetrics = "";

  constructor(
    private readonly out: (text: string) => void = (text) => process.stdout.write(text),
    private readonly windowsShown = 8,
  ) {}

  write(results: readonly WindowResult[]): Promise<void> {
    if (results.length === 0) return Promise.resolve();
    for (const r of results) this.#latest.set(`${r.windowStartMs}/${r.partition}`, r);
    const rows = windowRows(this.#latest.values(), this.windowsShown);
    const oldestShown = rows.at(-1)?.windowStartMs ?? -Infinity;
    for (const [key, r] of this.#latest) if (r.windowStartMs < oldestShown) this.#latest.delete(key);
    const title = `-- windows at ${new Date(Math.max(...results.map((r) => r.emittedAtMs))).toISOString()} --`;
    this.out(`\n${renderWindowTable(rows, title)}\n${this.#lastMetrics}`);
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
