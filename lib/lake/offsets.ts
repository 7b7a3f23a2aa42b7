/**
 * The lake writer's committed position per Kafka partition, and who may move it: partition N's
 * offsets log, `_offsets/partition-N/<seq>.json` (docs/lake.md, "Exactly once" and "Fencing").
 *
 * The newest entry (the highest seq) is the partition's state: the next offset to read — where
 * the writer resumes — and which writer files readers may see. Each entry is written with
 * put-if-absent at the seq after the newest one its writer read, so two writers that read the
 * same state cannot both append: the second finds the seq taken. An entry is either a claim (a
 * writer takes the partition over under a new owner epoch; it copies the committed position)
 * or a commit (the epoch's owner moves the position after its files are in place).
 *
 * A writer file `pN-eE-oA-oB.parquet` is committed when its epoch E is the newest entry's epoch
 * and B < nextOffset, or when E is a closed epoch the entry lists and B < that epoch's end. A
 * writer whose epoch was closed by someone else's claim can still write files, but never a
 * visible one: its epoch's end was fixed by the claim.
 *
 * This file is the format and the visibility rule; lib/lake/offsets-log.ts reads and appends.
 */

/** An owner epoch that ended (a later claim closed it) and still has writer files. */
export interface ClosedEpoch {
  epoch: number;
  /** The epoch's last committed next offset: its files with a last offset below it are committed, the rest never will be. */
  endOffset: bigint;
}

/** The part of an offsets entry that says which writer files are committed. */
export interface CommittedRanges {
  /** The current owner epoch. */
  epoch: number;
  /** The first offset not yet in the lake; `undefined` while nothing of the partition was ever committed. */
  nextOffset: bigint | undefined;
  /** Earlier epochs whose files may still be on disk, ascending. */
  closed: readonly ClosedEpoch[];
}

export interface PartitionOffsets extends CommittedRanges {
  topic: string;
  partition: number;
  /** The entry's place in the partition's log: 1, 2, 3, … (0: the offsets file of a lake written before the log). */
  seq: number;
  /** Who wrote it: a random id per claim, the same in the claim and its epoch's commits. */
  owner: string;
  /**
   * The first epoch of this log. Writer files of an older epoch are not described by the log
   * (it was started afresh over an existing lake): they are never shown and never deleted.
   */
  firstEpoch: number;
  /** Offset ranges the lake skipped because Kafka had deleted them before they were read (--skip-lost-records). */
  skipped: readonly { from: bigint; to: bigint }[];
  /** When it was written, ms since the epoch (for people; nothing depends on it). */
  writtenAtMs: number;
}

/** Whether a writer file of `epoch` whose last offset is `lastOffset` is committed under `ranges`. */
export function isCommittedWriterFile(ranges: CommittedRanges, file: { epoch: number; lastOffset: bigint }): boolean {
  if (file.epoch === ranges.epoch) return ranges.nextOffset !== undefined && file.lastOffset < ranges.nextOffset;
  const closed = ranges.closed.find((c) => c.epoch === file.epoch);
  return closed !== undefined && file.lastOffset < closed.endOffset;
}

/**
 * Whether a writer file is provably never going to be committed under `offsets`: an epoch of this
 * log that is over (closed, or never committed anything) and the file is outside what it
 * committed. Such a file is the remains of a flush that crashed or was fenced, safe to delete.
 * Files of epochs older than the log are not judged (false).
 */
export function isAbandonedWriterFile(offsets: PartitionOffsets, file: { epoch: number; lastOffset: bigint }): boolean {
  return file.epoch >= offsets.firstEpoch && file.epoch < offsets.epoch && !isCommittedWriterFile(offsets, file);
}

/** A writer file (or a temporary of one) of the partition, as a claim sees it on disk. */
export interface WriterFileOnDisk {
  name: { epoch: number; lastOffset: bigint };
  /** A temporary of a write in progress or crashed: never committed. */
  temp: boolean;
}

/**
 * The claim that takes a partition over from `head` (its newest entry; undefined when the lake
 * has none), given the partition's writer files on disk — listed after `head` was read, so that
 * they include every file its commits cover. The claim's epoch is above every epoch in the log
 * and in the file names; it copies the committed position; it closes `head`'s epoch where it
 * stands and keeps only closed epochs that still have committed files on disk (none can appear
 * later). A log starts at its first claim; a lake's offsets file from before the log starts it at
 * epoch 0, unless files with epochs are on disk already (then a log was lost, and its files are
 * not judged: `firstEpoch` is the new epoch).
 */
