import { describe, expect, test } from "bun:test";
import {
  CHECKPOINT_ERROR_CODES,
  CheckpointError,
  type CheckpointErrorCode,
  type CheckpointSnapshot,
  decodeCheckpoint,
  encodeCheckpoint,
} from "./checkpoint.ts";
import type { OrderEvent } from "../event/order-event.ts";
import { crc32 } from "./crc32.ts";
import { PartitionAggregator } from "./partition-aggregator.ts";
import { centOrder, LARGEST_ORDER_USD_CENTS, largestOrder } from "../../test/support/largest-order.ts";
import { plainCheckpoint } from "../../test/support/plain-snapshot.ts";

const SETTINGS = { windowSizeMs: 10_000, watermarkDelayMs: 20_000, maxDimensionValues: 2, maxAheadMs: 10_000 };

function order(id: string, category: string, country: string): OrderEvent {
  return {
    schema_version: 1,
    event_id: id,
    order_id: `o-${id}`,
    user_id: `u-${id.length}`,
    created_at: "2026-11-28T10:15:00.123Z",
    items: [
      { sku: "s1", category, qty: 2, unit_price_minor: 150 },
      { sku: "s2", category: "books", qty: 1, unit_price_minor: 99 },
    ],
    discount_minor: 0,
    total: { amount_minor: 399, currency: "USD" },
    total_usd_cents: 399,
    country,
    payment_method: "card",
    channel: "web",
    status: "paid",
  };
}

/** Two partitions: one with open, closed-uncollected and emitted windows; one never fed (watermark -Infinity). */
function sampleSnapshot(): CheckpointSnapshot {
  const busy = new PartitionAggregator("orders", 0, SETTINGS);
  for (let i = 0; i < 60; i++) busy.add(BigInt(1_000_000_000_000 + i), order(`e${i}`, `k${i % 5}`, `C${i % 4}`), i * 700);
  busy.collect(1);
  busy.add(9_999_999_999_999n, order("late-ish", "toys", "US"), 60_000);
  busy.skip(10_000_000_000_000n);
  const idle = new PartitionAggregator("orders", 1, { ...SETTINGS, startOffset: 42n });
  return { settings: SETTINGS, partitions: [busy.snapshot(), idle.snapshot()] };
}

function errorOf(f: () => unknown): CheckpointError {
  try {
    f();
  } catch (error) {
    if (error instanceof CheckpointError) return error;
    throw error;
  }
  throw new Error("expected a CheckpointError");
}

describe("round trip", () => {
  test("decodeCheckpoint(encodeCheckpoint(s)) gives back s, bigint offsets and -Infinity watermarks included", () => {
    const snapshot = sampleSnapshot();
    expect(snapshot.partitions[1]!.watermarkMs).toEqual(-Infinity);
    expect(plainCheckpoint(decodeCheckpoint(encodeCheckpoint(snapshot)))).toEqual(plainCheckpoint(snapshot));
  });

  test("a partition restored from a decoded checkpoint continues like the original", () => {
    const original = new PartitionAggregator("orders", 0, SETTINGS);
    for (let i = 0; i < 50; i++) original.add(BigInt(i), order(`e${i}`, `k${i % 3}`, "US"), i * 900 - (i % 4) * 8_000);
    original.collect(0);
    const decoded = decodeCheckpoint(encodeCheckpoint({ settings: SETTINGS, partitions: [original.snapshot()] }), { settings: SETTINGS });
    const restored = PartitionAggregator.restore(decoded.partitions[0]!, SETTINGS);
    for (const s of [original, restored]) {
      for (let i = 50; i < 100; i++) s.add(BigInt(i), order(`e${i % 60}`, `k${i % 3}`, "DE"), i * 900 - (i % 4) * 8_000);
    }
    expect(restored.collect(10_000)).toEqual(original.collect(10_000));
    expect(restored.stats()).toEqual(original.stats());
  });

  test("17.6 revenue sums past 2^53 round-trip exactly: encode, decode, restore, same snapshot", () => {
    const original = new PartitionAggregator("orders", 0, SETTINGS);
    for (let i = 0; i < 100; i++) original.add(BigInt(i), largestOrder(`e${i}`), 1_000 + i);
    original.add(100n, centOrder("cent", 1), 1_100);
    const snapshot = original.snapshot();
    const total = 100n * BigInt(LARGEST_ORDER_USD_CENTS) + 1n;
    expect(snapshot.windows.map((w) => w.revenueUsdCents)).toEqual([total]);
    const bytes = encodeCheckpoint({ settings: SETTINGS, partitions: [snapshot] });
    // Written as a JSON number with all its digits, not rounded to a double.
    expect(new TextDecoder().decode(bytes)).toContain(`"revenueUsdCents":${total},`);
    const decoded = decodeCheckpoint(bytes, { settings: SETTINGS });
    const restored = PartitionAggregator.restore(decoded.partitions[0]!, SETTINGS);
    expect(plainCheckpoint({ partitions: [restored.snapshot()] })).toEqual(plainCheckpoint({ partitions: [snapshot] }));
    for (const s of [original, restored]) s.add(101n, largestOrder("e101"), 1_101);
    expect(restored.collect(10_000)).toEqual(original.collect(10_000));
    expect(restored.snapshot().windows[0]!.revenueUsdCents).toBe(total + BigInt(LARGEST_ORDER_USD_CENTS));
  });

  test("the header starts with the OPCK magic and format version 2", () => {
    expect([...encodeCheckpoint(sampleSnapshot()).subarray(0, 8)]).toEqual([0x4f, 0x50, 0x43, 0x4b, 0, 0, 0, 2]);
  });
});

