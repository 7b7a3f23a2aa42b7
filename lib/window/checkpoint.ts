/**
 * The aggregator's checkpoint file: every partition's state plus the settings it was built
 * under, as bytes a {@link CheckpointStore} saves and loads.
 *
 * Format (version 1), all integers big-endian:
 *
 *   bytes 0..3    magic "OPCK"
 *   bytes 4..7    format version, u32 (1)
 *   bytes 8..11   payload length in bytes, u32
 *   bytes 12..15  CRC-32 (lib/window/crc32.ts) of bytes 0..11 followed by the payload
 *   bytes 16..    payload: UTF-8 JSON of the snapshot, where
 *                 - offsets (bigint) are decimal strings,
 *                 - a watermark, max event time or last-emitted time of -Infinity is null.
 *
 * Checks run in that order: magic, version (so a future format is reported as a version
 * mismatch, not as corruption), length, checksum, then the JSON shape and the settings. Every
 * failure is a {@link CheckpointError} whose `code` the worker branches on and whose one-line
 * message says what is wrong and what to do. These conversions are the only place the
 * snapshot's bigint and -Infinity values meet the serialized form.
 */
import { crc32 } from "./crc32.ts";
import type { AggregatorSettings, PartitionCounters, PartitionSnapshot } from "./partition-aggregator.ts";
import type { DimensionTotals, WindowSnapshot } from "./window-aggregate.ts";

export const CHECKPOINT_FORMAT_VERSION = 1;
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
  const json = {
    settings: { ...snapshot.settings },
    partitions: snapshot.partitions.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      nextOffset: p.nextOffset.toString(),
      watermarkMs: finiteOrNull(p.watermarkMs),
      maxEventTimeMs: finiteOrNull(p.maxEventTimeMs),
      counters: p.counters,
      windows: p.windows.map((w) => ({ ...w, lastEmittedAtMs: finiteOrNull(w.lastEmittedAtMs) })),
    })),
  };
  const payload = new TextEncoder().encode(JSON.stringify(json));
  const bytes = new Uint8Array(HEADER_BYTES + payload.length);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint32(4, CHECKPOINT_FORMAT_VERSION);
  view.setUint32(8, payload.length);
  bytes.set(payload, HEADER_BYTES);
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
  if (version !== CHECKPOINT_FORMAT_VERSION) {
    fail("version", `checkpoint format version ${version} is not supported (this build reads version ${CHECKPOINT_FORMAT_VERSION}); run a matching build or`);
  }
  if (bytes.length < HEADER_BYTES) fail("truncated", `checkpoint is truncated: ${bytes.length} bytes, shorter than its ${HEADER_BYTES}-byte header`);
  const expectedBytes = HEADER_BYTES + view.getUint32(8);
  if (bytes.length < expectedBytes) fail("truncated", `checkpoint is truncated: ${bytes.length} bytes, its header says ${expectedBytes}`);
  if (bytes.length > expectedBytes) fail("corrupt", `checkpoint is corrupt: ${bytes.length} bytes, its header says ${expectedBytes}`);
  const stored = view.getUint32(12);
  const computed = checksum(bytes);
  if (stored !== computed) fail("corrupt", `checkpoint is corrupt: checksum ${hex(computed)} does not match the stored ${hex(stored)}`);

  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(HEADER_BYTES)));
  } catch (cause) {
    fail("corrupt", `checkpoint is corrupt: its payload is not UTF-8 JSON (${String(cause)})`, cause);
  }
  const snapshot = readSnapshot(json);
  if (options.settings) checkSettings(snapshot.settings, options.settings);
  return snapshot;
}

function checkSettings(saved: AggregatorSettings, current: AggregatorSettings): void {
  const names = ["windowSizeMs", "watermarkDelayMs", "maxDimensionValues"] as const;
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

function readSnapshot(json: unknown): CheckpointSnapshot {
  const root = object(json, "the payload");
  const s = object(root.settings, "settings");
  const settings: AggregatorSettings = {
    windowSizeMs: int(s.windowSizeMs, "settings.windowSizeMs"),
    watermarkDelayMs: int(s.watermarkDelayMs, "settings.watermarkDelayMs"),
    maxDimensionValues: int(s.maxDimensionValues, "settings.maxDimensionValues"),
  };
  const partitions = array(root.partitions, "partitions").map((p, i) => readPartition(object(p, `partitions[${i}]`), `partitions[${i}]`));
  return { settings, partitions };
}

function readPartition(p: Json, path: string): PartitionSnapshot {
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
    windows: array(p.windows, `${path}.windows`).map((w, i) => readWindow(object(w, `${path}.windows[${i}]`), `${path}.windows[${i}]`)),
  };
}

function readWindow(w: Json, path: string): WindowSnapshot {
  return {
    windowStartMs: int(w.windowStartMs, `${path}.windowStartMs`),
    orders: int(w.orders, `${path}.orders`),
    revenueUsdCents: int(w.revenueUsdCents, `${path}.revenueUsdCents`),
    items: int(w.items, `${path}.items`),
    userIds: strings(w.userIds, `${path}.userIds`),
    byCategory: readDimension(w.byCategory, `${path}.byCategory`),
    byCountry: readDimension(w.byCountry, `${path}.byCountry`),
    eventIds: strings(w.eventIds, `${path}.eventIds`),
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
        revenueUsdCents: int(t.revenueUsdCents, `${path}[${i}][1].revenueUsdCents`),
        items: int(t.items, `${path}[${i}][1].items`),
      },
    ];
  });
}
