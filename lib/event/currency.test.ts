import { expect, test } from "bun:test";
import { divideHalfEven, MINOR_DIGITS, toUsdCents, USD_MICROS_PER_MAJOR } from "./currency.ts";

test("toUsdCents() leaves USD unchanged", () => {
  expect(toUsdCents(12_345, "USD")).toBe(12_345);
});

test("toUsdCents() converts EUR cents with the fixed rate 1.085", () => {
  expect(toUsdCents(10_000, "EUR")).toBe(10_850);
});

test("toUsdCents() treats JPY amounts as whole yen (no minor digits)", () => {
  expect(toUsdCents(10_000, "JPY")).toBe(6_700);
});

test("toUsdCents() rounds an exact half cent to the even cent", () => {
  // 1 EUR cent = 1.085 US cents → 1; 2 EUR cents = 2.17 → 2; GBP 50 cents × 1.27 = 63.5 → 64 (even).
  expect(toUsdCents(50, "GBP")).toBe(64);
  // 150 yen × 0.0067 = 1.005 USD = 100.5 cents → 100 (even).
  expect(toUsdCents(150, "JPY")).toBe(100);
});

test("toUsdCents() is exact for amounts beyond float precision of the product", () => {
  expect(toUsdCents(9_007_199_254_740_991, "USD")).toBe(9_007_199_254_740_991);
});

test("toUsdCents() rejects fractional amounts", () => {
  expect(() => toUsdCents(1.5, "USD")).toThrow(RangeError);
});

test("divideHalfEven() rounds halves to even in both directions of sign", () => {
  expect([5n, 15n, 25n, -5n, -15n, 7n, -7n].map((n) => divideHalfEven(n, 10n))).toEqual([0n, 2n, 2n, 0n, -2n, 1n, -1n]);
});

test("toUsdCents() agrees with the BigInt path on its fast path, for every currency", () => {
  for (const currency of ["USD", "EUR", "GBP", "JPY", "CAD", "AUD", "BRL", "INR", "SEK", "CHF"] as const) {
    for (const amount of [0, 1, 49, 50, 51, 150, 12_345, 99_999_999, -50, -150, -12_345]) {
      const exact = Number(
        divideHalfEven(BigInt(amount) * BigInt(USD_MICROS_PER_MAJOR[currency]), 10_000n * 10n ** BigInt(MINOR_DIGITS[currency])),
      );
      expect({ currency, amount, cents: toUsdCents(amount, currency) }).toEqual({ currency, amount, cents: exact });
    }
  }
});
