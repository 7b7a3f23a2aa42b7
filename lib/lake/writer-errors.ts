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
 * A flush (or a claim) could not write partition N's files or offsets. Either nothing of that
 * partition's flush is committed (its files were taken back, its rows stay buffered), or — with
 * `committed` — the commit did land and only a later step of writing it failed (its files stay,
 * its rows are done). Both ways `flush()` (or `assign()`) may simply be called again. `diskFull`
 * says whether the cause was a full disk or quota (ENOSPC, EDQUOT), which freeing space cures.
 */
export class LakeFlushError extends Error {
  override name = "LakeFlushError";
  readonly code = "LAKE_FLUSH_FAILED";
  readonly diskFull: boolean;
  constructor(
    readonly partition: number,
    cause: unknown,
    options: { what?: string; committed?: boolean } = {},
  ) {
    const diskFull = isDiskFullError(cause);
    const what = options.what ?? "files";
    super(
      `${options.committed ? `partition ${partition}'s commit landed, but writing it failed` : `cannot write partition ${partition}'s ${what} to the lake`}` +
        `${diskFull ? ": no space left on the lake's disk" : ""}: ${(cause as Error)?.message ?? String(cause)}`,
      { cause },
    );
    this.diskFull = diskFull;
    this.committed = options.committed ?? false;
  }
  readonly committed: boolean;
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
