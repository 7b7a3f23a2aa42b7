/**
 * A partition's aggregator state as a changelog: keyed records in a log that the broker compacts
 * (latest value per key, tombstones delete), so that a checkpoint writes only what changed and a
 * restore reads only what is live. Pure: records in, records out; lib/consume/changelog-store.ts
 * puts them in a Kafka topic. The design and its reasons are in docs/state.md.
 *
 * Records (keys are UTF-8 text; `W` is a writer id, `e<epoch>-<random>`):
 *
 *   claim/<epoch>/W   JSON {"epoch", "writer"}: W takes the partition over. Epochs only grow.
 *   chunk/W/<seq>     one window's fingerprints added since W's previous checkpoint (binary,
 *                     `encodeChunk`): its customers, then its event ids.
 *   meta/W/<seq>      JSON: everything else of the state (offsets, watermark, counters, each
 *                     window's totals and dimensions), and for each window the chunk keys that
 *                     hold its fingerprints, in order, with how many of each kind to take.
 *                     Revenue sums are JSON numbers with all their digits, read back exactly
 *                     (lib/runtime/json-integers.ts).
 *
 * A checkpoint appends the new chunks, then a meta, then tombstones for the chunks of windows that
 * are gone and for W's previous meta. Nothing is overwritten in place: a key is written once.
 *
 * Ownership. The state of a partition is the latest meta of the writer that holds the newest
 * claim; if that writer wrote none yet, the previous claimant's latest meta; and so on down. Every
 * writer's keys are its own and each meta references only its writer's chunks, so any writer's
 * latest meta is a whole state. A new owner therefore first writes the whole state it read again
 * under its own keys, then claims, checks that its claim is the first of its epoch, and only then
 * tombstones the keys of earlier writers. A writer that lost its partition but does not know it yet
 * (a zombie) can still append, and tombstone its own keys, but once the newer claim is in the log
 * the newer owner's state, already complete before its claim, is what a restore reads.
 */
import { type AggregatorSettings, DEFAULT_AGGREGATOR_SETTINGS, type PartitionSnapshot } from "./partition-aggregator.ts";
import type { WindowSnapshot } from "./window-aggregate.ts";
import { type Fingerprints, fingerprintsOf } from "./fingerprint-set.ts";
import { CheckpointError } from "./checkpoint.ts";
import { bigintsAt, type Reviver, stringifyWithBigInts } from "../runtime/json-integers.ts";

/** A changelog record; a null value is a tombstone. */
export interface ChangelogRecord {
  key: string;
  value: Uint8Array | null;
}

/** Fingerprints per chunk record, per kind: 40,000 × 12 bytes = 480 KB, under a 1 MiB message. */
export const MAX_CHUNK_ENTRIES = 40_000;

const CHUNK_MAGIC = [0x4f, 0x50, 0x43, 0x43]; // "OPCC"
const CHUNK_VERSION = 1;
const CHUNK_HEADER_BYTES = 24;
const META_VERSION = 1;

const WHAT_TO_DO = "restart with --reset earliest|latest to discard it and rebuild state from Kafka";

/** One window's new fingerprints: bytes of a chunk record. */
export function encodeChunk(windowStartMs: number, customers: Uint32Array, eventIds: Uint32Array): Uint8Array {
  const bytes = new Uint8Array(CHUNK_HEADER_BYTES + (customers.length + eventIds.length) * 4);
  const view = new DataView(bytes.buffer);
  bytes.set(CHUNK_MAGIC, 0);
  view.setUint32(4, CHUNK_VERSION);
  view.setFloat64(8, windowStartMs);
  view.setUint32(16, customers.length / 3);
  view.setUint32(20, eventIds.length / 3);
  const body = new Uint32Array(bytes.buffer, CHUNK_HEADER_BYTES);
  body.set(customers, 0);
  body.set(eventIds, customers.length);
  return bytes;
}

export interface Chunk {
  windowStartMs: number;
  customers: Uint32Array;
  eventIds: Uint32Array;
}

