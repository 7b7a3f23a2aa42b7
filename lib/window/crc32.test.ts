import { expect, test } from "bun:test";
import { crc32 } from "./crc32.ts";

test("crc32() matches the standard check value for '123456789'", () => {
  expect(crc32(new TextEncoder().encode("123456789"))).toEqual(0xcbf43926);
});

test("crc32() of no bytes is 0", () => {
  expect(crc32(new Uint8Array())).toEqual(0);
});

test("crc32() changes when any single bit flips", () => {
  const bytes = new TextEncoder().encode("orderpulse checkpoint");
  const original = crc32(bytes);
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    const flipped = bytes.slice();
    flipped[bit >> 3]! ^= 1 << (bit & 7);
    expect(crc32(flipped)).not.toEqual(original);
  }
});
