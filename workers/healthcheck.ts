/**
 * `bun run workers/healthcheck.ts <script>`: the compose health check of the worker containers.
 * Exits 0 when a live (not zombie) process is running `<script>` (e.g. `workers/aggregate.ts`),
 * 1 otherwise, with one line saying which.
 *
 * Why a process check: the workers write no heartbeat file and serve no port, so liveness is all
 * a check can tell from outside without changing them. It reads /proc, so it needs nothing but
 * Bun, which every worker image has (it is the image's entrypoint), and it works whether the
 * worker is PID 1 or a child of `init: true`'s tini.
 */
import { readdirSync, readFileSync } from "node:fs";
import { versionText } from "../lib/runtime/cli.ts";

/** One process as /proc shows it: its argv and its one-letter state (`R`, `S`, `Z`, ...). */
export interface ProcessEntry {
  pid: number;
  argv: readonly string[];
  state: string;
}

/**
 * Whether any process other than `selfPid` runs `script`: an argv element equal to it or ending
 * in `/<script>` (so `/app/workers/x.ts` matches `workers/x.ts`). Zombies do not count.
 */
export function isScriptRunning(processes: Iterable<ProcessEntry>, script: string, selfPid: number): boolean {
  if (script.length === 0) throw new RangeError("script must be a non-empty path such as workers/aggregate.ts: got \"\"");
  for (const p of processes) {
    if (p.pid === selfPid || p.state === "Z" || p.state === "X") continue;
    if (p.argv.some((arg) => arg === script || arg.endsWith(`/${script}`))) return true;
  }
  return false;
}

/** The processes under `procRoot` (default /proc); ones that vanish while being read are skipped. */
export function listProcesses(procRoot = "/proc"): ProcessEntry[] {
  const out: ProcessEntry[] = [];
  for (const name of readdirSync(procRoot)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`${procRoot}/${name}/cmdline`, "utf8").split("\0").filter((a) => a.length > 0);
      // The state follows the parenthesised command name, which may itself contain ") ".
      const stat = readFileSync(`${procRoot}/${name}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      out.push({ pid: Number(name), argv, state });
    } catch {
      // The process exited between readdir and read.
    }
  }
  return out;
}

if (import.meta.main) {
  const script = process.argv[2] ?? "";
  if (script === "--version") {
    process.stdout.write(versionText());
    process.exit(0);
  }
  if (script === "" || script === "--help" || script === "-h") {
    process.stdout.write("Usage: bun run workers/healthcheck.ts <worker script, e.g. workers/aggregate.ts>\n");
    process.exit(script === "" ? 2 : 0);
  }
  const running = isScriptRunning(listProcesses(), script, process.pid);
  process.stdout.write(running ? `${script} is running\n` : `${script} is not running\n`);
  process.exit(running ? 0 : 1);
}