/** Reads a chunk record; throws a corrupt {@link CheckpointError} naming the key otherwise. */
export function decodeChunk(key: string, bytes: Uint8Array): Chunk {
  const bad = (what: string): never => {
    throw new CheckpointError("corrupt", `changelog record ${key} is corrupt: ${what}; ${WHAT_TO_DO}`);
  };
  if (bytes.length < CHUNK_HEADER_BYTES || CHUNK_MAGIC.some((b, i) => bytes[i] !== b)) bad("not a chunk");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(4) !== CHUNK_VERSION) bad(`chunk version ${view.getUint32(4)} is not ${CHUNK_VERSION}`);
  const customers = view.getUint32(16);
  const eventIds = view.getUint32(20);
  if (bytes.length !== CHUNK_HEADER_BYTES + (customers + eventIds) * 12) bad(`${bytes.length} bytes for ${customers} + ${eventIds} fingerprints`);
  // A copy, 4-byte aligned: the record's bytes may sit anywhere in a fetch response. (Uint8Array's
  // slice, which copies also for a Buffer, whose own slice is a view into a shared pool.)
  const body = new Uint32Array(Uint8Array.prototype.slice.call(bytes, CHUNK_HEADER_BYTES).buffer);
  return { windowStartMs: view.getFloat64(8), customers: body.subarray(0, customers * 3), eventIds: body.subarray(customers * 3) };
}

/** A window in a meta record: the snapshot without its fingerprints, and where they are. */
interface MetaWindow extends Omit<WindowSnapshot, "customers" | "eventIds" | "lastEmittedAtMs"> {
  lastEmittedAtMs: number | null;
  customers: number;
  eventIds: number;
  chunks: string[];
}

interface Meta {
  v: number;
  writer: string;
  epoch: number;
  settings: AggregatorSettings;
  topic: string;
  partition: number;
  nextOffset: string;
  watermarkMs: number | null;
  maxEventTimeMs: number | null;
  counters: PartitionSnapshot["counters"];
  windows: MetaWindow[];
}

/** What a writer has persisted of one window. */
interface Persisted {
  chunks: string[];
  customers: number;
  eventIds: number;
}

/** The state read back from a changelog, and what the next owner needs to take it over. */
export interface Restored {
  /** The saved state; undefined when the changelog holds none. */
  snapshot: PartitionSnapshot | undefined;
  /** The newest epoch claimed so far (0 when none): the next owner claims one more. */
  epoch: number;
  /** Every live key, for the next owner to tombstone once its own copy of the state is written. */
  keys: string[];
}

/**
 * Reads a partition's changelog, records in log order (after compaction or not: both give the
 * same state). Throws a {@link CheckpointError} when the state it points at is incomplete or was
 * written under other settings.
 */
