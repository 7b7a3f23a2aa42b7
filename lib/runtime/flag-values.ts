/**
 * Flag values: fractions, whole numbers, durations, or any parser's, each checked, with a
 * {@link UsageError} naming the flag and the value when it is not one.
 */
import { parseDurationMs } from "./config.ts";

/**
 * A command line that is not what the worker takes (a flag's value, flags that exclude each
 * other): runMain prints it with the --help hint and exits 2.
 */
export class UsageError extends RangeError {
  override name = "UsageError";
}

/** `raw` through `parse` (which throws on a bad value); `fallback` when the flag was not given. */
export function flagValue<T>(name: string, raw: string | undefined, fallback: T, parse: (raw: string) => T): T {
  if (raw === undefined) return fallback;
  try {
    return parse(raw);
  } catch (error) {
    throw new UsageError(`--${name}: ${(error as Error).message}`);
  }
}

/** `raw` as a number from 0 to 1; `fallback` when the flag was not given. */
export function fraction(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === "" || !(value >= 0 && value <= 1)) throw new UsageError(`--${name} must be a number from 0 to 1: got ${JSON.stringify(raw)}`);
  return value;
}

/** `raw` as a whole number ≥ `min`; `fallback` when the flag was not given. */
export function wholeNumber(name: string, raw: string | undefined, fallback: number | undefined, min = 1): number | undefined {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new UsageError(`--${name} must be a whole number ≥ ${min}: got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** `raw` as a duration in ms (`30s`, `5m`, ...); `fallback` when the flag was not given. */
export function duration(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  try {
    return parseDurationMs(raw);
  } catch (error) {
    throw new UsageError(`--${name}: ${(error as Error).message}`);
  }
}
