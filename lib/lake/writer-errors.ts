/**
 * The errors the lake writer's run loop branches on (lib/consume/run-lake-writer.ts): a lake that
 * holds another stream (stop), and a write that failed (wait out a full disk or an object store
 * that does not answer, stop on anything else).
 */
import { isDiskFullError } from "../runtime/durable-fs.ts";

/** The lake's table names another topic (its property orderpulse.topic): it belongs to another stream. */
export class LakeTopicMismatchError extends Error {
  override name = "LakeTopicMismatchError";
  readonly code = "LAKE_TOPIC_MISMATCH";
}

/**
 * A flush could not write partition N's files or its commit, and the commit is not known to have
 * landed: nothing of the flush counts, its rows stay buffered, and `flush()` may simply be called
 * again (a commit that did land all the same is recognised then, lib/lake/writer.ts). Files it
 * wrote stay unreferenced until vacuum deletes them. `diskFull` says whether the cause was a full
 * disk or quota (ENOSPC, EDQUOT), which freeing space cures.
 */
export class LakeFlushError extends Error {
  override name = "LakeFlushError";
  readonly code = "LAKE_FLUSH_FAILED";
  readonly diskFull: boolean;
  constructor(
    readonly partition: number,
    cause: unknown,
    options: { what?: string } = {},
  ) {
    const diskFull = isDiskFullError(cause);
    const what = options.what ?? "files";
    super(`cannot write partition ${partition}'s ${what} to the lake${diskFull ? ": no space left on the lake's disk" : ""}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.diskFull = diskFull;
  }
}

/**
 * Whether a lake operation failed for a reason that passes by itself, so that it is worth
 * retrying as it is: the local disk is full (space gets freed), or the object store did not
 * answer or answered 5xx (lib/lake/s3-store.ts's code S3_UNAVAILABLE). Anything else is not.
 */
export function transientLakeProblem(error: unknown): "disk-full" | "unavailable" | undefined {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof LakeFlushError && e.diskFull) return "disk-full";
    if (isDiskFullError(e)) return "disk-full";
    if ((e as { code?: unknown }).code === "S3_UNAVAILABLE") return "unavailable";
  }
  return undefined;
}