describe("refusals", () => {
  test("each error code is what it claims", () => {
    expect(CHECKPOINT_ERROR_CODES).toEqual({ corrupt: "corrupt", truncated: "truncated", version: "version", settings: "settings" });
    const error = new CheckpointError("version", "x");
    expect([error.code, error.name, error instanceof Error]).toEqual(["version", "CheckpointError", true]);
  });

  test("every truncation of a checkpoint is refused as truncated", () => {
    const bytes = encodeCheckpoint(sampleSnapshot());
    const codes = new Set<CheckpointErrorCode>();
    for (let length = 4; length < bytes.length; length += 1 + Math.floor(length / 50)) codes.add(errorOf(() => decodeCheckpoint(bytes.subarray(0, length))).code);
    expect([...codes]).toEqual(["truncated"]);
  });

  test("a truncated checkpoint's message says what is wrong and what to do", () => {
    const bytes = encodeCheckpoint(sampleSnapshot());
    const error = errorOf(() => decodeCheckpoint(bytes.subarray(0, 100)));
    expect(error.message).toEqual(
      `checkpoint is truncated: 100 bytes, its header says ${bytes.length}; restart with --reset earliest|latest to discard it and rebuild state from Kafka`,
    );
  });

  test("a single flipped bit anywhere after the version is refused", () => {
    const bytes = encodeCheckpoint(sampleSnapshot());
    const codes = new Set<CheckpointErrorCode>();
    for (let bit = 64; bit < bytes.length * 8; bit += 7) {
      const flipped = bytes.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      codes.add(errorOf(() => decodeCheckpoint(flipped)).code);
    }
    // A flip in the length field reads as truncated or as trailing bytes; everything else as a checksum mismatch.
    expect([...codes].sort()).toEqual(["corrupt", "truncated"]);
  });

  test("a flipped payload bit is reported as a checksum mismatch", () => {
    const bytes = encodeCheckpoint(sampleSnapshot());
    bytes[40]! ^= 0x10;
    const error = errorOf(() => decodeCheckpoint(bytes));
    expect([error.code, /^checkpoint is corrupt: checksum 0x[0-9a-f]{8} does not match the stored 0x[0-9a-f]{8}; restart with --reset earliest\|latest/.test(error.message)]).toEqual(["corrupt", true]);
  });

  test("a file that is not a checkpoint is refused as corrupt", () => {
    const error = errorOf(() => decodeCheckpoint(new TextEncoder().encode('{"settings": {}}')));
    expect([error.code, error.message]).toEqual([
      "corrupt",
      "checkpoint does not start with the OPCK magic: not an orderpulse checkpoint; restart with --reset earliest|latest to discard it and rebuild state from Kafka",
    ]);
  });

  test("an empty file is refused as truncated", () => {
    expect(errorOf(() => decodeCheckpoint(new Uint8Array())).code).toEqual("truncated");
  });

  test("another format version is refused as version", () => {
    const bytes = encodeCheckpoint(sampleSnapshot());
    bytes[7] = 3;
    const error = errorOf(() => decodeCheckpoint(bytes));
    expect([error.code, error.message]).toEqual([
      "version",
      "checkpoint format version 3 is not supported (this build reads versions 1 and 2); run a matching build or restart with --reset earliest|latest to discard it and rebuild state from Kafka",
    ]);
  });

  test("a checkpoint written under other settings is refused, naming each difference", () => {
    const bytes = encodeCheckpoint(sampleSnapshot());
    const error = errorOf(() => decodeCheckpoint(bytes, { settings: { ...SETTINGS, windowSizeMs: 60_000, watermarkDelayMs: 120_000 } }));
    expect([error.code, error.message]).toEqual([
      "settings",
      "checkpoint was written with different settings: windowSizeMs 10000 (now 60000), watermarkDelayMs 20000 (now 120000); start with the checkpoint's settings or restart with --reset earliest|latest to discard it and rebuild state from Kafka",
    ]);
  });

  test("a revenue that is not an integer is refused as corrupt, naming the field", () => {
    const snapshot = sampleSnapshot();
    const busy = snapshot.partitions[0]!;
    const windows = [{ ...busy.windows[0]!, revenueUsdCents: 1.5 as unknown as bigint }, ...busy.windows.slice(1)];
    const error = errorOf(() => decodeCheckpoint(encodeCheckpoint({ ...snapshot, partitions: [{ ...busy, windows }] })));
    expect([error.code, error.message.split(";")[0]]).toEqual(["corrupt", "checkpoint is corrupt: partitions[0].windows[0].revenueUsdCents is not an integer"]);
  });

  test("a payload with a valid checksum but the wrong shape is refused as corrupt, naming the field", () => {
    const snapshot = sampleSnapshot();
    const bytes = encodeCheckpoint({ ...snapshot, partitions: [{ ...snapshot.partitions[1]!, topic: 7 as unknown as string }] });
    const error = errorOf(() => decodeCheckpoint(bytes));
    expect([error.code, error.message.split(";")[0]]).toEqual(["corrupt", "checkpoint is corrupt: partitions[0].topic is not a string"]);
  });
});

