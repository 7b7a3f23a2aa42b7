/**
 * The fixed exchange-rate table and the one conversion to the reporting currency (USD cents).
 *
 * Rates are fixed, not live: every stage must get the same `total_usd_cents` from the same
 * order, today and when a lake file is re-read next year. Changing a rate changes history, so
 * treat this table like the schema (bump `SCHEMA_VERSION` if it ever has to change).
 */
import type { Currency } from "./order-event.ts";

/** Digits after the decimal point of each currency (ISO 4217 minor unit). */
export const MINOR_DIGITS: Readonly<Record<Currency, number>> = {
  USD: 2,
  EUR: 2,
  GBP: 2,
  JPY: 0,
  CAD: 2,
  AUD: 2,
  BRL: 2,
  INR: 2,
  SEK: 2,
  CHF: 2,
};

/** Micro-dollars (USD × 10⁻⁶) per one major unit of each currency: integers, so no float ever enters a sum. */
export const USD_MICROS_PER_MAJOR: Readonly<Record<Currency, number>> = {
  USD: 1_000_000,
  EUR: 1_085_000,
  GBP: 1_270_000,
  JPY: 6_700,
  CAD: 735_000,
  AUD: 655_000,
  BRL: 198_000,
  INR: 12_000,
  SEK: 95_000,
  CHF: 1_125_000,
};

const MICROS_PER_CENT = 10_000n;

/**
 * Converts an amount in minor units of `currency` to USD cents, rounding half to even
 * (banker's rounding, so rounding errors do not drift one way over millions of orders).
 * Exact: BigInt throughout. Throws a `RangeError` for a non-integer amount.
 */
export function toUsdCents(amountMinor: number, currency: Currency): number {
  if (!Number.isSafeInteger(amountMinor)) {
    throw new RangeError(`amount must be a safe integer number of minor units: got ${amountMinor}`);
  }
  // cents = amountMinor / 10^digits × micros / 10^4
  const micros = USD_MICROS_PER_MAJOR[currency];
  const product = amountMinor * micros;
  if (Number.isSafeInteger(product)) {
    // Every order the shop really takes lands here: the product is exact as a double, and so are
    // % and the division of (product - remainder), which is a multiple of the divisor.
    const divisor = 10_000 * 10 ** MINOR_DIGITS[currency];
    const remainder = product % divisor;
    let quotient = (product - remainder) / divisor;
    const twice = Math.abs(remainder) * 2;
    if (twice > divisor || (twice === divisor && Math.abs(quotient) % 2 === 1)) quotient += product < 0 ? -1 : 1;
    return quotient;
  }
  const numerator = BigInt(amountMinor) * BigInt(micros);
  const denominator = MICROS_PER_CENT * 10n ** BigInt(MINOR_DIGITS[currency]);
  return Number(divideHalfEven(numerator, denominator));
}

/** `n / d` rounded half to even; `d` positive. */
export function divideHalfEven(n: bigint, d: bigint): bigint {
  const negative = n < 0n;
  const abs = negative ? -n : n;
  let q = abs / d;
  const twiceRemainder = (abs % d) * 2n;
  if (twiceRemainder > d || (twiceRemainder === d && q % 2n === 1n)) q += 1n;
  return negative ? -q : q;
}
