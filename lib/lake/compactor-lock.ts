/**
 * One compactor per lake: `LAKE_DIR/_compactor.lock`, created exclusively, naming its holder —
 * `{"pid", "bootId", "startTicks"}`: the pid and, where /proc has them (Linux), the boot's id and
 * the process's start time in clock ticks since boot.
 *
 * A pid alone does not name a process over time. After a container restart the new compactor
 * often gets the very pid the old lock names (pid 1 in its container), and any process may get a
 * dead compactor's pid. So a lock is held only while the process with its pid is alive and is the
 * same process: same boot, same start time. A lock naming this process's own pid is never
 * held (this process is only now taking it). A lock without a start time (from before it was
 * recorded, or written where /proc is missing) is held while its pid is alive.
 */
import { mkdir, open, readFile, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import process from "node:process";
import { isErrorCode, syncDirectory } from "../runtime/durable-fs.ts";

export interface CompactorLock {
  release(): Promise<void>;
}

/** Who a process is, beyond its pid (see the module comment). */
export interface ProcessIdentity {
  pid: number;
  /** `/proc/sys/kernel/random/boot_id`; undefined where it cannot be read. */
  bootId?: string;
  /** Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks since boot; undefined where it cannot be read. */
  startTicks?: string;
}

/**
 * The identity of process `pid` now: undefined when there is no such process; without `bootId`
 * and `startTicks` when /proc cannot tell (not Linux).
 */
export async function processIdentity(pid: number): Promise<ProcessIdentity | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch (error) {
    if (isErrorCode(error, "ENOENT") && (await procAvailable())) return undefined;
    return alive(pid) ? { pid } : undefined;
  }
  // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so count fields after its last ')'.
  const startTicks = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  const bootId = (await readFile("/proc/sys/kernel/random/boot_id", "utf8").catch(() => "")).trim();
  return { pid, ...(bootId ? { bootId } : {}), ...(startTicks && /^\d+$/.test(startTicks) ? { startTicks } : {}) };
}

/** Whether the process a lock names still holds it. */
export async function holdsLock(lock: ProcessIdentity): Promise<boolean> {
  if (lock.pid === process.pid || !alive(lock.pid)) return false;
  if (lock.startTicks === undefined) return true;
  const now = await processIdentity(lock.pid);
  if (now === undefined) return false;
  if (now.startTicks === undefined) return true;
  return now.startTicks === lock.startTicks && (lock.bootId === undefined || now.bootId === lock.bootId);
}

/** A lock file's holder: `{"pid", …}`, or a bare pid (the format before start times). */
export function parseLock(text: string): ProcessIdentity | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return { pid: Number(trimmed) };
  try {
    const v = JSON.parse(trimmed) as Record<string, unknown>;
    if (!Number.isSafeInteger(v.pid) || (v.pid as number) <= 0) return undefined;
    return {
      pid: v.pid as number,
      ...(typeof v.bootId === "string" ? { bootId: v.bootId } : {}),
      ...(typeof v.startTicks === "string" ? { startTicks: v.startTicks } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock at `path` for this process: creates it exclusively, or takes over a lock whose
 * holder is gone (see the module comment). Throws when a live compactor holds it.
 */
export async function takeCompactorLock(path: string, options: { log?: (line: string) => void } = {}): Promise<CompactorLock> {
  await mkdir(dirname(path), { recursive: true });
  const self = (await processIdentity(process.pid)) ?? { pid: process.pid };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, "wx");
      try {
        await handle.writeFile(`${JSON.stringify(self)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await syncDirectory(dirname(path));
      return { release: () => unlink(path).catch(() => {}) };
    } catch (error) {
      if (!isErrorCode(error, "EEXIST")) throw error;
      const holder = parseLock(await readFile(path, "utf8").catch(() => ""));
      if (holder && (await holdsLock(holder))) {
        throw new Error(`another compactor (pid ${holder.pid}) holds ${path}; run one compactor per lake, or delete the file if that process is not a compactor`);
      }
      options.log?.(
        `taking over ${path} from pid ${holder?.pid ?? "?"}, which ${holder?.pid === process.pid ? "is this process's pid from an earlier run (a restart)" : "is gone (or another process has its pid now)"}`,
      );
      await unlink(path).catch(() => {});
    }
  }
  throw new Error(`could not take ${path}: another compactor took it at the same moment`);
}

let procChecked: Promise<boolean> | undefined;
function procAvailable(): Promise<boolean> {
  procChecked ??= readFile("/proc/self/stat", "utf8").then(() => true, () => false);
  return procChecked;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return isErrorCode(error, "EPERM");
  }
}
