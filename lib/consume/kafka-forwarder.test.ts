import { describe, expect, test } from "bun:test";
import type { ForwardRecord } from "../window/aggregator-engine.ts";
import { KAFKA_DEFAULT_MAX_MESSAGE_BYTES } from "../kafka/client.ts";
import { type ForwardMessage, type ForwardProducer, forwardRecordBytes, KafkaForwarder, recordBudget, recordBytes, splitByBudget, truncateRecord } from "./kafka-forwarder.ts";

/** A producer whose every request waits until the test acknowledges or fails it. */
class HeldProducer implements ForwardProducer {
  readonly requests: Array<{ messages: ForwardMessage[]; ack(): void; fail(error: Error): void }> = [];
  send(options: { messages: ForwardMessage[] }): Promise<unknown> {
    return new Promise((resolve, reject) => this.requests.push({ messages: options.messages, ack: () => resolve({}), fail: reject }));
  }
}

/** Lets every pending promise callback run (a macrotask runs only once the microtasks are done). */
const settled = () => new Promise<void>((resolve) => setImmediate(resolve));

const record = (i: number, bytes = 10, topic = "orders.dlq"): ForwardRecord => ({
  topic,
  key: `k-${i}`,
  value: new Uint8Array(bytes).fill(i & 0xff),
  headers: { reason: "not_json", "source-offset": String(i) },
});

/** A message's headers as text (null values as null), in order. */
const headersOf = (m: ForwardMessage) => [...m.headers].map(([k, v]) => [String(k), v === undefined ? null : String(v)]);

/** recordBytes() of a message whose headers are all the worker's own (text). */
const messageBytes = (m: ForwardMessage) => recordBytes(m.key, m.value?.byteLength ?? 0, Object.fromEntries(headersOf(m)));

/** Bytes of each topic's records in one produce request, as recordBytes() counts them. */
function bytesByTopic(messages: readonly ForwardMessage[]): Record<string, number> {
  const bytes: Record<string, number> = {};
  for (const m of messages) bytes[m.topic] = (bytes[m.topic] ?? 0) + messageBytes(m);
  return bytes;
}

test("17.s1 KafkaForwarder.flush() resolves once the records sent before it are acknowledged, while later records keep being sent and stay unacknowledged", async () => {
  const producer = new HeldProducer();
  const forwarder = new KafkaForwarder(producer, { maxBatch: 1 });
  forwarder.send(record(0));
  let flushed = false;
  const flushing = forwarder.flush().then(() => void (flushed = true));
  for (let i = 1; i <= 5; i++) {
    await settled();
    forwarder.send(record(i));
  }
  await settled();
  expect({ requests: producer.requests.length, flushed }).toEqual({ requests: 6, flushed: false });

  producer.requests[0]!.ack();
  await settled();
  expect(flushed).toBe(true);
  await flushing;

  // The later records are held back by a later flush only.
  let later = false;
  const laterFlush = forwarder.flush().then(() => void (later = true));
  for (const r of producer.requests.slice(1, 5)) r.ack();
  await settled();
  expect(later).toBe(false);
  producer.requests[5]!.ack();
  await laterFlush;
  expect(forwarder.sent).toBe(6);
});

