/**
 * `bun run workers/compact.ts`: keeps the lake's Delta table tidy while writers append and
 * readers read. Each pass (lib/lake/compactor.ts) merges the small files of closed hour partitions
 * into few large ones, one Delta commit per merge (`remove` the inputs, `add` the output, neither
 * a data change); every --vacuum-interval it also vacuums (deletes files the table stopped
 * referencing more than --retention ago, and files no commit ever referenced as old) and deletes
 * log entries older than --log-retention that a checkpoint covers (lib/lake/delta-vacuum.ts).
 * Runs every --interval, or once with --once.
 *
 * Several compactors on one table are safe: each names its outputs after itself, and a merge
 * whose inputs another commit removed first is abandoned, never committed.
 */
import { parseCommand } from "../lib/runtime/cli.ts";
import { intParser, opsSettings, parseDurationMs, type SettingsSpec } from "../lib/runtime/config.ts";
import { compactorOps, newCompactorProgress } from "../lib/lake/compactor-metrics.ts";
import { serveWorkerOps } from "../lib/ops/worker-ops.ts";
import { type CompactionSummary, LakeCompactor } from "../lib/lake/compactor.ts";
import { cleanUpLog, DEFAULT_FILE_RETENTION_MS, DEFAULT_LOG_RETENTION_MS, vacuum } from "../lib/lake/delta-vacuum.ts";
import { checkLakeWritable, lakeSettings, openLakeStore, untilLakeAnswers } from "../lib/lake/open-store.ts";
import { transientLakeProblem } from "../lib/lake/writer-errors.ts";
import { describeError, log, runMain } from "../lib/runtime/worker-runtime.ts";
import { flagValue, UsageError } from "../lib/runtime/flag-values.ts";

const WORKER = "compact";

const settings = { ...lakeSettings, ...opsSettings } satisfies SettingsSpec;

const command = {
  usage: "bun run workers/compact.ts [--once | --interval DURATION] [options]",
  summary:
    "Compacts the lake's Delta table: in every closed hour partition, merges the small files into\n" +
    "files of about --target-size, one commit per merge, so readers see every event exactly once\n" +
    "before, during and after; then vacuums the files no reader can need any more (--retention).",
  flags: {
    once: { type: "boolean", describe: "one pass (merges, vacuum, log clean-up), then exit" },
    interval: { type: "string", value: "DURATION", describe: "time between passes when running continuously (default 1m)" },
    "metrics-port": { type: "string", value: "PORT", describe: "serve /metrics, /healthz and /readyz on this port when running continuously (overrides METRICS_PORT)" },
    "target-size": { type: "string", value: "SIZE", describe: "input bytes per output file, e.g. 64MB, 512KB (default 64MB)" },
    "close-after": { type: "string", value: "DURATION", describe: "an hour partition is compacted once its end is this far in the past (default 10m)" },
    "min-files": { type: "string", value: "N", describe: "fewest small files in an hour worth a merge (default 2)" },
    "row-group-rows": { type: "string", value: "N", describe: "rows per Parquet row group in merged files (default 131072)" },
    retention: {
      type: "string",
      value: "DURATION",
      describe: "vacuum deletes files the table stopped referencing this long ago, and never-committed files this old; longer than any read or flush, at most 7d (default 7d)",
    },
    "log-retention": { type: "string", value: "DURATION", describe: "history kept in _delta_log: older commits a checkpoint covers are deleted (default 30d)" },
    "vacuum-interval": { type: "string", value: "DURATION", describe: "vacuum and clean the log at most this often; 0: every pass (default 1h)" },
    "allow-short-retention": { type: "boolean", describe: "accept --retention or --log-retention under an hour (tests; Delta's retentionDurationCheck off)" },
  },
  settings,
} as const;

