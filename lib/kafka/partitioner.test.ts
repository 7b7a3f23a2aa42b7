import { expect, test } from "bun:test";
import { murmur2 as clientMurmur2 } from "@platformatic/kafka";
import { murmur2, partitionForKey } from "./partitioner.ts";

const encoder = new TextEncoder();

test("murmur2() matches Kafka's test vectors (Java Utils.murmur2)", () => {
  // From org.apache.kafka.common.utils.UtilsTest#testMurmur2.
  const cases: [string, number][] = [
    ["21", -973932308],
    ["foobar", -790332482],
    ["a-little-bit-long-string", -985981536],
    ["a-little-bit-longer-string", -1486304829],
    ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
  ];
  expect(cases.map(([text]) => murmur2(encoder.encode(text)))).toEqual(cases.map(([, hash]) => hash));
});

test("murmur2() agrees with @platformatic/kafka's BigInt version on every key length 0..40", () => {
  for (let length = 0; length <= 40; length++) {
    const key = "u-ü".repeat(20).slice(0, length);
    expect(murmur2(encoder.encode(key))).toBe(clientMurmur2(Buffer.from(key)));
  }
});

test("partitionForKey() is Java's toPositive(murmur2) % partitions", () => {
  expect(partitionForKey("foobar", 6)).toBe((-790332482 & 0x7fffffff) % 6);
});

test("partitionForKey() rejects a partition count below 1", () => {
  expect(() => partitionForKey("k", 0)).toThrow(RangeError);
});
