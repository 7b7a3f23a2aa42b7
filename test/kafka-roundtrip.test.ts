/**
 * lib/kafka/client.ts against a real broker: 100,000 keyed messages produced under Bun and consumed
 * back by a consumer group, with count, keys, payload bytes and per-partition order checked.
 */
import { expect, test } from "bun:test";
import { createConsumer, createProducer, MessagesStreamModes } from "../lib/kafka/client.ts";
import { partitionForKey } from "../lib/kafka/partitioner.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";

const MESSAGES = 100_000;
const KEYS = 1_000;
const PARTITIONS = 6;
const BATCH = 1_000;
const IN_FLIGHT = 8;

/** Message i: key `user-(i mod KEYS)`, a payload whose bytes depend on i (with non-ASCII and a varying length). */
function keyOf(i: number): string {
  return `user-${i % KEYS}`;
}
function payloadOf(i: number): Buffer {
  const seq = Math.floor(i / KEYS); // position of this message among its key's messages
  return Buffer.from(JSON.stringify({ i, seq, note: "é✓".repeat(i % 7), pad: "x".repeat(i % 113) }), "utf8");
}

test("100,000 keyed messages round-trip through a consumer group: count, keys, bytes, per-partition order", async () => {
  const topic = await uniqueTopic("roundtrip", PARTITIONS);
  const conn = await testConnection("roundtrip");

  const producer = createProducer(conn, { role: "produce" });
  let producedBytes = 0;
  const produceStart = performance.now();
  const inFlight: Promise<unknown>[] = [];
  for (let start = 0; start < MESSAGES; start += BATCH) {
    const messages = [];
    for (let i = start; i < start + BATCH; i++) {
      const value = payloadOf(i);
      producedBytes += value.length;
      messages.push({ topic, key: keyOf(i), value, headers: { seq: String(i) } });
    }
    inFlight.push(producer.send({ messages }));
    if (inFlight.length >= IN_FLIGHT) await inFlight.shift();
  }
  await Promise.all(inFlight);
  const produceSeconds = (performance.now() - produceStart) / 1000;
  await producer.close();

  const consumer = createConsumer(conn, { role: "consume", groupId: `roundtrip-${topic}` });
  const seen = new Uint8Array(MESSAGES);
  const partitionOfKey = new Map<string, number>();
  const lastOffset = new Map<number, bigint>();
  const lastSeqOfKey = new Map<string, number>();
  let received = 0;
  let receivedBytes = 0;
  const problems: string[] = [];
  const consumeStart = performance.now();
  const stream = await consumer.consume({
    topics: [topic],
    mode: MessagesStreamModes.EARLIEST,
    autocommit: 1_000,
  });
  for await (const message of stream) {
    const header = Number(message.headers.get("seq"));
    const body = JSON.parse(message.value.toString("utf8")) as { i: number; seq: number };
    receivedBytes += message.value.length;
    if (body.i !== header) problems.push(`header seq ${header} does not match body i ${body.i}`);
    if (!message.value.equals(payloadOf(body.i))) problems.push(`payload bytes of message ${body.i} differ`);
    if (message.key !== keyOf(body.i)) problems.push(`message ${body.i} has key ${message.key}`);
    if (seen[body.i]) problems.push(`message ${body.i} received twice`);
    seen[body.i] = 1;

    const partitionBefore = partitionOfKey.get(message.key);
    if (partitionBefore !== undefined && partitionBefore !== message.partition) {
      problems.push(`key ${message.key} on partitions ${partitionBefore} and ${message.partition}`);
    }
    partitionOfKey.set(message.key, message.partition);
    const previousOffset = lastOffset.get(message.partition);
    if (previousOffset !== undefined && message.offset !== previousOffset + 1n) {
      problems.push(`partition ${message.partition}: offset ${message.offset} after ${previousOffset}`);
    }
    lastOffset.set(message.partition, message.offset);
    const previousSeq = lastSeqOfKey.get(message.key) ?? -1;
    if (body.seq !== previousSeq + 1) problems.push(`key ${message.key}: seq ${body.seq} after ${previousSeq}`);
    lastSeqOfKey.set(message.key, body.seq);

    if (++received === MESSAGES) break;
  }
  const consumeSeconds = (performance.now() - consumeStart) / 1000;
  await stream.close();
  await consumer.close();

  console.log(
    `[roundtrip] produced ${MESSAGES} messages (${(producedBytes / 1e6).toFixed(1)} MB) in ${produceSeconds.toFixed(2)} s ` +
      `= ${Math.round(MESSAGES / produceSeconds)} msg/s; consumed in ${consumeSeconds.toFixed(2)} s ` +
      `= ${Math.round(MESSAGES / consumeSeconds)} msg/s (including the group join)`,
  );
  expect(problems.slice(0, 10)).toEqual([]);
  expect(received).toBe(MESSAGES);
  expect(receivedBytes).toBe(producedBytes);
  expect(seen.every((s) => s === 1)).toBe(true);
  expect(partitionOfKey.size).toBe(KEYS);
  expect(new Set(partitionOfKey.values()).size).toBe(PARTITIONS);
}, 180_000);

test("lib/kafka/client.ts producers put a key on the partition Kafka's Java partitioner picks", async () => {
  const topic = await uniqueTopic("partitioner", 7);
  const conn = await testConnection("partitioner");
  const producer = createProducer(conn, { role: "produce" });
  const keys = Array.from({ length: 200 }, (_, i) => `user-${i * 7919}`);
  await producer.send({ messages: keys.map((key) => ({ topic, key, value: key })) });
  await producer.close();
  const consumer = createConsumer(conn, { role: "consume", groupId: `partitioner-${topic}` });
  const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: false });
  const seen = new Map<string, number>();
  for await (const message of stream) {
    seen.set(message.key, message.partition);
    if (seen.size === keys.length) break;
  }
  await stream.close();
  await consumer.close();
  expect(seen).toEqual(new Map(keys.map((key) => [key, partitionForKey(key, 7)])));
}, 60_000);
