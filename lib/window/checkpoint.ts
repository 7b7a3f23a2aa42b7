/**
 * The aggregator's checkpoint file: every partition's state plus the settings it was built
 * under, as bytes a {@link CheckpointStore} saves and loads.
 *
 * Format (version 2), header integers big-endian:
 *
 *   bytes 0..3    magic "OPCK"
 *   bytes 4..7    format version, u32 (2)
 *   bytes 8..11   payload length in bytes, u32
 *   bytes 12..15  CRC-32 (lib/window/crc32.ts) of bytes 0..11 followed by the payload
 *   bytes 16..    payload:
 *                 - u32 (big-endian) length J of the JSON part, then J bytes of UTF-8 JSON of the
 *                   snapshot, where offsets (bigint) are decimal strings, revenue sums (bigint)
 *                   are JSON numbers with all their digits (lib/runtime/json-integers.ts: read
 *                   from the literal's text, so exact beyond 2^53), a watermark, max event
 *                   time or last-emitted time of -Infinity is null, and each window's customers
 *                   and event ids are their counts; padded with spaces to a multiple of 4 bytes;
 *                 - then the fingerprints (lib/window/fingerprint-set.ts), 3 × u32 little-endian
 *                   each: for every partition, for every window in order, its customers, then
 *                   its event ids.
 *
 * Version 1 (the whole snapshot as JSON, ids as strings) is still read: its ids are fingerprinted
 * on load, which gives exactly the state version 2 would have saved.
 *
 * Checks run in that order: magic, version (so a future format is reported as a version
 * mismatch, not as corruption), length, checksum, then the JSON shape and the settings. Every
 * failure is a {@link CheckpointError} whose `code` the worker branches on and whose one-line
 * message says what is wrong and what to do. These conversions are the only place the
 * snapshot's bigint and -Infinity values meet the serialized form.
 */
import { crc32 } from "./crc32.ts";
import { bigintsAt, stringifyWithBigInts } from "../runtime/json-integers.ts";
import { FINGERPRINT, type Fingerprints, fingerprintOf, fingerprintsOf } from "./fingerprint-set.ts";
import { type AggregatorSettings, DEFAULT_AGGREGATOR_SETTINGS, type PartitionCounters, type PartitionSnapshot } from "./partition-aggregator.ts";
import type { DimensionTotals, WindowSnapshot } from "./window-aggregate.ts";

export const CHECKPOINT_FORMAT_VERSION = 2;
/** Versions this build reads. */
const READABLE_VERSIONS = [1, 2];
const MAGIC = [0x4f, 0x50, 0x43, 0x4b]; // "OPCK"
const HEADER_BYTES = 16;

export interface CheckpointSnapshot {
  /** The settings every partition's state was built under; a restore must use the same. */
  settings: AggregatorSettings;
  partitions: PartitionSnapshot[];
}

export const CHECKPOINT_ERROR_CODES = {
  /** Not a checkpoint, checksum mismatch, or a payload that does not parse as one. */
  corrupt: "corrupt",
  /** Shorter than its header says: a torn write or a partial copy. */
  truncated: "truncated",
  /** Written by a different checkpoint format version. */
  version: "version",
  /** Written under different window size, watermark delay or dimension limit. */
  settings: "settings",
} as const;
export type CheckpointErrorCode = (typeof CHECKPOINT_ERROR_CODES)[keyof typeof CHECKPOINT_ERROR_CODES];

const WHAT_TO_DO = "restart with --reset earliest|latest to discard it and rebuild state from Kafka";

