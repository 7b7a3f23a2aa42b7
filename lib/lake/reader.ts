/**
 * Reading the lake by its reader contract (docs/lake.md): journal first, then the offsets, then
 * the listing, then the journal again — a snapshot is kept only when no compaction committed
 * while it was taken — and a file that vanishes while being read (the compactor's clean-up of
 * inputs replaced more than its grace period ago) restarts the read from a new snapshot. Each
 * successful read therefore holds every committed event exactly once, whatever the lake writer
 * and the compactor do meanwhile.
 */
import { decodeJournalEntry, type JournalEntry } from "./journal.ts";
import { hourStartMs, joinLake, JOURNAL_DIR, OFFSETS_DIR, parseJournalName, parseOffsetsName } from "./layout.ts";
import type { PartitionOffsets } from "./offsets.ts";
import { readOffsetsHead } from "./offsets-log.ts";
import { decodeLakeFile, type LakeRow } from "./schema.ts";
import { resolveSnapshot } from "./snapshot.ts";
import type { LakeStore } from "./store.ts";

export interface LakeSnapshot {
  /** The visible data files (lake paths), sorted. */
  files: string[];
  /** The committed next offset per Kafka partition: the snapshot holds every valid event below it. */
  nextOffsets: Map<number, bigint>;
  /** Each Kafka partition's offsets (the newest entry of its offsets log) the snapshot was taken under. */
  offsets: Map<number, PartitionOffsets>;
  /** The journal the snapshot was taken under. */
  journal: JournalEntry[];
  /** How many times it had to start again because the lake changed underneath. */
  retries: number;
}

export interface ReadOptions {
  /** Only hour partitions this accepts (`dt=…/hour=…`) are listed and read — partition pruning. Default: all. */
  hours?: (hourDir: string) => boolean;
  /** Give up after this many restarts (each one means a compaction committed mid-read). Default 50. */
  maxAttempts?: number;
}

/** Thrown when the lake kept changing for `maxAttempts` reads in a row. */
export class LakeBusyError extends Error {
  override name = "LakeBusyError";
  readonly code = "LAKE_BUSY";
  constructor(attempts: number) {
    super(`the lake changed during each of ${attempts} attempts to read it; is a compactor running with --grace 0? Give it a grace period longer than a read takes`);
  }
}

export async function readJournal(store: LakeStore): Promise<JournalEntry[]> {
  const entries: JournalEntry[] = [];
  for (const name of await store.list(JOURNAL_DIR)) {
    if (parseJournalName(name) === undefined) continue;
    const path = joinLake(JOURNAL_DIR, name);
    const bytes = await store.read(path);
    // Journal entries are never deleted; a missing one was a listing artefact, not a lost commit.
    if (bytes) entries.push(decodeJournalEntry(bytes, path));
  }
  return entries.sort((a, b) => a.seq - b.seq);
}

/** Each Kafka partition's offsets: the newest entry of its offsets log (lib/lake/offsets-log.ts). */
export async function readPartitionOffsets(store: LakeStore): Promise<Map<number, PartitionOffsets>> {
  const partitions = new Set<number>();
  for (const name of await store.list(OFFSETS_DIR)) {
    const partition = parseOffsetsName(name);
    if (partition !== undefined) partitions.add(partition);
  }
  const offsets = new Map<number, PartitionOffsets>();
  for (const partition of [...partitions].sort((a, b) => a - b)) {
    const head = await readOffsetsHead(store, partition);
    if (head) offsets.set(partition, head);
  }
  return offsets;
}

/** The committed next offset of each Kafka partition that has one. */
export async function readNextOffsets(store: LakeStore): Promise<Map<number, bigint>> {
  return nextOffsetsOf(await readPartitionOffsets(store));
}

function nextOffsetsOf(offsets: ReadonlyMap<number, PartitionOffsets>): Map<number, bigint> {
  const next = new Map<number, bigint>();
  for (const [partition, o] of offsets) if (o.nextOffset !== undefined) next.set(partition, o.nextOffset);
  return next;
}

/** The hour partition directories (`dt=…/hour=…`) the filter accepts, sorted. */
export async function listHourDirs(store: LakeStore, hours: (hourDir: string) => boolean = () => true): Promise<string[]> {
  const dirs: string[] = [];
  for (const dt of await store.list("")) {
    if (!dt.startsWith("dt=")) continue;
    for (const hour of await store.list(dt)) {
      const dir = `${dt}/${hour}`;
      if (hourStartMs(dir) !== undefined && hours(dir)) dirs.push(dir);
    }
  }
  return dirs;
}

/** Lake paths of every `.parquet` file in the hour directories the filter accepts (visible or not). */
export async function listDataFiles(store: LakeStore, hours: (hourDir: string) => boolean = () => true): Promise<string[]> {
  const paths: string[] = [];
  for (const dir of await listHourDirs(store, hours)) {
    for (const name of await store.list(dir)) if (name.endsWith(".parquet") && !name.startsWith(".")) paths.push(`${dir}/${name}`);
  }
  return paths;
}

const sameSeqs = (a: readonly JournalEntry[], b: readonly string[]) =>
  a.length === b.filter((n) => parseJournalName(n) !== undefined).length;

/** A consistent set of visible files (see the module comment). */
export async function takeSnapshot(store: LakeStore, options: ReadOptions = {}): Promise<LakeSnapshot> {
  const maxAttempts = options.maxAttempts ?? 50;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const journal = await readJournal(store);
    const offsets = await readPartitionOffsets(store);
    const listed = await listDataFiles(store, options.hours);
    // Entries are only ever added, so an equal count means the same journal.
    if (!sameSeqs(journal, await store.list(JOURNAL_DIR))) continue;
    const resolved = resolveSnapshot({ journal, offsets, listed });
    if (!resolved.ok) continue;
    return { files: resolved.files, nextOffsets: nextOffsetsOf(offsets), offsets, journal, retries: attempt };
  }
  throw new LakeBusyError(maxAttempts);
}

/** Every committed row (of the accepted hours), from one consistent snapshot. */
export async function readLake(store: LakeStore, options: ReadOptions = {}): Promise<{ snapshot: LakeSnapshot; rows: LakeRow[] }> {
  const maxAttempts = options.maxAttempts ?? 50;
  let retries = 0;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const snapshot = await takeSnapshot(store, { ...options, maxAttempts: maxAttempts - attempt });
    retries += snapshot.retries;
    const rows: LakeRow[] = [];
    let vanished = false;
    for (const path of snapshot.files) {
      const bytes = await store.read(path);
      if (!bytes) {
        vanished = true; // replaced and cleaned up since the snapshot: take a newer one
        break;
      }
      for (const row of await decodeLakeFile(bytes)) rows.push(row);
    }
    if (!vanished) return { snapshot: { ...snapshot, retries: retries + attempt }, rows };
  }
  throw new LakeBusyError(maxAttempts);
}
