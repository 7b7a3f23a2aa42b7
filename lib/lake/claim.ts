/**
 * Taking Kafka partitions over in the lake (docs/lake.md, "Fencing"): for each, a claim appended to
 * its offsets log under a new owner epoch (lib/lake/offsets.ts, `claimAfter`), which from then on
 * refuses every commit of an earlier owner; then the clean-up the claim makes safe — the
 * temporaries of the partition's writes, and the writer files the log proves will never be
 * committed. A file the log does not describe is left alone: it may hold committed data whose
 * offsets were lost.
 */
import { randomUUID } from "node:crypto";
import { legacyOffsetsPath, OFFSETS_DIR, offsetsLogDir, parseFileName } from "./layout.ts";
import { claimAfter, isAbandonedWriterFile, isCommittedWriterFile, type PartitionOffsets, type WriterFileOnDisk } from "./offsets.ts";
import { type AppendOutcome, appendOffsets, readOffsetsHead } from "./offsets-log.ts";
import { listHourDirs } from "./reader.ts";
import type { LakeStore } from "./store.ts";
import { LakeFlushError, LakeTopicMismatchError } from "./writer-errors.ts";

export interface ClaimOptions {
  /** The topic the writer reads: a log that names another is refused (LakeTopicMismatchError). */
  topic: string;
  /** For the claims' `writtenAtMs` (for people). */
  clock: { now(): number };
  /**
   * Called once a partition's claim is in place, with what its clean-up did: files `removed`
   * (temporaries and files never to be committed) and files `leftAlone` (not described by the log).
   */
  onClaimed(partition: number, claim: PartitionOffsets, cleanUp: { removed: number; leftAlone: number }): void;
}

/** How often a claim is tried again when other writers keep appending to the partition's log meanwhile. */
const CLAIM_ATTEMPTS = 10;

/** A temporary of a writer file: `.pN[-eE]-oA-oB.parquet.tmp-<uuid>`. */
const WRITER_TEMP = /^\.(p\d+(?:-e\d+)?-o\d+-o\d+\.parquet)\.tmp-/;

/** A writer file (or its temporary) of one partition found in the hour directories. */
interface ListedFile extends WriterFileOnDisk {
  path: string;
}

/**
 * Claims each of `partitions` in turn (see the module comment). Throws LakeFlushError when a claim
 * cannot be written (a full disk: call again; partitions already claimed were reported).
 */
export async function claimPartitions(store: LakeStore, partitions: readonly number[], options: ClaimOptions): Promise<void> {
  // Heads first, then the listing: a claim must see every file its head's commits cover.
  const heads = new Map<number, PartitionOffsets | undefined>();
  for (const p of partitions) heads.set(p, await readHead(store, p, options.topic));
  const listed = await listWriterFiles(store, new Set(partitions));
  for (const p of partitions) await claim(store, p, heads.get(p), listed.get(p) ?? [], options);
}

async function readHead(store: LakeStore, partition: number, topic: string): Promise<PartitionOffsets | undefined> {
  const head = await readOffsetsHead(store, partition);
  if (head && head.topic !== topic) {
    throw new LakeTopicMismatchError(`${offsetsLogDir(partition)} records topic ${head.topic}, not ${topic}: this lake directory holds another stream; point LAKE_DIR elsewhere`);
  }
  return head;
}

async function claim(store: LakeStore, partition: number, head: PartitionOffsets | undefined, listed: ListedFile[], options: ClaimOptions): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const entry = claimAfter(head, listed, { topic: options.topic, partition, owner: randomUUID(), writtenAtMs: options.clock.now() });
    let outcome: AppendOutcome;
    try {
      outcome = await appendOffsets(store, entry);
    } catch (error) {
      const newest = await readOffsetsHead(store, partition).catch(() => undefined);
      if (newest?.seq === entry.seq && newest.owner === entry.owner) outcome = { appended: true };
      else throw new LakeFlushError(partition, error, { what: "claim" });
    }
    if (outcome.appended) {
      options.onClaimed(partition, entry, await removeAbandoned(store, partition, entry, listed));
      return;
    }
    // Another writer appended meanwhile (a commit of the previous owner, or a rival claim): start over from it.
    if (attempt >= CLAIM_ATTEMPTS) {
      throw new Error(`could not claim partition ${partition} in the lake: other writers appended to ${offsetsLogDir(partition)} during each of ${attempt} attempts`);
    }
    head = await readHead(store, partition, options.topic);
    listed = (await listWriterFiles(store, new Set([partition]))).get(partition) ?? [];
  }
}

/**
 * After a claim: deletes the temporaries of `partition`'s writes and the writer files the claim
 * proves abandoned (a crashed or fenced flush of an epoch that is over). A file of an epoch the
 * log does not know is left alone.
 */
async function removeAbandoned(store: LakeStore, partition: number, claim: PartitionOffsets, listed: readonly ListedFile[]): Promise<{ removed: number; leftAlone: number }> {
  let removed = 0;
  let leftAlone = 0;
  for (const f of listed) {
    if (f.temp || isAbandonedWriterFile(claim, f.name)) {
      await store.remove(f.path);
      removed += 1;
    } else if (!isCommittedWriterFile(claim, f.name)) {
      leftAlone += 1;
    }
  }
  const logDir = offsetsLogDir(partition);
  for (const entry of await store.list(logDir)) {
    if (entry.startsWith(".") && entry.includes(".tmp-")) await store.remove(`${logDir}/${entry}`);
  }
  for (const entry of await store.list(OFFSETS_DIR)) {
    if (entry.startsWith(`.partition-${partition}.json.tmp-`)) await store.remove(`${OFFSETS_DIR}/${entry}`);
  }
  // The offsets file of a lake from before the log: the claim carries what it said.
  await store.remove(legacyOffsetsPath(partition));
  return { removed, leftAlone };
}

/** The writer files and temporaries of `partitions` in every hour directory. */
async function listWriterFiles(store: LakeStore, partitions: ReadonlySet<number>): Promise<Map<number, ListedFile[]>> {
  const found = new Map<number, ListedFile[]>();
  for (const dir of await listHourDirs(store)) {
    for (const entry of await store.list(dir)) {
      const temp = WRITER_TEMP.exec(entry);
      const name = parseFileName(temp ? temp[1]! : entry);
      if (name?.kind !== "writer" || !partitions.has(name.partition)) continue;
      let list = found.get(name.partition);
      if (!list) found.set(name.partition, (list = []));
      list.push({ path: `${dir}/${entry}`, name, temp: temp !== null });
    }
  }
  return found;
}
