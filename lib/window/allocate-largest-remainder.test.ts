import { expect, test } from "bun:test";
import { allocateLargestRemainder } from "./allocate-largest-remainder.ts";

test("allocateLargestRemainder() splits proportionally when the division is exact", () => {
  expect(allocateLargestRemainder(1000, [1, 3])).toEqual([250, 750]);
});

test("allocateLargestRemainder() gives leftover units to the largest remainders", () => {
  // Quotas 3.33.., 3.33.., 3.33.. → [3,3,3] + one unit; all remainders tie → index 0.
  expect(allocateLargestRemainder(10, [1, 1, 1])).toEqual([4, 3, 3]);
  // Quotas 10/7, 20/7, 40/7 = 1.43, 2.86, 5.71 → floors [1,2,5], two leftover units to .86 and .71.
  expect(allocateLargestRemainder(10, [1, 2, 4])).toEqual([1, 3, 6]);
});

test("allocateLargestRemainder() breaks remainder ties by the lower index", () => {
  expect(allocateLargestRemainder(1, [5, 5])).toEqual([1, 0]);
  expect(allocateLargestRemainder(2, [1, 1, 1])).toEqual([1, 1, 0]);
});

test("allocateLargestRemainder() parts always sum to the total", () => {
  const weights = [7, 13, 1, 999, 250];
  for (let total = 0; total < 500; total++) {
    const parts = allocateLargestRemainder(total, weights);
    expect(parts.reduce((a, b) => a + b, 0)).toEqual(total);
  }
});

test("allocateLargestRemainder() gives everything to index 0 when all weights are 0", () => {
  expect(allocateLargestRemainder(99, [0, 0, 0])).toEqual([99, 0, 0]);
});

test("allocateLargestRemainder() treats negative weights as 0", () => {
  expect(allocateLargestRemainder(10, [-5, 1])).toEqual([0, 10]);
});

test("allocateLargestRemainder() splits a negative total as its mirror image", () => {
  expect(allocateLargestRemainder(-10, [1, 2, 4])).toEqual([-1, -3, -6]);
});

test("allocateLargestRemainder() stays exact when total × weights passes 2^53", () => {
  // 9e9 × (1e9 + 2e9) = 2.7e19 > 2^53; exact answer is [3e9, 6e9].
  expect(allocateLargestRemainder(9_000_000_000, [1_000_000_000, 2_000_000_000])).toEqual([3_000_000_000, 6_000_000_000]);
  const parts = allocateLargestRemainder(9_007_199_254, [3_333_333_333, 3_333_333_333, 3_333_333_334]);
  expect(parts).toEqual([3_002_399_751, 3_002_399_751, 3_002_399_752]);
});

test("allocateLargestRemainder() returns an empty array for no weights", () => {
  expect(allocateLargestRemainder(5, [])).toEqual([]);
});

test("allocateLargestRemainder() reuses the out array it is given", () => {
  const out = [9, 9, 9, 9];
  expect(allocateLargestRemainder(3, [1, 2], out)).toBe(out);
  expect(out).toEqual([1, 2]);
});