export function claimAfter(
  head: PartitionOffsets | undefined,
  files: readonly WriterFileOnDisk[],
  entry: { topic: string; partition: number; owner: string; writtenAtMs: number },
): PartitionOffsets {
  const maxFileEpoch = files.reduce((max, f) => Math.max(max, f.name.epoch), 0);
  const epoch = Math.max(head?.epoch ?? 0, maxFileEpoch) + 1;
  const ended: ClosedEpoch[] = [...(head?.closed ?? [])];
  if (head?.nextOffset !== undefined) ended.push({ epoch: head.epoch, endOffset: head.nextOffset });
  const closed = ended.filter((c) => files.some((f) => !f.temp && f.name.epoch === c.epoch && f.name.lastOffset < c.endOffset));
  const firstEpoch = head === undefined || (head.seq === 0 && maxFileEpoch > 0) ? epoch : head.firstEpoch;
  return {
    ...entry,
    seq: (head?.seq ?? 0) + 1,
    epoch,
    firstEpoch,
    nextOffset: head?.nextOffset,
    closed,
    skipped: head?.skipped ?? [],
  };
}

const DECIMAL = /^\d{1,19}$/;

export function encodeOffsets(o: PartitionOffsets): Uint8Array {
  const json = {
    version: 2,
    topic: o.topic,
    partition: o.partition,
    seq: o.seq,
    epoch: o.epoch,
    owner: o.owner,
    firstEpoch: o.firstEpoch,
    nextOffset: o.nextOffset === undefined ? null : o.nextOffset.toString(),
    closed: o.closed.map((c) => ({ epoch: c.epoch, endOffset: c.endOffset.toString() })),
    skipped: o.skipped.map((s) => ({ from: s.from.toString(), to: s.to.toString() })),
    writtenAtMs: o.writtenAtMs,
  };
  return new TextEncoder().encode(`${JSON.stringify(json)}\n`);
}

/**
 * Parses an offsets log entry, or the offsets file of a lake written before the log (version 1:
 * it becomes entry 0 of owner epoch 0, whose files are the ones named without an epoch). Throws
 * a TypeError naming the file when it is neither (it is written atomically: the disk or a person changed it).
 */
export function decodeOffsets(bytes: Uint8Array, path: string): PartitionOffsets {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  } catch (error) {
    throw new TypeError(`${path} is not JSON (${(error as Error).message}); it is written atomically, so the disk or a person changed it`);
  }
  if (v.version === 1) {
    if (typeof v.topic !== "string" || typeof v.partition !== "number" || typeof v.nextOffset !== "string" || !DECIMAL.test(v.nextOffset) || typeof v.writtenAtMs !== "number") {
      throw new TypeError(`${path} is not a version-1 offsets file (topic, partition, nextOffset as a decimal string)`);
    }
    return {
      topic: v.topic,
      partition: v.partition,
      seq: 0,
      epoch: 0,
      owner: "",
      firstEpoch: 0,
      nextOffset: BigInt(v.nextOffset),
      closed: [],
      skipped: [],
      writtenAtMs: v.writtenAtMs,
    };
  }
  const isEpoch = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
  const closed = Array.isArray(v.closed) ? v.closed as { epoch?: unknown; endOffset?: unknown }[] : undefined;
  const skipped = Array.isArray(v.skipped) ? v.skipped as { from?: unknown; to?: unknown }[] : undefined;
  if (
    v.version !== 2 || typeof v.topic !== "string" || typeof v.partition !== "number" || !isEpoch(v.seq) || !isEpoch(v.epoch) ||
    typeof v.owner !== "string" || !isEpoch(v.firstEpoch) || !(v.nextOffset === null || (typeof v.nextOffset === "string" && DECIMAL.test(v.nextOffset))) ||
    !closed?.every((c) => isEpoch(c.epoch) && typeof c.endOffset === "string" && DECIMAL.test(c.endOffset)) ||
    !skipped?.every((s) => typeof s.from === "string" && DECIMAL.test(s.from) && typeof s.to === "string" && DECIMAL.test(s.to)) ||
    typeof v.writtenAtMs !== "number"
  ) {
    throw new TypeError(`${path} is not a version-2 offsets log entry (topic, partition, seq, epoch, owner, firstEpoch, nextOffset, closed, skipped)`);
  }
  return {
    topic: v.topic,
    partition: v.partition,
    seq: v.seq,
    epoch: v.epoch,
    owner: v.owner,
    firstEpoch: v.firstEpoch,
    nextOffset: v.nextOffset === null ? undefined : BigInt(v.nextOffset as string),
    closed: closed.map((c) => ({ epoch: c.epoch as number, endOffset: BigInt(c.endOffset as string) })),
    skipped: skipped.map((s) => ({ from: BigInt(s.from as string), to: BigInt(s.to as string) })),
    writtenAtMs: v.writtenAtMs,
  };
}