runMain(async (signal) => {
  const parsed = parseCommand(command, Bun.argv.slice(2), process.env);
  if (parsed.kind !== "run") return parsed;
  const { config, flags } = parsed;
  const duration = (flag: "interval" | "close-after" | "retention" | "log-retention" | "vacuum-interval", fallbackMs: number) => {
    const raw = flags[flag];
    if (typeof raw !== "string") return fallbackMs;
    try {
      return parseDurationMs(raw);
    } catch (error) {
      throw new UsageError(`--${flag}: ${(error as Error).message}`);
    }
  };
  const whole = (flag: "min-files" | "row-group-rows", min: number, fallback: number) => {
    const raw = flags[flag];
    if (typeof raw !== "string") return fallback;
    try {
      return intParser(min, 100_000_000)(raw);
    } catch (error) {
      throw new UsageError(`--${flag}: ${(error as Error).message}`);
    }
  };
  if (flags.once && flags.interval !== undefined) throw new UsageError("--once and --interval exclude each other: use one");
  const intervalMs = duration("interval", 60_000);
  const metricsPort = flagValue("metrics-port", flags["metrics-port"], config.METRICS_PORT, intParser(0, 65_535));
  const targetBytes = flags["target-size"] === undefined ? 64 * 1024 * 1024 : parseSize(flags["target-size"]);
  const retention = {
    retentionMs: duration("retention", DEFAULT_FILE_RETENTION_MS),
    logRetentionMs: duration("log-retention", DEFAULT_LOG_RETENTION_MS),
    allowShortRetention: flags["allow-short-retention"] === true,
  };
  if (retention.retentionMs > DEFAULT_FILE_RETENTION_MS) {
    // The writers' checkpoints keep a removed file's tombstone for 7 days; past that, vacuum could only judge it by its age.
    throw new UsageError(`--retention: at most 7d (the tombstone retention of the table's checkpoints), got ${retention.retentionMs} ms`);
  }
  for (const [flag, ms] of [["retention", retention.retentionMs], ["log-retention", retention.logRetentionMs]] as const) {
    if (ms < 3_600_000 && !retention.allowShortRetention) {
      throw new UsageError(`--${flag}: ${ms} ms is under an hour and could delete files a reader or a flush still needs; give at least 1h, or add --allow-short-retention`);
    }
  }
  const vacuumIntervalMs = duration("vacuum-interval", 3_600_000);
  const lake = openLakeStore(config, process.env);
  const compactor = new LakeCompactor(lake.store, {
    clock: { now: () => Date.now() },
    targetBytes,
    closeAfterMs: duration("close-after", 600_000),
    minFiles: whole("min-files", 2, 2),
    rowGroupRows: whole("row-group-rows", 1, 131_072),
    tombstoneRetentionMs: retention.retentionMs,
    onCompacted: (c) => log(WORKER, `v${c.version} ${c.hour}: ${c.inputs} files, ${c.rows} rows, ${mb(c.bytesIn)} → 1 file, ${mb(c.bytesOut)}`),
  });

  if (!(await untilLakeAnswers(() => checkLakeWritable(lake), signal, (line) => log(WORKER, line)))) return log(WORKER, "stopped before the lake's object store answered");
  log(
    WORKER,
    `lake ${lake.where}, target ${mb(targetBytes)} per file, ${flags.once ? "one pass" : `a pass every ${intervalMs} ms`}; ` +
      `vacuum retention ${retention.retentionMs} ms, log retention ${retention.logRetentionMs} ms`,
  );
  const total = newCompactorProgress();
  const ops = metricsPort === null || flags.once ? undefined : compactorOps(total, { intervalMs, stallMs: config.READY_STALL_TIMEOUT, now: () => Date.now() });
  const served = ops && serveWorkerOps(ops, { port: metricsPort!, hostname: config.METRICS_HOST, now: () => Date.now(), log: (line) => log(WORKER, line) });
  let lastVacuumAt: number | undefined;
  const started = performance.now();
  try {
    while (!signal.aborted) {
      const passStart = performance.now();
      let s: CompactionSummary;
      let cleaned = "";
      try {
        s = await compactor.runOnce();
        if (flags.once || lastVacuumAt === undefined || performance.now() - lastVacuumAt >= vacuumIntervalMs) {
          const nowMs = Date.now();
          const v = await vacuum(lake.store, { nowMs, retentionMs: retention.retentionMs, allowShortRetention: retention.allowShortRetention });
          const l = await cleanUpLog(lake.store, { nowMs, retentionMs: retention.logRetentionMs, allowShortRetention: retention.allowShortRetention });
          lastVacuumAt = performance.now();
          total.deleted += v.tombstonesDeleted + v.orphansDeleted;
          total.logDeleted += l.commitsDeleted + l.checkpointsDeleted + l.temporariesDeleted;
          cleaned =
            `; vacuum deleted ${v.tombstonesDeleted} replaced and ${v.orphansDeleted} never-committed files (kept ${v.kept} within the retention)` +
            (l.commitsDeleted + l.checkpointsDeleted + l.temporariesDeleted > 0
              ? `; log clean-up deleted ${l.commitsDeleted} commits, ${l.checkpointsDeleted} checkpoints and ${l.temporariesDeleted} temporaries`
              : "");
        }
      } catch (error) {
        // A full disk or an absent object store passes: a merge that did not commit is invisible to readers.
        const problem = transientLakeProblem(error);
        if (flags.once || problem === undefined) throw error;
        total.passes += 1;
        total.failedPasses += 1;
        log(
          WORKER,
          `pass ${total.passes}: ${problem === "disk-full" ? `no space left on the lake's disk under ${lake.where}` : `the object store of ${lake.where} does not answer`} ` +
            `(${describeError(error)}); nothing was committed and readers are unaffected. Retrying at the next pass in ${intervalMs} ms`,
        );
        await sleepUnlessAborted(intervalMs, signal);
        continue;
      }
      total.passes += 1;
      total.version = s.version;
      for (const k of ["compactions", "inputFiles", "rows", "bytesIn", "bytesOut", "conflicts"] as const) total[k] += s[k];
      const seconds = (performance.now() - passStart) / 1000;
      log(
        WORKER,
        `pass ${total.passes}: ${s.compactions} merges of ${s.inputFiles} files (${s.rows} rows, ${mb(s.bytesIn)} → ${mb(s.bytesOut)}) in ${seconds.toFixed(2)} s` +
          (s.compactions > 0 ? ` = ${(s.bytesIn / 1e6 / seconds).toFixed(1)} MB/s` : "") +
          (s.conflicts > 0 ? `; ${s.conflicts} merges abandoned (another commit removed their inputs first)` : "") +
          (s.checkpointError !== undefined ? `; could not write a checkpoint (the next interval tries again): ${describeError(s.checkpointError)}` : "") +
          `; table at version ${s.version}` + cleaned,
      );
      if (flags.once) break;
      await sleepUnlessAborted(intervalMs, signal);
    }
  } catch (error) {
    throw new Error(`the compactor stopped on an error: ${describeError(error)}`);
  } finally {
    await served?.close();
  }
  log(
    WORKER,
    `stopped after ${total.passes} pass(es) in ${((performance.now() - started) / 1000).toFixed(1)} s: ${total.compactions} merges, ` +
      `${total.inputFiles} files → ${total.compactions}, ${total.rows} rows, ${mb(total.bytesIn)} → ${mb(total.bytesOut)}; vacuum deleted ${total.deleted} files, log clean-up ${total.logDeleted}`,
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
  if (!m || unit === undefined || !(Number(m[1]) > 0)) throw new UsageError(`--target-size: ${JSON.stringify(raw)} is not a size such as 64MB, 512KB or 1048576`);
  return Math.round(Number(m[1]) * unit);
}