describe("version 1", () => {
  test("a version 1 checkpoint (ids as JSON strings) is read, its ids fingerprinted as version 2 would hold them", () => {
    const state = new PartitionAggregator("orders", 0, SETTINGS);
    for (let i = 0; i < 30; i++) state.add(BigInt(i), order(`e${i}`, `k${i % 3}`, "US"), i * 700);
    const v2 = state.snapshot();
    // Version 1 as the previous build wrote it: the whole snapshot as JSON, user and event ids as strings.
    const json = {
      settings: SETTINGS,
      partitions: [
        {
          topic: "orders",
          partition: 0,
          nextOffset: "30",
          watermarkMs: v2.watermarkMs,
          maxEventTimeMs: v2.maxEventTimeMs,
          counters: v2.counters,
          windows: v2.windows.map((w) => {
            const ids = Array.from({ length: 30 }, (_, i) => i).filter((i) => Math.floor((i * 700) / 10_000) * 10_000 === w.windowStartMs);
            return {
              ...w,
              // Version 1 held revenues as plain JSON numbers.
              revenueUsdCents: Number(w.revenueUsdCents),
              byCategory: w.byCategory.map(([k, t]) => [k, { ...t, revenueUsdCents: Number(t.revenueUsdCents) }]),
              byCountry: w.byCountry.map(([k, t]) => [k, { ...t, revenueUsdCents: Number(t.revenueUsdCents) }]),
              customers: undefined,
              userIds: [...new Set(ids.map((i) => `u-${`e${i}`.length}`))],
              eventIds: w.closed ? [] : ids.map((i) => `e${i}`),
              lastEmittedAtMs: null,
            };
          }),
        },
      ],
    };
    const payload = new TextEncoder().encode(JSON.stringify(json));
    const bytes = new Uint8Array(16 + payload.length);
    const view = new DataView(bytes.buffer);
    bytes.set([0x4f, 0x50, 0x43, 0x4b], 0);
    view.setUint32(4, 1);
    view.setUint32(8, payload.length);
    bytes.set(payload, 16);
    const covered = new Uint8Array(bytes.length - 4);
    covered.set(bytes.subarray(0, 12), 0);
    covered.set(payload, 12);
    view.setUint32(12, crc32(covered));
    expect(plainCheckpoint(decodeCheckpoint(bytes, { settings: SETTINGS }))).toEqual(plainCheckpoint({ settings: SETTINGS, partitions: [v2] }));
  });
});
