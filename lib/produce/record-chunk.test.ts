import { expect, test } from "bun:test";
import { readRecordsBatch, Reader } from "@platformatic/kafka";
import { encodeRecordBatch } from "../kafka/record-batch.ts";
import { partitionForKey } from "../kafka/partitioner.ts";
import { KIND_FAULTS, kindFaultCode } from "./tally.ts";
import { ChunkBuilder } from "./record-chunk.ts";
import { type SimRecord, Simulator } from "../event/simulator.ts";

const START_MS = Date.parse("2026-11-27T18:00:00.000Z");

function take(n: number): SimRecord[] {
  const sim = new Simulator({
    seed: 9,
    startMs: START_MS,
    catalog: { products: 300 },
    customers: { customers: 2_000 },
    lateFraction: 0.1,
    outOfOrderFraction: 0.1,
    duplicateFraction: 0.05,
    malformedFraction: 0.1,
  });
  return Array.from({ length: n }, () => sim.next());
}

test("a Kafka chunk holds every record once, on its key's partition, in stream order, with its headers", () => {
  const records = take(3_000);
  const builder = new ChunkBuilder({ kind: "kafka", partitions: 5 });
  records.forEach((r, i) => builder.add(r, START_MS + i));
  const { chunk, transfer } = builder.take();

  expect(chunk.records).toBe(records.length);
  expect(chunk.firstEmittedMs).toBe(records[0]!.emittedAtMs);
  expect(chunk.lastEmittedMs).toBe(records.at(-1)!.emittedAtMs);
  const expectedCounts = new Array(KIND_FAULTS.length).fill(0);
  for (const r of records) expectedCounts[kindFaultCode(r)]++;
  expect([...chunk.counts]).toEqual(expectedCounts);
  for (const set of chunk.sets) expect(transfer).toContain(set.records.buffer as ArrayBuffer);

  const decoded = chunk.sets.flatMap((set) => {
    const batch = readRecordsBatch(Reader.from(encodeRecordBatch(set, { compression: "none", producerId: -1n, producerEpoch: -1, baseSequence: -1 })));
    return batch.records.map((r) => ({
      partition: set.partition,
      timestamp: Number(batch.firstTimestamp + r.timestampDelta),
      key: r.key!.toString(),
      value: Buffer.from(r.value!),
      headers: Object.fromEntries(r.headers.map(([k, v]) => [k!.toString(), v!.toString()])),
    }));
  });
  const expected = records.map((r, i) => ({
    partition: partitionForKey(r.key, 5),
    timestamp: START_MS + i,
    key: r.key,
    value: Buffer.from(r.value),
    headers: { schema_version: "1", emitted_at_ms: String(r.emittedAtMs) },
  }));
  const byPartition = (p: number) => (x: { partition: number }) => x.partition === p;
  for (let p = 0; p < 5; p++) expect(decoded.filter(byPartition(p))).toEqual(expected.filter(byPartition(p)));
  expect(decoded.length).toBe(records.length);
});

test("a lines chunk is every value followed by a newline, and the builder starts afresh after take()", () => {
  const records = take(500);
  const builder = new ChunkBuilder({ kind: "lines" });
  for (const r of records.slice(0, 200)) builder.add(r, 0);
  const first = builder.take().chunk;
  for (const r of records.slice(200)) builder.add(r, 0);
  const second = builder.take().chunk;
  const joined = (rs: SimRecord[]) => Buffer.concat(rs.flatMap((r) => [Buffer.from(r.value), Buffer.from("\n")]));
  expect(Buffer.from(first.lines!)).toEqual(joined(records.slice(0, 200)));
  expect(Buffer.from(second.lines!)).toEqual(joined(records.slice(200)));
  expect(first.records + second.records).toBe(500);
  expect(second.firstEmittedMs).toBe(records[200]!.emittedAtMs);
});

test("an emitted_at_ms outside 13 digits still gets its exact header", () => {
  const [record] = take(1);
  const builder = new ChunkBuilder({ kind: "kafka", partitions: 1 });
  builder.add({ ...record!, emittedAtMs: 5 }, 0);
  const set = builder.take().chunk.sets[0]!;
  const batch = readRecordsBatch(Reader.from(encodeRecordBatch(set, { compression: "none", producerId: -1n, producerEpoch: -1, baseSequence: -1 })));
  expect(batch.records[0]!.headers.map(([k, v]) => [k!.toString(), v!.toString()])).toEqual([["schema_version", "1"], ["emitted_at_ms", "5"]]);
});