export function replayChangelog(records: Iterable<ChangelogRecord>, expected: { topic: string; partition: number; settings: AggregatorSettings }): Restored {
  const live = new Map<string, Uint8Array>();
  /** Claims in log order, each with the index of the record after it. */
  const claims: { epoch: number; writer: string; at: number }[] = [];
  /** Metas in log order. */
  const metas: { writer: string; key: string }[] = [];
  let at = 0;
  for (const { key, value } of records) {
    at++;
    if (value === null) {
      live.delete(key);
      continue;
    }
    live.set(key, value);
    if (key.startsWith("claim/")) {
      const claim = parseJson(key, value) as { epoch?: unknown; writer?: unknown };
      if (!Number.isSafeInteger(claim.epoch) || typeof claim.writer !== "string") throw corrupt(key, "not a claim");
      claims.push({ epoch: claim.epoch as number, writer: claim.writer, at });
    } else if (key.startsWith("meta/")) {
      metas.push({ writer: key.split("/")[1]!, key });
    }
  }
  // The winners: for each epoch, its first claim; a claim not above every earlier winner's epoch
  // lost a race or came from a writer that had not seen the newer claim.
  const winners: { epoch: number; writer: string; at: number }[] = [];
  for (const claim of claims) if (winners.length === 0 || claim.epoch > winners[winners.length - 1]!.epoch) winners.push(claim);
  const epoch = winners.length === 0 ? 0 : winners[winners.length - 1]!.epoch;
  let chosen: string | undefined;
  for (let i = winners.length - 1; i >= 0 && chosen === undefined; i--) {
    const { writer } = winners[i]!;
    for (const meta of metas) if (meta.writer === writer && live.has(meta.key)) chosen = meta.key;
  }
  if (chosen === undefined && winners.length === 0) {
    // Written before claims existed, or by a test: the latest meta in the log.
    for (const meta of metas) if (live.has(meta.key)) chosen = meta.key;
  }
  const keys = [...live.keys()];
  if (chosen === undefined) {
    if (winners.length > 0 && metas.length > 0) {
      throw new CheckpointError(
        "corrupt",
        `the changelog of ${expected.topic}/${expected.partition} has owners' claims but none of their states is complete (was it written to while two workers owned the partition?); ${WHAT_TO_DO}`,
      );
    }
    return { snapshot: undefined, epoch, keys };
  }
  return { snapshot: snapshotOf(chosen, live, expected), epoch, keys };
}

function snapshotOf(key: string, live: Map<string, Uint8Array>, expected: { topic: string; partition: number; settings: AggregatorSettings }): PartitionSnapshot {
  const meta = parseJson(key, live.get(key)!, REVENUE_AS_BIGINT) as Meta;
  if (meta.v !== META_VERSION) throw new CheckpointError("version", `changelog meta version ${meta.v} is not supported (this build reads version ${META_VERSION}); run a matching build or ${WHAT_TO_DO}`);
  const names = ["windowSizeMs", "watermarkDelayMs", "maxDimensionValues", "maxAheadMs"] as const;
  // State written before maxAheadMs existed is continued under its default.
  const saved: Partial<AggregatorSettings> = { ...meta.settings, maxAheadMs: meta.settings?.maxAheadMs ?? DEFAULT_AGGREGATOR_SETTINGS.maxAheadMs };
  const differences = names.filter((n) => saved[n] !== expected.settings[n]).map((n) => `${n} ${saved[n]} (now ${expected.settings[n]})`);
  if (differences.length > 0) throw new CheckpointError("settings", `the changelog's state was written with different settings: ${differences.join(", ")}; start with those settings or ${WHAT_TO_DO}`);
  if (meta.topic !== expected.topic || meta.partition !== expected.partition) {
    throw corrupt(key, `it holds the state of ${meta.topic}/${meta.partition}, not ${expected.topic}/${expected.partition}`);
  }
  const windows = meta.windows.map(({ chunks: chunkKeys, customers: customerCount, eventIds: idCount, lastEmittedAtMs, ...totals }): WindowSnapshot => {
    const customers: Uint32Array[] = [];
    const eventIds: Uint32Array[] = [];
    for (const chunkKey of chunkKeys) {
      const bytes = live.get(chunkKey);
      if (!bytes) throw corrupt(key, `its window ${totals.windowStartMs} needs ${chunkKey}, which the changelog no longer holds`);
      const chunk = decodeChunk(chunkKey, bytes);
      if (chunk.windowStartMs !== totals.windowStartMs) throw corrupt(chunkKey, `it belongs to window ${chunk.windowStartMs}, not ${totals.windowStartMs}`);
      customers.push(chunk.customers);
      eventIds.push(chunk.eventIds);
    }
    const revenues = [totals.revenueUsdCents, ...[...totals.byCategory, ...totals.byCountry].map(([, t]) => t.revenueUsdCents)];
    if (revenues.some((cents) => typeof cents !== "bigint")) throw corrupt(key, `its window ${totals.windowStartMs} has a revenue that is not an integer`);
    return {
      ...totals,
      lastEmittedAtMs: lastEmittedAtMs ?? -Infinity,
      customers: first(key, totals.windowStartMs, "customers", customers, customerCount),
      eventIds: first(key, totals.windowStartMs, "event ids", eventIds, idCount),
    };
  });
  return {
    topic: meta.topic,
    partition: meta.partition,
    nextOffset: BigInt(meta.nextOffset),
    watermarkMs: meta.watermarkMs ?? -Infinity,
    maxEventTimeMs: meta.maxEventTimeMs ?? -Infinity,
    counters: meta.counters,
    windows,
  };
}

