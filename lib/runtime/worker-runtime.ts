/**
 * The shell every worker's `main` runs in: `--help` and usage errors, one AbortSignal for
 * SIGINT/SIGTERM (a second signal exits at once), and a last-resort error line that says what
 * went wrong instead of a stack trace alone.
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "./config.ts";
import { UsageError } from "./flag-values.ts";

export type LogLevel = "info" | "warn" | "error";
export type LogFormat = "text" | "json";

/** The log format LOG_FORMAT asks for: `text` (the default: for people) or `json` (for log shippers). */
export function logFormatOf(raw: string | undefined): LogFormat {
  if (raw === undefined || raw === "" || raw === "text") return "text";
  if (raw === "json") return "json";
  throw new ConfigError([{ variable: "LOG_FORMAT", message: `expected text or json: got ${JSON.stringify(raw)}` }]);
}

/**
 * One log line: `HH:MM:SS.mmm [worker] message` for people, or with `json` one JSON object per line
 * (`time` with the date, `level`, `worker`, `message`, then `fields`) for log shippers.
 */
export function formatLogLine(format: LogFormat, atMs: number, worker: string, message: string, options: { level?: LogLevel; fields?: Record<string, unknown> } = {}): string {
  const time = new Date(atMs).toISOString();
  if (format === "text") return `${time.slice(11, 23)} [${worker}] ${message}\n`;
  return `${JSON.stringify({ time, level: options.level ?? "info", worker, message, ...options.fields }, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}\n`;
}

let processLogFormat: LogFormat | undefined;

/** One log line on stderr in LOG_FORMAT's format; stdout stays free for data. */
export function log(worker: string, message: string, options?: { level?: LogLevel; fields?: Record<string, unknown> }): void {
  // A bad LOG_FORMAT is refused by runMain before any line; here it falls back to text.
  processLogFormat ??= (() => {
    try {
      return logFormatOf(process.env.LOG_FORMAT);
    } catch {
      return "text";
    }
  })();
  process.stderr.write(formatLogLine(processLogFormat, Date.now(), worker, message, options));
}

/** What `main` may return: nothing when it ran, or the outcome of argument parsing. */
export type MainOutcome = void | { kind: "help" | "version"; text: string } | { kind: "error"; message: string };

/** Signals this soon after the first one are the same request delivered twice, not a second one. */
const REPEAT_SIGNAL_GRACE_MS = 1_000;

/** What `main` gets besides its stop signal. */
export interface MainContext {
  /**
   * Declares how long a stop may take (the worker's --shutdown-timeout). The worker bounds its
   * own stop; this is the backstop for what it cannot bound (a client call that neither answers
   * nor fails): a process still running {@link STOP_BACKSTOP_GRACE_MS} after that, counted from
   * the stop request, exits 1 with a line saying so.
   */
  stopWithin(ms: number): void;
}

/** How long past its shutdown timeout a stopping worker may run before runMain ends it. */
export const STOP_BACKSTOP_GRACE_MS = 2_000;

/**
 * Runs `main` with a signal that aborts on the first SIGINT or SIGTERM; the process then exits
 * 0 once `main` returns. Help goes to stdout (exit 0); a usage or configuration error to stderr
 * (exit 2); a thrown error to stderr with its causes (exit 1); a stop that outlasts what `main`
 * declared with `stopWithin()` exits 1 (see {@link MainContext}).
 */
