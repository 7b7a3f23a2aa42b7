import { describe, expect, test } from "bun:test";
import { snappyUncompress } from "hyparquet";
import { maxCompressedLength, snappyCompress } from "./snappy.ts";

/** hyparquet's decompressor, an implementation other than ours. */
function roundTrip(input: Uint8Array): Uint8Array {
  const compressed = snappyCompress(input);
  expect(compressed.length).toBeLessThanOrEqual(maxCompressedLength(input.length));
  const out = new Uint8Array(input.length);
  snappyUncompress(compressed, out);
  return out;
}

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe("snappyCompress()", () => {
  test("round-trips empty, tiny and fragment-boundary inputs", () => {
    for (const n of [0, 1, 3, 4, 15, 16, 17, 18, 100, 65_535, 65_536, 65_537, 200_000]) {
      const random = prng(n);
      const input = Uint8Array.from({ length: n }, () => Math.floor(random() * 4));
      expect(roundTrip(input)).toEqual(input);
    }
  });

  test("round-trips random bytes, text with repeats, long runs and mixes of them", () => {
    const random = prng(7);
    const enc = new TextEncoder();
    const inputs: Uint8Array[] = [
      Uint8Array.from({ length: 300_000 }, () => Math.floor(random() * 256)),
      enc.encode(Array.from({ length: 20_000 }, (_, i) => `${crypto.randomUUID()}|SKU-${String(i % 977).padStart(6, "0")}|`).join("")),
      new Uint8Array(1_000_000).fill(42),
    ];
    const mix = new Uint8Array(500_000);
    for (let i = 0; i < mix.length; ) {
      const run = 1 + Math.floor(random() * 300);
      const copy = random() < 0.5 && i > 70_000;
      for (let j = 0; j < run && i < mix.length; j++, i++) mix[i] = copy ? mix[i - 1 - Math.floor(random() * 3) * 20_000]! : Math.floor(random() * 256);
    }
    inputs.push(mix);
    for (const input of inputs) expect(roundTrip(input)).toEqual(input);
  });

  test("compresses what repeats: a run of one byte to a small fraction, random bytes to at most the limit", () => {
    expect(snappyCompress(new Uint8Array(100_000).fill(1)).length).toBeLessThan(5_000);
    const random = prng(3);
    const noise = Uint8Array.from({ length: 100_000 }, () => Math.floor(random() * 256));
    expect(snappyCompress(noise).length).toBeGreaterThan(100_000);
  });
});