/** The first `count` fingerprints of the runs, concatenated. */
function first(key: string, windowStartMs: number, what: string, runs: Uint32Array[], count: number): Fingerprints {
  const total = runs.reduce((n, r) => n + r.length, 0);
  if (total < count * 3) throw corrupt(key, `its window ${windowStartMs} has ${count} ${what} but its chunks hold ${total / 3}`);
  const all = new Uint32Array(count * 3);
  let at = 0;
  for (const run of runs) {
    if (at >= all.length) break;
    const take = run.subarray(0, Math.min(run.length, all.length - at));
    all.set(take, at);
    at += take.length;
  }
  return fingerprintsOf(all);
}

/**
 * The newest epoch claimed and the live keys of a changelog, without reading its state: what a
 * new owner needs to claim it and, on `--reset`, to replace a state that cannot be read.
 */
export function inspectChangelog(records: Iterable<ChangelogRecord>): Omit<Restored, "snapshot"> {
  const live = new Set<string>();
  let epoch = 0;
  for (const { key, value } of records) {
    if (value === null) {
      live.delete(key);
      continue;
    }
    live.add(key);
    if (key.startsWith("claim/")) {
      const claimed = Number(key.split("/")[1]);
      if (Number.isSafeInteger(claimed) && claimed > epoch) epoch = claimed;
    }
  }
  return { epoch, keys: [...live] };
}

/**
 * Whether the claim of `epoch` by `writer` is the first claim of an epoch that high: `records`
 * are those from the end of the restore read up to and including the claim itself.
 */
export function claimWon(records: Iterable<ChangelogRecord>, claim: { epoch: number; writer: string }): boolean {
  for (const { key, value } of records) {
    if (value === null || !key.startsWith("claim/")) continue;
    const other = parseJson(key, value) as { epoch?: number; writer?: string };
    if (other.writer === claim.writer) return true;
    if ((other.epoch ?? 0) >= claim.epoch) return false;
  }
  return false;
}

/**
 * One owner's writes to a partition's changelog. Make it with the {@link Restored} state read
 * just before; write that state again with {@link checkpoint}, then append {@link claim}, check it
 * won, and {@link retire} the earlier writers' keys; after that, {@link checkpoint} for each save.
 * ({@link takeOver} is the state and the retirement at once, for a state made after the claim.)
 * Each call returns the records to append, in order, and a `done()` to call once all of them are
 * acknowledged: until then nothing counts as persisted, and a failed save is simply written again,
 * more fully, by the next one.
 */
export class ChangelogWriter {
  readonly writer: string;
  readonly epoch: number;
  #seq = 0;
  #persisted = new Map<number, Persisted>();
  #metaKey: string | undefined;
  #foreign: string[];

  constructor(
    restored: Restored,
    readonly settings: AggregatorSettings,
    random: () => number = Math.random,
  ) {
    this.epoch = restored.epoch + 1;
    this.writer = `e${this.epoch}-${Math.floor(random() * 2 ** 32).toString(16).padStart(8, "0")}`;
    this.#foreign = restored.keys;
  }

  /** The claim record: appended once this writer's copy of the state is, then checked to be the first claim of its epoch. */
  claim(): ChangelogRecord {
    return { key: `claim/${this.epoch}/${this.writer}`, value: new TextEncoder().encode(JSON.stringify({ epoch: this.epoch, writer: this.writer })) };
  }

