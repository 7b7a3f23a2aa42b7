/**
 * Reading and appending partition N's offsets log, `_offsets/partition-N/<seq>.json` (the
 * format and the visibility rule: lib/lake/offsets.ts; the protocol: docs/lake.md, "Fencing").
 *
 * Append is put-if-absent at the seq after the newest entry its writer knows, then a read of
 * the newest entry: only if that is the entry just written did the append take. The second
 * step matters because entries below the newest are deleted (the log keeps its newest entry
 * and at most a few more): a writer whose view is many entries old can re-create a deleted seq,
 * but its entry is then not the newest and never will be, so it counts for nothing.
 */
import { legacyOffsetsPath, offsetsEntryPath, offsetsLogDir, parseOffsetsEntryName } from "./layout.ts";
import { decodeOffsets, encodeOffsets, type PartitionOffsets } from "./offsets.ts";
import type { LakeStore } from "./store.ts";

/** The log's entry sequence numbers, ascending. */
async function entrySeqs(store: LakeStore, partition: number): Promise<number[]> {
  const seqs: number[] = [];
  for (const name of await store.list(offsetsLogDir(partition))) {
    const seq = parseOffsetsEntryName(name);
    if (seq !== undefined) seqs.push(seq);
  }
  return seqs.sort((a, b) => a - b);
}

/**
 * Partition N's newest offsets entry: the log's highest seq, or — when the log has no entry — the
 * offsets file of a lake written before the log (as entry 0, epoch 0), or `undefined` when the
 * lake has neither. An entry deleted between the listing and the read (the owner appended and
 * cleaned up meanwhile) is looked up again.
 */
export async function readOffsetsHead(store: LakeStore, partition: number): Promise<PartitionOffsets | undefined> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const seqs = await entrySeqs(store, partition);
    const newest = seqs.at(-1);
    const path = newest === undefined ? legacyOffsetsPath(partition) : offsetsEntryPath(partition, newest);
    const bytes = await store.read(path);
    if (bytes) return checked(decodeOffsets(bytes, path), partition, path);
    if (newest === undefined) return undefined;
  }
  throw new Error(`${offsetsLogDir(partition)}: its newest entry vanished each of 100 times it was read; is something deleting the lake's offsets?`);
}

function checked(o: PartitionOffsets, partition: number, path: string): PartitionOffsets {
  if (o.partition !== partition) throw new TypeError(`${path} records partition ${o.partition}, not ${partition}: the lake's offsets were moved by hand`);
  return o;
}

/** What became of an append: it is the newest entry now, or another writer's entry came first. */
export type AppendOutcome = { appended: true } | { appended: false; newest: PartitionOffsets | undefined };

/**
 * Appends `entry` (its `seq` one past the newest entry its writer read) and, once it is the
 * newest, deletes the older entries. Resolves `{ appended: false }` with the newest entry when
 * another writer took that seq or appended past it: nothing of `entry` counts then. Throws
 * when the store does; the entry may or may not have landed then — read the head to know.
 */
export async function appendOffsets(store: LakeStore, entry: PartitionOffsets): Promise<AppendOutcome> {
  if (!Number.isSafeInteger(entry.seq) || entry.seq < 1) throw new RangeError(`an offsets log entry's seq must be a whole number ≥ 1: got ${entry.seq}`);
  const created = await store.writeIfAbsent(offsetsEntryPath(entry.partition, entry.seq), encodeOffsets(entry));
  const newest = await readOffsetsHead(store, entry.partition);
  if (!created || newest?.seq !== entry.seq || newest.owner !== entry.owner) return { appended: false, newest };
  for (const seq of await entrySeqs(store, entry.partition)) {
    // Older entries are history nobody reads; a failed delete only leaves one behind for the next append.
    if (seq < entry.seq) await store.remove(offsetsEntryPath(entry.partition, seq)).catch(() => {});
  }
  return { appended: true };
}
