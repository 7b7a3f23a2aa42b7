/**
 * lib/kafka/group-fetcher.ts against a real broker: its own Fetch requests return exactly the records
 * produced, from exactly the offsets asked for, with the per-partition byte budget, high
 * watermarks and OFFSET_OUT_OF_RANGE as before; a prefetched response is only used for the
 * positions it was asked for.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { GroupFetcher, OffsetOutOfRangeError } from "../lib/kafka/group-fetcher.ts";
import { createConsumer, createProducer, type OrderConsumer } from "../lib/kafka/client.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";

const PARTITIONS = 3;
const PER_PARTITION = 3_000;
const text = new TextDecoder();
const valueOf = (partition: number, i: number) => `p${partition}-m${i}-${"x".repeat(i % 97)}${"é".repeat(i % 5)}`;

let topic: string;
const consumers: OrderConsumer[] = [];

beforeAll(async () => {
  topic = await uniqueTopic("group-fetcher", PARTITIONS);
  const producer = createProducer(await testConnection("group-fetcher"), { role: "produce" });
  // Sends of 500 records per partition: several lz4 batches per partition.
  for (let start = 0; start < PER_PARTITION; start += 500) {
    const messages = [];
    for (let partition = 0; partition < PARTITIONS; partition++) {
      for (let i = start; i < start + 500; i++) messages.push({ topic, partition, key: i % 10 === 0 ? undefined : `k${i}`, value: valueOf(partition, i) });
    }
    await producer.send({ messages });
  }
  await producer.close();
}, 60_000);

afterAll(async () => {
  await Promise.all(consumers.map((c) => c.close(true).catch(() => {})));
});

async function fetcherFor(options: ConstructorParameters<typeof GroupFetcher>[2] = {}): Promise<GroupFetcher> {
  const consumer = createConsumer(await testConnection("group-fetcher"), { role: "fetch", groupId: `group-fetcher-${crypto.randomUUID()}` });
  consumers.push(consumer);
  const fetcher = new GroupFetcher(consumer, topic, options);
  await fetcher.join({ sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 });
  return fetcher;
}

/** Reads every partition from `from` to the end with fetchRanges; returns the values per partition and the rounds taken. */
async function readAll(fetcher: GroupFetcher, from: Map<number, bigint>) {
  const positions = new Map(from);
  const read = new Map<number, { offset: number; key: string | null; value: string }[]>();
  let rounds = 0;
  for (;;) {
    rounds += 1;
    const fetched = await fetcher.fetchRanges(positions, (partition, offset, data, valueStart, valueEnd, keyStart, keyEnd) => {
      let list = read.get(partition);
      if (!list) read.set(partition, (list = []));
      list.push({ offset, key: keyStart < 0 ? null : text.decode(data.subarray(keyStart, keyEnd)), value: text.decode(data.subarray(valueStart, valueEnd)) });
    });
    for (const [partition, next] of fetched.nextPositions) positions.set(partition, next);
    if ([...positions].every(([p, next]) => fetched.highWatermarks.get(p) === next)) return { read, rounds, positions };
    if (rounds > 1_000) throw new Error("no progress");
  }
}

const expected = (partition: number, from: number) =>
  Array.from({ length: PER_PARTITION - from }, (_, k) => {
    const i = from + k;
    return { offset: i, key: i % 10 === 0 ? null : `k${i}`, value: valueOf(partition, i) };
  });