/** A checkpoint that cannot be restored; the worker stops and prints the message. */
export class CheckpointError extends Error {
  override name = "CheckpointError";
  constructor(
    readonly code: CheckpointErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function encodeCheckpoint(snapshot: CheckpointSnapshot): Uint8Array {
  const runs: Fingerprints[] = [];
  const json = {
    settings: { ...snapshot.settings },
    partitions: snapshot.partitions.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      nextOffset: p.nextOffset.toString(),
      watermarkMs: finiteOrNull(p.watermarkMs),
      maxEventTimeMs: finiteOrNull(p.maxEventTimeMs),
      counters: p.counters,
      windows: p.windows.map((w) => {
        runs.push(w.customers, w.eventIds);
        return { ...w, customers: w.customers.count, eventIds: w.eventIds.count, lastEmittedAtMs: finiteOrNull(w.lastEmittedAtMs) };
      }),
    })),
  };
  const jsonBytes = new TextEncoder().encode(stringifyWithBigInts(json));
  // Padded with spaces to a multiple of 4, so the fingerprints after it are 4-byte aligned.
  const jsonLength = Math.ceil(jsonBytes.length / 4) * 4;
  const fingerprintBytes = runs.reduce((sum, run) => sum + run.count * 12, 0);
  const payloadLength = 4 + jsonLength + fingerprintBytes;
  const bytes = new Uint8Array(HEADER_BYTES + payloadLength);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint32(4, CHECKPOINT_FORMAT_VERSION);
  view.setUint32(8, payloadLength);
  view.setUint32(HEADER_BYTES, jsonLength);
  bytes.set(jsonBytes, HEADER_BYTES + 4);
  bytes.fill(0x20, HEADER_BYTES + 4 + jsonBytes.length, HEADER_BYTES + 4 + jsonLength);
  let at = HEADER_BYTES + 4 + jsonLength;
  for (const run of runs) {
    const entries = run.entries();
    bytes.set(new Uint8Array(entries.buffer, entries.byteOffset, entries.byteLength), at);
    at += entries.byteLength;
  }
  view.setUint32(12, checksum(bytes));
  return bytes;
}

/**
 * Parse and verify a checkpoint. With `settings`, also refuse one written under different
 * settings. Throws {@link CheckpointError}; never returns a partial snapshot.
 */
export function decodeCheckpoint(bytes: Uint8Array, options: { settings?: AggregatorSettings } = {}): CheckpointSnapshot {
  if (bytes.length < 8) {
    if (MAGIC.some((b, i) => i < bytes.length && bytes[i] !== b)) fail("corrupt", "checkpoint does not start with the OPCK magic: not an orderpulse checkpoint");
    fail("truncated", `checkpoint is truncated: ${bytes.length} bytes, shorter than its ${HEADER_BYTES}-byte header`);
  }
  if (MAGIC.some((b, i) => bytes[i] !== b)) fail("corrupt", "checkpoint does not start with the OPCK magic: not an orderpulse checkpoint");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4);
  if (!READABLE_VERSIONS.includes(version)) {
    fail("version", `checkpoint format version ${version} is not supported (this build reads versions ${READABLE_VERSIONS.join(" and ")}); run a matching build or`);
  }
  if (bytes.length < HEADER_BYTES) fail("truncated", `checkpoint is truncated: ${bytes.length} bytes, shorter than its ${HEADER_BYTES}-byte header`);
  const expectedBytes = HEADER_BYTES + view.getUint32(8);
  if (bytes.length < expectedBytes) fail("truncated", `checkpoint is truncated: ${bytes.length} bytes, its header says ${expectedBytes}`);
  if (bytes.length > expectedBytes) fail("corrupt", `checkpoint is corrupt: ${bytes.length} bytes, its header says ${expectedBytes}`);
  const stored = view.getUint32(12);
  const computed = checksum(bytes);
  if (stored !== computed) fail("corrupt", `checkpoint is corrupt: checksum ${hex(computed)} does not match the stored ${hex(stored)}`);

  const payload = bytes.subarray(HEADER_BYTES);
  let jsonEnd = payload.length;
  if (version >= 2) {
    if (payload.length < 4) fail("corrupt", "checkpoint is corrupt: its payload is shorter than its JSON length field");
    jsonEnd = 4 + view.getUint32(HEADER_BYTES);
    if (jsonEnd > payload.length || jsonEnd % 4 !== 0) fail("corrupt", `checkpoint is corrupt: its JSON part (${jsonEnd - 4} bytes) does not fit its payload`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload.subarray(version >= 2 ? 4 : 0, jsonEnd)), REVENUE_AS_BIGINT);
  } catch (cause) {
    fail("corrupt", `checkpoint is corrupt: its payload is not UTF-8 JSON (${String(cause)})`, cause);
  }
  // Version 2: the fingerprints follow the JSON, 4-byte aligned; copied so the snapshot does not
  // hold the whole file.
  const fingerprints = Uint8Array.prototype.slice.call(payload, jsonEnd);
  if (fingerprints.length % 4 !== 0) fail("corrupt", `checkpoint is corrupt: its fingerprints take ${fingerprints.length} bytes, not whole numbers`);
  const source: FingerprintSource = version >= 2 ? binaryFingerprints(new Uint32Array(fingerprints.buffer, 0, fingerprints.length / 4)) : stringFingerprints;
  const snapshot = readSnapshot(json, source);
  if (source.remaining() !== 0) fail("corrupt", `checkpoint is corrupt: ${source.remaining()} bytes after the last window's fingerprints`);
  if (options.settings) checkSettings(snapshot.settings, options.settings);
  return snapshot;
}

