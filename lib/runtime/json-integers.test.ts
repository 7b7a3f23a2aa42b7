import { expect, test } from "bun:test";
import { bigintsAt, stringifyWithBigInts, unsafeIntegersAsBigInt } from "./json-integers.ts";

test("stringifyWithBigInts() writes a bigint as a JSON number with all its digits", () => {
  expect(stringifyWithBigInts({ a: 2n ** 64n + 1n, b: [-3n, 1.5, "x"] })).toBe('{"a":18446744073709551617,"b":[-3,1.5,"x"]}');
});

test("bigintsAt() reads integer literals under its keys, at any depth, as bigints of exactly their digits", () => {
  const text = '{"revenueUsdCents":18446744073709551617,"orders":3,"by":[["x",{"revenueUsdCents":7,"items":9007199254740993}]]}';
  expect(JSON.parse(text, bigintsAt(["revenueUsdCents"]))).toEqual({
    revenueUsdCents: 18446744073709551617n,
    orders: 3,
    by: [["x", { revenueUsdCents: 7n, items: 9007199254740992 }]],
  });
});

test("bigintsAt() leaves a non-integer literal under its keys a number, for the caller to refuse", () => {
  expect(JSON.parse('{"k":1.5,"l":1e3,"m":"12"}', bigintsAt(["k", "l", "m"]))).toEqual({ k: 1.5, l: 1000, m: "12" });
});

test("unsafeIntegersAsBigInt keeps every safe number a number and makes the rest exact bigints", () => {
  expect(JSON.parse("[9007199254740991,9007199254740993,-9007199254740993,1.5,1e300]", unsafeIntegersAsBigInt)).toEqual([
    9007199254740991,
    9007199254740993n,
    -9007199254740993n,
    1.5,
    1e300,
  ]);
});

test("a bigint written by stringifyWithBigInts() comes back the same through bigintsAt()", () => {
  const value = { revenueUsdCents: -(2n ** 70n) + 12345n };
  expect(JSON.parse(stringifyWithBigInts(value), bigintsAt(["revenueUsdCents"]))).toEqual(value);
});

test("stringifyWithBigInts() of a value without a bigint is JSON.stringify's, and a cycle still throws", () => {
  const value = { add: { path: "dt=2026-12-01/hour=10/a.parquet", size: 12, stats: '{"numRecords":1}' }, n: [1, 2.5, null] };
  expect(stringifyWithBigInts(value)).toBe(JSON.stringify(value));
  const cyclic: Record<string, unknown> = { a: 1n };
  cyclic.self = cyclic;
  expect(() => stringifyWithBigInts(cyclic)).toThrow(TypeError);
});