describe("GroupFetcher against a broker", () => {
  test("fetchRanges() hands over every record once, in offset order, with its key and value bytes", async () => {
    const fetcher = await fetcherFor();
    const { read, positions } = await readAll(fetcher, new Map(Array.from({ length: PARTITIONS }, (_, p) => [p, 0n])));
    for (let p = 0; p < PARTITIONS; p++) expect(read.get(p)).toEqual(expected(p, 0));
    expect([...positions]).toEqual(Array.from({ length: PARTITIONS }, (_, p) => [p, BigInt(PER_PARTITION)]));
  }, 60_000);

  test("fetchRanges() starts exactly at a position inside a batch", async () => {
    const fetcher = await fetcherFor();
    const { read } = await readAll(fetcher, new Map([[0, 1_234n], [2, 2_999n]]));
    expect(read.get(0)).toEqual(expected(0, 1_234));
    expect(read.get(2)).toEqual(expected(2, 2_999));
    expect(read.has(1)).toBe(false);
  }, 60_000);

  test("a small per-partition budget takes more rounds and reads the same records", async () => {
    const fetcher = await fetcherFor({ partitionMaxBytes: 16 * 1024 });
    const { read, rounds } = await readAll(fetcher, new Map([[1, 0n]]));
    expect(read.get(1)).toEqual(expected(1, 0));
    expect(rounds).toBeGreaterThan(5);
  }, 60_000);

  test("without prefetching and with CRC checks off it reads the same records", async () => {
    const fetcher = await fetcherFor({ prefetch: false, verifyCrc: false });
    const { read } = await readAll(fetcher, new Map([[1, 100n]]));
    expect(read.get(1)).toEqual(expected(1, 100));
  }, 60_000);

  test("a prefetched response is not used when the caller asks for other positions", async () => {
    const fetcher = await fetcherFor({ partitionMaxBytes: 16 * 1024 });
    const first = await fetcher.fetchRanges(new Map([[0, 0n]]), () => {});
    expect(first.nextPositions.get(0)).toBeGreaterThan(0n);
    // Not where the first response leads: a rewind (as after a reassignment).
    const offsets: number[] = [];
    await fetcher.fetchRanges(new Map([[0, 10n]]), (_p, offset) => void offsets.push(offset));
    expect(offsets[0]).toBe(10);
    expect(offsets).toEqual(Array.from({ length: offsets.length }, (_, k) => 10 + k));
  }, 60_000);

  test("a handler that stops now and then (returns false) still gets every record once, in order", async () => {
    const fetcher = await fetcherFor();
    const positions = new Map(Array.from({ length: PARTITIONS }, (_, p) => [p, 0n] as [number, bigint]));
    const read = new Map<number, number[]>();
    let seen = 0;
    let stops = 0;
    for (let round = 0; [...positions.values()].some((next) => next < BigInt(PER_PARTITION)); round++) {
      if (round > 1_000) throw new Error("no progress");
      const fetched = await fetcher.fetchRanges(positions, (partition, offset) => {
        let list = read.get(partition);
        if (!list) read.set(partition, (list = []));
        list.push(offset);
        if (++seen % 777 !== 0) return true;
        stops += 1;
        return false;
      });
      for (const [partition, next] of fetched.nextPositions) positions.set(partition, next);
    }
    expect(stops).toBeGreaterThan(10);
    for (let p = 0; p < PARTITIONS; p++) expect(read.get(p)).toEqual(Array.from({ length: PER_PARTITION }, (_, i) => i));
  }, 60_000);

  test("fetchOnce() gives the same records as Buffers with bigint offsets", async () => {
    const fetcher = await fetcherFor();
    const records: { offset: bigint; key: string | null; value: string }[] = [];
    const fetched = await fetcher.fetchOnce(new Map([[2, 2_990n]]), (_p, offset, key, value) => void records.push({ offset, key: key?.toString() ?? null, value: value!.toString() }));
    expect(records).toEqual(expected(2, 2_990).map((r) => ({ ...r, offset: BigInt(r.offset) })));
    expect(fetched.highWatermarks.get(2)).toBe(BigInt(PER_PARTITION));
  }, 60_000);

  test("a position past the log end throws OffsetOutOfRangeError naming the partition and offset", async () => {
    const fetcher = await fetcherFor();
    const error = await fetcher.fetchRanges(new Map([[1, 1_000_000n]]), () => {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OffsetOutOfRangeError);
    expect({ partition: (error as OffsetOutOfRangeError).partition, offset: (error as OffsetOutOfRangeError).offset }).toEqual({ partition: 1, offset: 1_000_000n });
  }, 60_000);
});
