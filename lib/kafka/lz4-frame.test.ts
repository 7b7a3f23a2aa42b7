import { describe, expect, test } from "bun:test";
import { compressionsAlgorithms } from "@platformatic/kafka";
import { decompressLz4Frame, type Lz4Output } from "./lz4-frame.ts";
import { Prng } from "../event/prng.ts";

/** Frames from the compressor the Kafka client's producer uses (WASM lz4, frame format). */
const frame = (bytes: Uint8Array) => new Uint8Array(compressionsAlgorithms.lz4.compressSync(Buffer.from(bytes)));
const decompress = (input: Uint8Array, into: Lz4Output = { buffer: new Uint8Array(16), length: 0 }) => {
  decompressLz4Frame(input, into);
  return into.buffer.slice(0, into.length);
};

function sample(size: number, seed: number): Uint8Array {
  // Order-event-like text: repetitive structure with varying digits, so there are matches of every length.
  const prng = new Prng(seed);
  const parts: string[] = [];
  let length = 0;
  while (length < size) {
    const part = `{"event_id":"${prng.int(0, 1e9)}","qty":${prng.int(1, 9)},"sku":"SKU-${prng.int(0, 500)}"}` + "x".repeat(prng.int(0, 300));
    parts.push(part);
    length += part.length;
  }
  return new TextEncoder().encode(parts.join("").slice(0, size));
}

describe("decompressLz4Frame()", () => {
  test("gives back what the Kafka client's lz4 compressed, for sizes from empty to several blocks", () => {
    for (const size of [0, 1, 15, 16, 300, 65_536, 70_000, 1_000_000, 5_000_000]) {
      const original = sample(size, size);
      expect({ size, same: Bun.deepEquals(decompress(frame(original)), original) }).toEqual({ size, same: true });
    }
  });

  test("gives back incompressible bytes (stored blocks or long literals)", () => {
    const prng = new Prng(7);
    const random = Uint8Array.from({ length: 200_000 }, () => prng.int(0, 255));
    expect(decompress(frame(random))).toEqual(random);
  });

  test("gives back long runs, where a match overlaps its own output", () => {
    const runs = new Uint8Array(100_000).fill(0x61);
    runs.fill(0x62, 50_000, 50_003);
    expect(decompress(frame(runs))).toEqual(runs);
  });

  test("gives back matches at every distance from 1 to 40 and literals of every length up to 100, read from an odd offset", () => {
    // Periodic runs make matches at the period's distance (overlapping their output when longer
    // than it); random stretches between them make literal runs. The decoder copies 4 or 8 bytes
    // at a time where it can and byte by byte near the ends, so every combination matters.
    const prng = new Prng(11);
    const parts: number[] = [];
    for (let period = 1; period <= 40; period++) {
      for (const literals of [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 100]) {
        for (let i = 0; i < literals; i++) parts.push(prng.int(0, 255));
        const pattern = Array.from({ length: period }, () => prng.int(0, 255));
        const run = prng.int(4, 150);
        for (let i = 0; i < run; i++) parts.push(pattern[i % period]!);
      }
    }
    const original = Uint8Array.from(parts);
    const compressed = frame(original);
    const shifted = new Uint8Array(compressed.length + 3);
    shifted.set(compressed, 3);
    const out = decompress(shifted.subarray(3));
    expect(out.length).toBe(original.length);
    expect(Bun.deepEquals(out, original)).toBe(true);
  });

  test("reuses the output buffer when it is large enough, and replaces it when not", () => {
    const into: Lz4Output = { buffer: new Uint8Array(8 << 20), length: 0 };
    const buffer = into.buffer;
    decompressLz4Frame(frame(sample(1000, 1)), into);
    expect(into.buffer).toBe(buffer);
    const small: Lz4Output = { buffer: new Uint8Array(16), length: 0 };
    decompressLz4Frame(frame(sample(1000, 1)), small);
    expect(small.buffer.length).toBeGreaterThanOrEqual(1000);
    expect(small.buffer.subarray(0, small.length)).toEqual(sample(1000, 1));
  });

  test("refuses bytes that are not an LZ4 frame", () => {
    expect(() => decompress(new TextEncoder().encode("not a frame at all"))).toThrow(/bad magic number/);
  });

  test("refuses a frame cut short, at every length", () => {
    const whole = frame(sample(5_000, 3));
    const accepted: number[] = [];
    for (let cut = 0; cut < whole.length; cut++) {
      try {
        decompress(whole.subarray(0, cut));
        accepted.push(cut);
      } catch (error) {
        expect(error).toBeInstanceOf(RangeError);
      }
    }
    expect(accepted).toEqual([]);
  });

  test("refuses a match that points before the start of the output", () => {
    // Frame header for 64 KB blocks without checksums, then one block: token 0x00 (no literals,
    // match length 4) with offset 1 — there is nothing to copy from yet.
    const block = [0x00, 0x01, 0x00, 0x10];
    const bytes = new Uint8Array([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, block.length, 0, 0, 0, ...block, 0, 0, 0, 0]);
    expect(() => decompress(bytes)).toThrow(/points before the output/);
  });
});