function checkSettings(saved: AggregatorSettings, current: AggregatorSettings): void {
  const names = ["windowSizeMs", "watermarkDelayMs", "maxDimensionValues", "maxAheadMs"] as const;
  const differences = names.filter((name) => saved[name] !== current[name]).map((name) => `${name} ${saved[name]} (now ${current[name]})`);
  if (differences.length === 0) return;
  fail("settings", `checkpoint was written with different settings: ${differences.join(", ")}; start with the checkpoint's settings or`);
}

function fail(code: CheckpointErrorCode, what: string, cause?: unknown): never {
  const sentence = what.endsWith(" or") ? `${what} ${WHAT_TO_DO}` : `${what}; ${WHAT_TO_DO}`;
  throw new CheckpointError(code, sentence, cause === undefined ? undefined : { cause });
}

/** CRC over the header (without the CRC field) and the payload. */
function checksum(bytes: Uint8Array): number {
  const covered = new Uint8Array(bytes.length - 4);
  covered.set(bytes.subarray(0, 12), 0);
  covered.set(bytes.subarray(HEADER_BYTES), 12);
  return crc32(covered);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

function finiteOrNull(ms: number): number | null {
  return ms === -Infinity ? null : ms;
}

// ---- shape checks: a payload that passed the CRC but is not what this version writes ------

/** Revenue sums come out of JSON.parse as bigints of their literal's digits (checked by `cents`). */
const REVENUE_AS_BIGINT = bigintsAt(["revenueUsdCents"]);

type Json = Record<string, unknown>;

function shapeError(path: string, expected: string): never {
  fail("corrupt", `checkpoint is corrupt: ${path} is not ${expected}`);
}

function object(value: unknown, path: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) shapeError(path, "an object");
  return value as Json;
}
function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) shapeError(path, "an array");
  return value;
}
function int(value: unknown, path: string): number {
  if (!Number.isSafeInteger(value)) shapeError(path, "an integer");
  return value as number;
}
function cents(value: unknown, path: string): bigint {
  if (typeof value !== "bigint") shapeError(path, "an integer");
  return value;
}
function timeOrNull(value: unknown, path: string): number {
  if (value === null) return -Infinity;
  if (typeof value !== "number" || !Number.isFinite(value)) shapeError(path, "a number or null");
  return value;
}
function string(value: unknown, path: string): string {
  if (typeof value !== "string") shapeError(path, "a string");
  return value;
}
function bool(value: unknown, path: string): boolean {
  if (typeof value !== "boolean") shapeError(path, "a boolean");
  return value;
}
function strings(value: unknown, path: string): string[] {
  return array(value, path).map((s, i) => string(s, `${path}[${i}]`));
}

/** Where a window's fingerprints come from: the binary part (version 2) or its JSON strings (version 1). */
interface FingerprintSource {
  take(value: unknown, path: string): Fingerprints;
  /** Bytes of the binary part not taken. */
  remaining(): number;
}

function binaryFingerprints(all: Uint32Array): FingerprintSource {
  let at = 0;
  return {
    take(value, path) {
      const count = int(value, path);
      if (count < 0 || at + count * 3 > all.length) fail("corrupt", `checkpoint is corrupt: ${path} says ${count} fingerprints, more than the file holds`);
      const run = fingerprintsOf(all.subarray(at, at + count * 3));
      at += count * 3;
      return run;
    },
    remaining: () => (all.length - at) * 4,
  };
}

