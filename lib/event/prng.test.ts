import { expect, test } from "bun:test";
import { Prng, seedFrom, WeightedPicker } from "./prng.ts";

function take(prng: Prng, n: number): number[] {
  return Array.from({ length: n }, () => prng.nextUint32());
}

test("Prng gives the same stream for the same seed", () => {
  expect(take(new Prng(42), 100)).toEqual(take(new Prng(42), 100));
});

test("Prng gives different streams for neighbouring seeds", () => {
  expect(take(new Prng(1), 10)).not.toEqual(take(new Prng(2), 10));
});

test("Prng's first outputs for seed 1 stay fixed (a change would break byte-identical replays)", () => {
  expect(take(new Prng(1), 3)).toEqual([1828152527, 3394835397, 2967886022]);
});

test("Prng.int() stays within its inclusive bounds and reaches both", () => {
  const prng = new Prng(7);
  const seen = new Set<number>();
  for (let i = 0; i < 10_000; i++) seen.add(prng.int(3, 6));
  expect([...seen].sort()).toEqual([3, 4, 5, 6]);
});

test("Prng.next() mean is close to 0.5", () => {
  const prng = new Prng(9);
  let sum = 0;
  for (let i = 0; i < 100_000; i++) sum += prng.next();
  expect(Math.abs(sum / 100_000 - 0.5)).toBeLessThan(0.01);
});

test("seedFrom() reads decimal numbers as themselves and hashes other text", () => {
  expect(seedFrom("42")).toBe(42);
  expect(seedFrom("checkout")).toBe(seedFrom("checkout"));
  expect(seedFrom("checkout")).not.toBe(seedFrom("checkouts"));
});

test("WeightedPicker never picks a zero weight and follows the weights", () => {
  const picker = new WeightedPicker([1, 0, 3]);
  const prng = new Prng(5);
  const counts = [0, 0, 0];
  for (let i = 0; i < 40_000; i++) counts[picker.pick(prng)]! += 1;
  expect(counts[1]).toBe(0);
  expect(Math.abs(counts[2]! / counts[0]! - 3)).toBeLessThan(0.2);
});

test("WeightedPicker rejects negative weights", () => {
  expect(() => new WeightedPicker([1, -1])).toThrow(RangeError);
});
