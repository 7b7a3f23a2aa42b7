/**
 * Starting a local server (Kafka, a time-series server) so that it cannot outlive us.
 *
 * The command runs under a small shell guard that stops it when this process dies, even by
 * SIGKILL, so a crashed test run never leaves a server holding ports and disk. The guard gets its
 * own process group: a terminal's Ctrl-C reaches only us, and we stop the server after the
 * workers that still flush to it. SIGTERM to the guard is passed on to the server.
 */
import { type ChildProcess, spawn } from "node:child_process";

const GUARD_SCRIPT = `
"$@" &
child=$!
trap 'kill -TERM $child 2>/dev/null; wait $child; exit $?' TERM INT
while kill -0 $child 2>/dev/null; do
  if ! kill -0 $ORDERPULSE_GUARD_PARENT 2>/dev/null; then kill -TERM $child; wait $child; exit 1; fi
  sleep 1 & wait $!
done
wait $child
`;

/** Runs `command` (argv) with stdout and stderr appended to the open file `logFd`. */
export function spawnGuarded(command: string[], logFd: number, env: Record<string, string | undefined> = process.env): ChildProcess {
  return spawn("bash", ["-c", GUARD_SCRIPT, "orderpulse-guard", ...command], {
    stdio: ["ignore", logFd, logFd],
    env: { ...env, ORDERPULSE_GUARD_PARENT: String(process.pid) },
    detached: true,
  });
}