const stringFingerprints: FingerprintSource = {
  take(value, path) {
    const ids = strings(value, path);
    const entries = new Uint32Array(ids.length * 3);
    ids.forEach((id, i) => {
      fingerprintOf(id);
      entries.set(FINGERPRINT, i * 3);
    });
    return fingerprintsOf(entries);
  },
  remaining: () => 0,
};

function readSnapshot(json: unknown, source: FingerprintSource): CheckpointSnapshot {
  const root = object(json, "the payload");
  const s = object(root.settings, "settings");
  const settings: AggregatorSettings = {
    windowSizeMs: int(s.windowSizeMs, "settings.windowSizeMs"),
    watermarkDelayMs: int(s.watermarkDelayMs, "settings.watermarkDelayMs"),
    maxDimensionValues: int(s.maxDimensionValues, "settings.maxDimensionValues"),
    // Written before the setting existed: continued under the default (it only caps how far an event ahead of its record's timestamp moves the watermark).
    maxAheadMs: s.maxAheadMs === undefined ? DEFAULT_AGGREGATOR_SETTINGS.maxAheadMs : int(s.maxAheadMs, "settings.maxAheadMs"),
  };
  const partitions = array(root.partitions, "partitions").map((p, i) => readPartition(object(p, `partitions[${i}]`), `partitions[${i}]`, source));
  return { settings, partitions };
}

function readPartition(p: Json, path: string, source: FingerprintSource): PartitionSnapshot {
  const offset = string(p.nextOffset, `${path}.nextOffset`);
  if (!/^\d+$/.test(offset)) shapeError(`${path}.nextOffset`, "a decimal offset");
  const c = object(p.counters, `${path}.counters`);
  const counters: PartitionCounters = {
    counted: int(c.counted, `${path}.counters.counted`),
    duplicates: int(c.duplicates, `${path}.counters.duplicates`),
    late: int(c.late, `${path}.counters.late`),
    invalid: int(c.invalid, `${path}.counters.invalid`),
  };
  return {
    topic: string(p.topic, `${path}.topic`),
    partition: int(p.partition, `${path}.partition`),
    nextOffset: BigInt(offset),
    watermarkMs: timeOrNull(p.watermarkMs, `${path}.watermarkMs`),
    maxEventTimeMs: timeOrNull(p.maxEventTimeMs, `${path}.maxEventTimeMs`),
    counters,
    windows: array(p.windows, `${path}.windows`).map((w, i) => readWindow(object(w, `${path}.windows[${i}]`), `${path}.windows[${i}]`, source)),
  };
}

function readWindow(w: Json, path: string, source: FingerprintSource): WindowSnapshot {
  // Version 1 named the customers' ids userIds.
  const customers = source === stringFingerprints ? source.take(w.userIds, `${path}.userIds`) : source.take(w.customers, `${path}.customers`);
  return {
    windowStartMs: int(w.windowStartMs, `${path}.windowStartMs`),
    orders: int(w.orders, `${path}.orders`),
    revenueUsdCents: cents(w.revenueUsdCents, `${path}.revenueUsdCents`),
    items: int(w.items, `${path}.items`),
    customers,
    byCategory: readDimension(w.byCategory, `${path}.byCategory`),
    byCountry: readDimension(w.byCountry, `${path}.byCountry`),
    eventIds: source.take(w.eventIds, `${path}.eventIds`),
    closed: bool(w.closed, `${path}.closed`),
    changedSinceEmit: bool(w.changedSinceEmit, `${path}.changedSinceEmit`),
    lastEmittedAtMs: timeOrNull(w.lastEmittedAtMs, `${path}.lastEmittedAtMs`),
  };
}

function readDimension(value: unknown, path: string): [string, DimensionTotals][] {
  return array(value, path).map((entry, i) => {
    const pair = array(entry, `${path}[${i}]`);
    const t = object(pair[1], `${path}[${i}][1]`);
    return [
      string(pair[0], `${path}[${i}][0]`),
      {
        orders: int(t.orders, `${path}[${i}][1].orders`),
        revenueUsdCents: cents(t.revenueUsdCents, `${path}[${i}][1].revenueUsdCents`),
        items: int(t.items, `${path}[${i}][1].items`),
      },
    ];
  });
}