export function runMain(main: (signal: AbortSignal, context: MainContext) => Promise<MainOutcome>): void {
  const controller = new AbortController();
  const worker = (process.argv[1] ?? "worker").replace(/^.*\//, "").replace(/\.ts$/, "");
  let format: LogFormat;
  try {
    format = logFormatOf(process.env.LOG_FORMAT);
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    process.exit(2);
  }
  /** A last line on stderr, in the log format (help and usage text stay plain: a person asked). */
  const fail = (message: string, code: number): never => {
    process.stderr.write(format === "json" ? formatLogLine(format, Date.now(), worker, message, { level: "error" }) : `error: ${message}\n`);
    process.exit(code);
  };
  let firstSignalAtMs: number | undefined;
  const onSignal = (name: string) => {
    const now = performance.now();
    if (firstSignalAtMs !== undefined) {
      // One Ctrl-C can arrive twice: the terminal signals the whole process group, and a
      // wrapper in it (`bun run <script>`) may pass its copy on. Only a second request a moment
      // later is a person insisting.
      if (now - firstSignalAtMs < REPEAT_SIGNAL_GRACE_MS) return;
      process.stderr.write(`received ${name} again; exiting without cleanup\n`);
      process.exit(130);
    }
    firstSignalAtMs = now;
    controller.abort(new Error(`received ${name}`));
    armBackstop();
  };
  let stopWithinMs: number | undefined;
  let backstop: ReturnType<typeof setTimeout> | undefined;
  const armBackstop = () => {
    if (stopWithinMs === undefined || firstSignalAtMs === undefined || backstop !== undefined) return;
    const limitMs = stopWithinMs;
    backstop = setTimeout(
      () =>
        fail(
          `the stop did not finish within its ${limitMs} ms shutdown timeout (and ${STOP_BACKSTOP_GRACE_MS} ms more); exiting without the rest of its cleanup. ` +
            "What it had not saved is saved by the next run from its last checkpoint or commit; if this repeats, look for a server that stopped answering",
          1,
        ),
      Math.max(0, firstSignalAtMs + limitMs + STOP_BACKSTOP_GRACE_MS - performance.now()),
    );
    backstop.unref();
  };
  const context: MainContext = {
    stopWithin(ms) {
      stopWithinMs = ms;
      armBackstop();
    },
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  // A supervisor (bun run pipeline) runs its workers in their own process groups, so that a
  // terminal's Ctrl-C reaches only the supervisor, which then stops each worker once. The price:
  // a worker would outlive a supervisor killed outright — so it watches its supervisor's pid.
  const supervisor = Number(process.env.ORDERPULSE_PARENT_PID);
  if (Number.isInteger(supervisor) && supervisor > 0) {
    const watch = setInterval(() => {
      try {
        process.kill(supervisor, 0);
      } catch {
        clearInterval(watch);
        if (!controller.signal.aborted) onSignal("the end of its supervisor");
      }
    }, 1_000);
    watch.unref();
  }

  main(controller.signal, context).then(
    (outcome) => {
      if (outcome?.kind === "help" || outcome?.kind === "version") {
        process.stdout.write(outcome.text);
        process.exit(0);
      }
      if (outcome?.kind === "error") {
        process.stderr.write(`error: ${outcome.message}\n`);
        process.exit(2);
      }
      process.exit(0);
    },
    (error: unknown) => {
      if (error instanceof UsageError) {
        process.stderr.write(`error: ${error.message}\nRun with --help to see the options.\n`);
        process.exit(2);
      }
      // A configuration found bad after parsing (e.g. a secret file that cannot be read) is a
      // usage error like any other.
      fail(describeError(error), error instanceof ConfigError ? 2 : 1);
    },
  );
}

/** An error and its chain of causes, one per line. */
export function describeError(error: unknown): string {
  const lines: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    if (current instanceof Error) {
      lines.push(depth === 0 ? current.message : `caused by: ${current.message}`);
      // An AggregateError, or the Kafka client's MultipleErrors, keeps its reasons in `errors`.
      const errors = (current as { errors?: unknown }).errors;
      current = current.cause ?? (Array.isArray(errors) && errors.length > 0 ? errors[0] : undefined);
    } else {
      lines.push(depth === 0 ? String(current) : `caused by: ${String(current)}`);
      current = undefined;
    }
  }
  return lines.join("\n  ");
}

/**
 * This process's peak resident memory in bytes. On Linux, VmHWM from /proc/self/status: the
 * high-water mark of this program's own memory. Not `resourceUsage().maxRSS`, which Linux carries
 * over from the parent across fork and exec: a worker started by a process that had grown to
 * 700 MB reported a 700 MB peak of its own (measured: 787 MB for a child whose own peak was 27 MB).
 * Elsewhere, maxRSS is all there is.
 */
export function peakRssBytes(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // not Linux: below
  }
  return process.resourceUsage().maxRSS * 1024;
}
