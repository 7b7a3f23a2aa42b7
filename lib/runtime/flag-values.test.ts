import { expect, test } from "bun:test";
import { intParser } from "./config.ts";
import { duration, flagValue, fraction, UsageError, wholeNumber } from "./flag-values.ts";

test("fraction(), wholeNumber() and duration() give the fallback when the flag is absent", () => {
  expect([fraction("f", undefined, 0.5), wholeNumber("n", undefined, 7), duration("d", undefined, 30_000)]).toEqual([0.5, 7, 30_000]);
});

test("fraction(), wholeNumber() and duration() parse a given value", () => {
  expect([fraction("f", "0.25", 0), wholeNumber("n", "0", 1, 0), duration("d", "3s", 0)]).toEqual([0.25, 0, 3_000]);
});

test("a bad value is a UsageError naming the flag and the value", () => {
  expect(() => fraction("late-fraction", "1.5", 0)).toThrow(new UsageError('--late-fraction must be a number from 0 to 1: got "1.5"'));
  expect(() => wholeNumber("batch", "0", 1)).toThrow(new UsageError('--batch must be a whole number ≥ 1: got "0"'));
  expect(() => duration("shutdown-timeout", "soon", 0)).toThrow(UsageError);
});

test("flagValue() gives the fallback when absent, the parsed value when given, and a UsageError naming the flag when the parser throws", () => {
  expect([flagValue("port", undefined, null, intParser(0, 65_535)), flagValue("port", "9464", null, intParser(0, 65_535))]).toEqual([null, 9464]);
  expect(() => flagValue("port", "99999", null, intParser(0, 65_535))).toThrow(UsageError);
  expect(() => flagValue("port", "99999", null, intParser(0, 65_535))).toThrow(/^--port: /);
});