  /** Tombstones for every key of earlier writers (read at restore): append only after the claim won. */
  retire(): { records: ChangelogRecord[]; done(): void } {
    const foreign = this.#foreign;
    return { records: foreign.map((key) => ({ key, value: null })), done: () => (this.#foreign = []) };
  }

  /** The whole of `snapshot` under this writer's keys, then {@link retire}'s tombstones. */
  takeOver(snapshot: PartitionSnapshot): { records: ChangelogRecord[]; done(): void } {
    const save = this.checkpoint(snapshot);
    const retire = this.retire();
    return {
      records: [...save.records, ...retire.records],
      done: () => {
        save.done();
        retire.done();
      },
    };
  }

  /** What changed since the last acknowledged save, as records (see the module comment). */
  checkpoint(snapshot: PartitionSnapshot): { records: ChangelogRecord[]; done(): void } {
    const records: ChangelogRecord[] = [];
    const persisted = new Map<number, Persisted>();
    const windows: MetaWindow[] = [];
    for (const w of snapshot.windows) {
      const before = this.#persisted.get(w.windowStartMs) ?? { chunks: [], customers: 0, eventIds: 0 };
      const chunks = [...before.chunks];
      // A closed window's event ids have expired (its snapshot holds none); its customers stay.
      let customersFrom = before.customers;
      let idsFrom = Math.min(before.eventIds, w.eventIds.count);
      const customersTo = w.customers.count;
      const idsTo = w.eventIds.count;
      while (customersFrom < customersTo || idsFrom < idsTo) {
        const c = Math.min(customersTo, customersFrom + MAX_CHUNK_ENTRIES);
        const e = Math.min(idsTo, idsFrom + MAX_CHUNK_ENTRIES);
        const key = `chunk/${this.writer}/${this.#seq++}`;
        records.push({ key, value: encodeChunk(w.windowStartMs, w.customers.entries(customersFrom, c), w.eventIds.entries(idsFrom, e)) });
        chunks.push(key);
        customersFrom = c;
        idsFrom = e;
      }
      persisted.set(w.windowStartMs, { chunks, customers: customersTo, eventIds: idsTo });
      const { customers: _c, eventIds: _e, ...rest } = w;
      windows.push({ ...rest, lastEmittedAtMs: finiteOrNull(w.lastEmittedAtMs), customers: customersTo, eventIds: idsTo, chunks });
    }
    const meta: Meta = {
      v: META_VERSION,
      writer: this.writer,
      epoch: this.epoch,
      settings: this.settings,
      topic: snapshot.topic,
      partition: snapshot.partition,
      nextOffset: snapshot.nextOffset.toString(),
      watermarkMs: finiteOrNull(snapshot.watermarkMs),
      maxEventTimeMs: finiteOrNull(snapshot.maxEventTimeMs),
      counters: snapshot.counters,
      windows,
    };
    const metaKey = `meta/${this.writer}/${this.#seq++}`;
    records.push({ key: metaKey, value: new TextEncoder().encode(stringifyWithBigInts(meta)) });
    // Gone windows' chunks, and the previous meta: the new meta no longer needs them.
    for (const [start, p] of this.#persisted) if (!persisted.has(start)) for (const key of p.chunks) records.push({ key, value: null });
    if (this.#metaKey !== undefined) records.push({ key: this.#metaKey, value: null });
    return {
      records,
      done: () => {
        this.#persisted = persisted;
        this.#metaKey = metaKey;
      },
    };
  }
}

function finiteOrNull(ms: number): number | null {
  return ms === -Infinity ? null : ms;
}

/** A meta's revenue sums, read as bigints of their literals' digits (checked in `snapshotOf`). */
const REVENUE_AS_BIGINT = bigintsAt(["revenueUsdCents"]);

function parseJson(key: string, value: Uint8Array, reviver?: Reviver): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(value), reviver);
  } catch {
    throw corrupt(key, "not UTF-8 JSON");
  }
}

function corrupt(key: string, what: string): CheckpointError {
  return new CheckpointError("corrupt", `changelog record ${key} is corrupt: ${what}; ${WHAT_TO_DO}`);
}
