/**
 * The file-system steps that make a write survive a crash, shared by the stores that write files
 * a restart or a reader depends on (checkpoints, the lake).
 */
import { open } from "node:fs/promises";

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

/** Whether `error` is a Node-style system error with this `code` (ENOENT, EISDIR, ...). */
export function isErrorCode(error: unknown, code: string): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === code;
}

/** A write failed because the disk (ENOSPC) or the user's quota (EDQUOT) is full: freeing space cures it. */
export function isDiskFullError(error: unknown): boolean {
  return isErrorCode(error, "ENOSPC") || isErrorCode(error, "EDQUOT");
}
