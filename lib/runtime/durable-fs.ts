/**
 * The file-system steps that make a write survive a crash, shared by the stores that write files
 * a restart or a reader depends on (checkpoints, the lake).
 */
import { closeSync, fsyncSync, mkdirSync, openSync } from "node:fs";
import { mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * fsyncs a directory, so a rename into it survives a power cut. Platforms that cannot open or
 * fsync a directory (Windows: EPERM/EISDIR) are let through: the rename is still atomic there,
 * only its durability across a power cut is weaker.
 */
export async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, "r");
    await handle.sync();
  } catch (error) {
    if (!isErrorCode(error, "EISDIR") && !isErrorCode(error, "EPERM") && !isErrorCode(error, "EINVAL")) throw error;
  } finally {
    await handle?.close();
  }
}

/**
 * Creates `dir` and any missing parent, each fsynced into its own parent once created (a
 * directory entry is durable only once its parent is fsynced). An existing directory costs one
 * `mkdir` that fails with EEXIST. `sync` is for tests that watch which directories are fsynced.
 */
export async function makeDirectoryDurable(dir: string, sync: (dir: string) => Promise<void> = syncDirectory): Promise<void> {
  try {
    await mkdir(dir);
  } catch (error) {
    if (isErrorCode(error, "EEXIST")) return;
    if (!isErrorCode(error, "ENOENT") || dirname(dir) === dir) throw error;
    await makeDirectoryDurable(dirname(dir), sync);
    try {
      await mkdir(dir);
    } catch (again) {
      // Another writer created it meanwhile: fsync its parent anyway, it may not have yet.
      if (!isErrorCode(again, "EEXIST")) throw again;
    }
  }
  await sync(dirname(dir));
}

/**
 * {@link syncDirectory} and {@link makeDirectoryDurable} with blocking calls, for a thread that
 * does nothing but write (lib/lake/encode-worker.ts): each step costs one system call, not a
 * round trip through the runtime's thread pool and a wake-up of the event loop.
 */
export function syncDirectorySync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch (error) {
    if (!isErrorCode(error, "EISDIR") && !isErrorCode(error, "EPERM") && !isErrorCode(error, "EINVAL")) throw error;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export function makeDirectoryDurableSync(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (error) {
    if (isErrorCode(error, "EEXIST")) return;
    if (!isErrorCode(error, "ENOENT") || dirname(dir) === dir) throw error;
    makeDirectoryDurableSync(dirname(dir));
    try {
      mkdirSync(dir);
    } catch (again) {
      if (!isErrorCode(again, "EEXIST")) throw again;
    }
  }
  syncDirectorySync(dirname(dir));
}

/** Whether `error` is a Node-style system error with this `code` (ENOENT, EISDIR, ...). */
export function isErrorCode(error: unknown, code: string): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === code;
}

/** A write failed because the disk (ENOSPC) or the user's quota (EDQUOT) is full: freeing space cures it. */
export function isDiskFullError(error: unknown): boolean {
  return isErrorCode(error, "ENOSPC") || isErrorCode(error, "EDQUOT");
}
