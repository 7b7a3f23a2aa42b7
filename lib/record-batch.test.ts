import { expect, test } from "bun:test";
import { KIND_FAULTS, packRecords, transferablesOf, unpackRecords } from "./record-batch.ts";
import { type SimRecord, Simulator } from "./simulator.ts";

function take(n: number): SimRecord[] {
  const sim = new Simulator({
    seed: 9,
    startMs: Date.parse("2026-11-27T18:00:00.000Z"),
    catalog: { products: 200 },
    customers: { customers: 1_000 },
    lateFraction: 0.1,
    outOfOrderFraction: 0.1,
    duplicateFraction: 0.1,
    malformedFraction: 0.2,
  });
  return Array.from({ length: n }, () => sim.next());
}

test("unpackRecords() gives back exactly the packed records, in order", () => {
  const records = take(3_000);
  expect(unpackRecords(packRecords(records)).map(({ partition: _, ...r }) => r)).toEqual(records);
});

test("unpackRecords() carries the partition packRecords() assigned, and -1 without a partitioner", () => {
  const records = take(50);
  const partitionOf = (key: string) => key.length % 7;
  expect(unpackRecords(packRecords(records, partitionOf)).map((r) => r.partition)).toEqual(records.map((r) => partitionOf(r.key)));
  expect(new Set(unpackRecords(packRecords(records)).map((r) => r.partition))).toEqual(new Set([-1]));
});

test("packRecords() covers every kind and fault the simulator produces", () => {
  const seen = new Set(take(5_000).map((r) => `${r.kind}/${r.fault ?? ""}`));
  expect([...seen].filter((kf) => !KIND_FAULTS.some(([kind, fault]) => `${kind}/${fault ?? ""}` === kf))).toEqual([]);
});

test("packRecords() rejects records out of sequence", () => {
  const [a, b] = take(3);
  expect(() => packRecords([a!, { ...b!, sequence: 7 }])).toThrow(RangeError);
});

test("packRecords() of no records is an empty batch", () => {
  expect(unpackRecords(packRecords([]))).toEqual([]);
});

test("transferablesOf() lists distinct buffers, so a batch can be posted with them", () => {
  const buffers = transferablesOf(packRecords(take(10), () => 0));
  expect(new Set(buffers).size).toBe(buffers.length);
});