describe("KafkaForwarder", () => {
  test("flush() sends the records still lingering in the buffer and waits for them", async () => {
    const producer = new HeldProducer();
    const forwarder = new KafkaForwarder(producer, { lingerMs: 60_000 });
    forwarder.send(record(0));
    forwarder.send(record(1));
    let flushed = false;
    const flushing = forwarder.flush().then(() => void (flushed = true));
    await settled();
    expect({ requests: producer.requests.map((r) => r.messages.length), flushed }).toEqual({ requests: [2], flushed: false });
    producer.requests[0]!.ack();
    await flushing;
    expect(forwarder.sent).toBe(2);
  });

  test("every flush() after a failed send rejects, so no checkpoint passes the lost records", async () => {
    const producer = new HeldProducer();
    const forwarder = new KafkaForwarder(producer, { maxBatch: 1 });
    forwarder.send(record(0));
    await settled();
    producer.requests[0]!.fail(new Error("broker said no"));
    await expect(forwarder.flush()).rejects.toThrow("forwarding records to Kafka failed");
    await expect(forwarder.flush()).rejects.toThrow("forwarding records to Kafka failed");
  });

  test("no produce request carries more of a topic's records than its learned max.message.bytes allows, and none is lost or reordered", async () => {
    const producer = new HeldProducer();
    const limits: Record<string, number> = { "orders.dlq": 64 * 1024, "orders.late": 256 * 1024 };
    const forwarder = new KafkaForwarder(producer, { maxMessageBytes: (topic) => Promise.resolve(limits[topic]!) });
    for (let i = 0; i < 600; i++) forwarder.send(record(i, 1_000, i % 3 === 0 ? "orders.late" : "orders.dlq"));
    const flushing = forwarder.flush();
    await settled();
    for (const r of producer.requests) {
      for (const [topic, bytes] of Object.entries(bytesByTopic(r.messages))) expect(bytes).toBeLessThanOrEqual(recordBudget(limits[topic]!));
      r.ack();
    }
    await flushing;
    expect(producer.requests.length).toBeGreaterThan(1);
    expect(producer.requests.flatMap((r) => r.messages.map((m) => m.headers.get("source-offset")))).toEqual(Array.from({ length: 600 }, (_, i) => String(i)));
    expect(forwarder.sent).toBe(600);
  });

  test("while a topic's limit cannot be learned, Kafka's default applies and the next batch asks again", async () => {
    const producer = new HeldProducer();
    const asked: string[] = [];
    let answer: () => Promise<number> = () => Promise.reject(new Error("not allowed"));
    const forwarder = new KafkaForwarder(producer, { maxBatch: 1, maxMessageBytes: (topic) => (asked.push(topic), answer()) });
    forwarder.send(record(0, 2 * 1024 * 1024));
    await settled();
    const [first] = producer.requests[0]!.messages;
    expect({ bytes: messageBytes(first!), truncated: first!.headers.get("truncated") }).toEqual({
      bytes: recordBudget(KAFKA_DEFAULT_MAX_MESSAGE_BYTES),
      truncated: "value",
    });
    answer = () => Promise.resolve(8 * 1024 * 1024);
    forwarder.send(record(1, 2 * 1024 * 1024));
    forwarder.send(record(2, 2 * 1024 * 1024));
    await settled();
    expect(producer.requests.map((r) => r.messages[0]!.value!.byteLength).slice(1)).toEqual([2 * 1024 * 1024, 2 * 1024 * 1024]);
    expect(asked).toEqual(["orders.dlq", "orders.dlq"]);
  });

  test("a tombstone (null value) is forwarded as one", async () => {
    const producer = new HeldProducer();
    const forwarder = new KafkaForwarder(producer, { maxBatch: 1 });
    forwarder.send({ ...record(0), value: null });
    await settled();
    expect(producer.requests[0]!.messages[0]!.value).toBeUndefined();
  });

  test("the source record's headers go first, repeated keys and null values kept, then the worker's", async () => {
    const producer = new HeldProducer();
    const forwarder = new KafkaForwarder(producer, { maxBatch: 1 });
    // count 3; "h" = "v"; "h" = "w"; "n" = null (lengths as zigzag varints: 1 → 2, -1 → 1)
    forwarder.send({ ...record(0), sourceHeaders: new Uint8Array([6, 2, 0x68, 2, 0x76, 2, 0x68, 2, 0x77, 2, 0x6e, 1]) });
    await settled();
    expect(headersOf(producer.requests[0]!.messages[0]!)).toEqual([
      ["h", "v"],
      ["h", "w"],
      ["n", null],
      ["reason", "not_json"],
      ["source-offset", "0"],
    ]);
  });

  test("source headers that cannot be read are left out, and a header says so", async () => {
    const producer = new HeldProducer();
    const forwarder = new KafkaForwarder(producer, { maxBatch: 1 });
    forwarder.send({ ...record(0), sourceHeaders: new Uint8Array([2, 40, 0x68]) });
    await settled();
    expect(headersOf(producer.requests[0]!.messages[0]!)).toEqual([
      ["source-headers-unreadable", "true"],
      ["reason", "not_json"],
      ["source-offset", "0"],
    ]);
  });
});

describe("splitByBudget()", () => {
  test("starts a new request when the next record would take a topic over its budget", () => {
    const size = recordBytes("k-0", 100, record(0).headers);
    const requests = splitByBudget([0, 1, 2, 3, 4].map((i) => record(i, 100)), () => 2 * size);
    expect(requests.map((r) => r.map((x) => x.headers["source-offset"]))).toEqual([["0", "1"], ["2", "3"], ["4"]]);
  });

  test("counts each topic against its own budget", () => {
    const size = recordBytes("k-0", 100, record(0).headers);
    const requests = splitByBudget([record(0, 100, "a"), record(1, 100, "b"), record(2, 100, "b")], (topic) => (topic === "a" ? size : 2 * size));
    expect(requests.map((r) => r.length)).toEqual([3]);
  });

  test("truncates a record over its budget on its own, between whole ones", () => {
    const budget = 10_000;
    const requests = splitByBudget([record(0, 100), record(1, 50_000), record(2, 100)], () => budget);
    const cut = requests.flat()[1]!;
    expect(requests.flat().map((r) => r.value!.byteLength)).toEqual([100, cut.value!.byteLength, 100]);
    expect(recordBytes(cut.key, cut.value!.byteLength, cut.headers)).toBe(budget);
    expect({ key: cut.key, headers: cut.headers }).toEqual({
      key: "k-1",
      headers: { reason: "not_json", "source-offset": "1", truncated: "value", "original-value-bytes": "50000" },
    });
  });
});

describe("truncateRecord()", () => {
  test("leaves out source headers that alone leave no room, and says so", () => {
    const big = { ...record(0, 5_000), sourceHeaders: new Uint8Array(6_000) };
    const cut = truncateRecord(big, 4_000);
    expect(forwardRecordBytes(cut)).toBe(4_000);
    expect({ sourceHeaders: cut.sourceHeaders, truncated: cut.headers.truncated, headers: cut.headers["original-headers-bytes"] }).toEqual({
      sourceHeaders: undefined,
      truncated: "value,headers",
      headers: "6000",
    });
  });

  test("keeps source headers that fit, cutting only the value", () => {
    const cut = truncateRecord({ ...record(0, 5_000), sourceHeaders: new Uint8Array(100) }, 4_000);
    expect({ bytes: forwardRecordBytes(cut), sourceHeaders: cut.sourceHeaders?.byteLength, truncated: cut.headers.truncated }).toEqual({ bytes: 4_000, sourceHeaders: 100, truncated: "value" });
  });

  test("cuts a key that alone leaves no room, and says so", () => {
    const big = { ...record(0, 5_000), key: new Uint8Array(20_000).fill(7) };
    const cut = truncateRecord(big, 4_000);
    expect(recordBytes(cut.key, cut.value!.byteLength, cut.headers)).toBeLessThanOrEqual(4_000);
    expect({ truncated: cut.headers.truncated, key: cut.headers["original-key-bytes"], value: cut.headers["original-value-bytes"] }).toEqual({
      truncated: "value,key",
      key: "20000",
      value: "5000",
    });
    expect((cut.key as Uint8Array).byteLength).toBeGreaterThan(1_000);
  });
});
