/**
 * `bun run workers/compact.ts`: the lake's compactor. Merges the small files of closed hour
 * partitions into few large ones while readers keep reading, by the journal protocol in
 * docs/lake.md (lib/lake/compactor.ts). Runs every --interval, or once with --once.
 *
 * One compactor per lake: it holds `LAKE_DIR/_compactor.lock` (its pid) while it runs; a lock
 * whose process is gone is taken over.
 */
import { join } from "node:path";
import { parseCommand } from "../lib/runtime/cli.ts";
import { intParser, parseDurationMs, type SettingsSpec } from "../lib/runtime/config.ts";
import { isDiskFullError } from "../lib/runtime/durable-fs.ts";
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { type CompactionSummary, LakeCompactor } from "../lib/lake/compactor.ts";
import { takeCompactorLock } from "../lib/lake/compactor-lock.ts";
import { describeError, log, runMain } from "../lib/runtime/worker-runtime.ts";

const WORKER = "compact";

const settings = {
  LAKE_DIR: {
    describe: "root of the orders table in the lake",
    form: "a directory path",
    default: "data/lake/orders",
    parse: (raw: string) => raw,
  },
} satisfies SettingsSpec;

const command = {
  usage: "bun run workers/compact.ts [--once | --interval DURATION] [options]",
  summary:
    "Compacts the lake: in every closed hour partition, merges the small files into files of about\n" +
    "--target-size, committing each merge with a journal entry so readers never see an event twice\n" +
    "or miss one; deletes replaced files after --grace.",
  flags: {
    once: { type: "boolean", describe: "one pass, then exit" },
    interval: { type: "string", value: "DURATION", describe: "time between passes when running continuously (default 1m)" },
    "target-size": { type: "string", value: "SIZE", describe: "input bytes per output file, e.g. 64MB, 512KB (default 64MB)" },
    "close-after": { type: "string", value: "DURATION", describe: "an hour partition is compacted once its end is this far in the past (default 10m)" },
    grace: { type: "string", value: "DURATION", describe: "replaced files are deleted this long after the merge committed; longer than any read (default 5m)" },
    "min-files": { type: "string", value: "N", describe: "fewest small files in an hour worth a merge (default 2)" },
    "row-group-rows": { type: "string", value: "N", describe: "rows per Parquet row group in merged files (default 131072)" },
  },
  settings,
} as const;

runMain(async (signal) => {
  const parsed = parseCommand(command, Bun.argv.slice(2), process.env);
  if (parsed.kind !== "run") return parsed;
  const { config, flags } = parsed;
  const duration = (flag: "interval" | "close-after" | "grace", fallbackMs: number) => {
    const raw = flags[flag];
    if (typeof raw !== "string") return fallbackMs;
    try {
      return parseDurationMs(raw);
    } catch (error) {
      throw new RangeError(`--${flag}: ${(error as Error).message}`);
    }
  };
  const whole = (flag: "min-files" | "row-group-rows", min: number, fallback: number) => {
    const raw = flags[flag];
    if (typeof raw !== "string") return fallback;
    try {
      return intParser(min, 100_000_000)(raw);
    } catch (error) {
      throw new RangeError(`--${flag}: ${(error as Error).message}`);
    }
  };
  if (flags.once && flags.interval !== undefined) throw new RangeError("--once and --interval exclude each other: use one");
  const intervalMs = duration("interval", 60_000);
  const targetBytes = flags["target-size"] === undefined ? 64 * 1024 * 1024 : parseSize(flags["target-size"]);
  const store = new FileLakeStore(config.LAKE_DIR);
  const compactor = new LakeCompactor(store, {
    clock: { now: () => Date.now() },
    targetBytes,
    closeAfterMs: duration("close-after", 600_000),
    graceMs: duration("grace", 300_000),
    minFiles: whole("min-files", 2, 2),
    rowGroupRows: whole("row-group-rows", 1, 131_072),
    onCompacted: (c) =>
      log(
        WORKER,
        `#${c.seq} ${c.hour}: ${c.inputs} files, ${c.rows} rows, ${mb(c.bytesIn)} → 1 file, ${mb(c.bytesOut)}`,
      ),
  });

  const lock = await takeCompactorLock(join(config.LAKE_DIR, "_compactor.lock"), { log: (line) => log(WORKER, line) });
  log(WORKER, `lake ${config.LAKE_DIR}, target ${mb(targetBytes)} per file, ${flags.once ? "one pass" : `a pass every ${intervalMs} ms`}`);
  const total: CompactionSummary = { compactions: 0, inputFiles: 0, rows: 0, bytesIn: 0, bytesOut: 0, deleted: 0, orphansRemoved: 0 };
  let passes = 0;
  const started = performance.now();
  try {
    while (!signal.aborted) {
      const passStart = performance.now();
      let s: CompactionSummary;
      try {
        s = await compactor.runOnce();
      } catch (error) {
        // A full disk is not the lake's fault and frees up: an interrupted merge is invisible to
        // readers (no journal entry names its output) and the next pass removes its output.
        if (flags.once || !isDiskFullError(error)) throw error;
        passes += 1;
        log(
          WORKER,
          `pass ${passes}: no space left on the lake's disk under ${config.LAKE_DIR} (${describeError(error)}); ` +
            `the merge was not committed and readers are unaffected. Free space on that disk; retrying at the next pass in ${intervalMs} ms`,
        );
        await sleepUnlessAborted(intervalMs, signal);
        continue;
      }
      passes += 1;
      for (const k of Object.keys(total) as (keyof CompactionSummary)[]) total[k] += s[k];
      const seconds = (performance.now() - passStart) / 1000;
      log(
        WORKER,
        `pass ${passes}: ${s.compactions} merges of ${s.inputFiles} files (${s.rows} rows, ${mb(s.bytesIn)} → ${mb(s.bytesOut)}) in ${seconds.toFixed(2)} s` +
          (s.compactions > 0 ? ` = ${(s.bytesIn / 1e6 / seconds).toFixed(1)} MB/s` : "") +
          `; deleted ${s.deleted} replaced files` + (s.orphansRemoved > 0 ? `; removed ${s.orphansRemoved} outputs of an interrupted pass` : ""),
      );
      if (flags.once) break;
      await sleepUnlessAborted(intervalMs, signal);
    }
  } catch (error) {
    throw new Error(`the compactor stopped on an error: ${describeError(error)}`);
  } finally {
    await lock.release();
  }
  log(
    WORKER,
    `stopped after ${passes} pass(es) in ${((performance.now() - started) / 1000).toFixed(1)} s: ${total.compactions} merges, ` +
      `${total.inputFiles} files → ${total.compactions}, ${total.rows} rows, ${mb(total.bytesIn)} → ${mb(total.bytesOut)}, deleted ${total.deleted}`,
  );
});

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

/** `64MB`, `512KB`, `1GB` or a number of bytes (binary units). */
function parseSize(raw: string): number {
  const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 };
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(raw.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined || !(Number(m[1]) > 0)) throw new RangeError(`--target-size: ${JSON.stringify(raw)} is not a size such as 64MB, 512KB or 1048576`);
  return Math.round(Number(m[1]) * unit);
}
