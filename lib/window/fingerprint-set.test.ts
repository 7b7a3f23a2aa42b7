import { expect, test } from "bun:test";
import { FINGERPRINT, FingerprintSet, fingerprintOf, fingerprintsOf } from "./fingerprint-set.ts";

function fp(text: string): [number, number, number] {
  fingerprintOf(text);
  return [FINGERPRINT[0]!, FINGERPRINT[1]!, FINGERPRINT[2]!];
}

test("fingerprintOf() is a function of the text: equal texts, equal fingerprints", () => {
  expect(fp("81a0fa39-c883-89ba-a7d7-43649941cd2d")).toEqual(fp("81a0fa39-c883-89ba-a7d7-43649941cd2d"));
  expect(fp("")).toEqual(fp(""));
});

test("fingerprintOf() tells apart texts that differ in one unit, in length, or by a trailing NUL", () => {
  const texts = ["a", "b", "ab", "ba", "a\0", "\0a", "abc", "abd", "u-1", "u-10", "u-01", "é", "e\u0301", "😀", "\ud83d"];
  const seen = new Set(texts.map((t) => fp(t).join(",")));
  expect(seen.size).toEqual(texts.length);
});

test("fingerprintOf() has no collision, and each lane is spread evenly, over a million simulator-like ids", () => {
  const seen = new Set<string>();
  const buckets = [new Uint32Array(256), new Uint32Array(256), new Uint32Array(256)];
  for (let i = 0; i < 1_000_000; i++) {
    const [a, b, c] = fp(`u-${i}`);
    seen.add(`${a},${b},${c}`);
    buckets[0]![a & 255]!++;
    buckets[1]![b >>> 24]!++;
    buckets[2]![c & 255]!++;
  }
  expect(seen.size).toEqual(1_000_000);
  // 1,000,000 / 256 = 3906 per bucket; a fair hash stays within ±6 standard deviations (±375).
  for (const lane of buckets) expect([Math.min(...lane) > 3906 - 375, Math.max(...lane) < 3906 + 375]).toEqual([true, true]);
});

test("FingerprintSet.add() returns whether the member was new; has() finds exactly the members", () => {
  const set = new FingerprintSet();
  expect([set.add(1, 2, 3), set.add(1, 2, 3), set.add(1, 2, 4), set.add(0, 0, 0)]).toEqual([true, false, true, true]);
  expect([set.has(1, 2, 3), set.has(1, 2, 4), set.has(0, 0, 0), set.has(1, 3, 3), set.has(2, 2, 3)]).toEqual([true, true, true, false, false]);
  expect(set.size).toEqual(3);
});

test("FingerprintSet keeps every member through growth, with members sharing index bits", () => {
  const set = new FingerprintSet();
  // The index uses lane 0's low bits: 100,000 members with equal low 16 bits probe into each other.
  for (let i = 0; i < 100_000; i++) expect(set.add(i << 16, i, ~i >>> 0)).toEqual(true);
  for (let i = 0; i < 100_000; i++) expect(set.add(i << 16, i, ~i >>> 0)).toEqual(false);
  expect([set.size, set.has(100_000 << 16, 100_000, ~100_000 >>> 0)]).toEqual([100_000, false]);
});

test("FingerprintSet.entries() gives members in insertion order across blocks, and addAll() rebuilds the set", () => {
  const set = new FingerprintSet();
  const members: number[] = [];
  for (let i = 0; i < 10_000; i++) {
    const m = fp(`e${i}`);
    set.add(...m);
    members.push(...m);
  }
  expect([...set.entries()]).toEqual(members);
  expect([...set.entries(4095, 4098)]).toEqual(members.slice(4095 * 3, 4098 * 3));
  const copy = new FingerprintSet();
  expect(copy.addAll(set.entries())).toEqual(10_000);
  expect([...copy.entries()]).toEqual(members);
  expect(() => set.entries(5, 10_001)).toThrow(RangeError);
});

test("FingerprintSet.view() keeps the members of its moment while the set grows", () => {
  const set = new FingerprintSet();
  set.add(1, 1, 1);
  set.add(2, 2, 2);
  const view = set.view();
  for (let i = 3; i < 20_000; i++) set.add(i, i, i);
  expect([view.count, [...view.entries()], [...view.entries(1)]]).toEqual([2, [1, 1, 1, 2, 2, 2], [2, 2, 2]]);
  expect(() => view.entries(0, 3)).toThrow(RangeError);
});

test("fingerprintsOf() reads a run of 3 × u32 entries and refuses a partial one", () => {
  const run = fingerprintsOf(new Uint32Array([1, 2, 3, 4, 5, 6]));
  expect([run.count, [...run.entries(1, 2)]]).toEqual([2, [4, 5, 6]]);
  expect(() => fingerprintsOf(new Uint32Array(4))).toThrow(RangeError);
});

test("FingerprintSet holds a member in about 19 bytes: 12 in its block, the index at most 4/0.375", () => {
  const set = new FingerprintSet();
  for (let i = 0; i < 1_000_000; i++) set.add(...fp(`e${i}`));
  const perMember = set.byteLength / set.size;
  expect([perMember > 12, perMember <= 12 * (1 + 4096 / 1_000_000) + 4 / 0.375]).toEqual([true, true]);
});
