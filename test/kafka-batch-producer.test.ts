/**
 * lib/kafka/batch-producer.ts against the real broker: batches it encodes itself are what a
 * standard consumer reads back, in every codec, and a batch sent twice is in the log once.
 */
import { expect, test } from "bun:test";
import { BatchProducer } from "../lib/kafka/batch-producer.ts";
import { type Compression, encodeHeaders, RecordSet } from "../lib/kafka/record-batch.ts";
import { readTopic } from "./produce-harness.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";

const utf8 = (s: string) => Buffer.from(s, "utf8");
/** Retries as the producer does (a new topic's leaders take a moment), but not forever. */
function retrying() {
  const errors: unknown[] = [];
  return { errors, onError: (error: unknown) => void errors.push(error), giveUp: () => errors.length >= 50 };
}

function recordSet(partition: number, from: number, n: number) {
  const set = new RecordSet();
  for (let i = from; i < from + n; i++) {
    set.append(Date.now(), utf8(`k-${partition}`), utf8(`{"n":${i}}`), encodeHeaders([[utf8("n"), utf8(String(i))]]));
  }
  return { partition, records: set.records(), count: set.count, firstTimestamp: set.firstTimestamp, maxTimestamp: set.maxTimestamp };
}

for (const compression of ["zstd", "lz4", "snappy", "gzip", "none"] as const satisfies Compression[]) {
  test(`${compression}: every record of every partition reads back in order, with its key and headers`, async () => {
    const topic = await uniqueTopic(`batch-producer-${compression}`, 3);
    const conn = await testConnection(`batch-producer-${compression}`);
    const producer = new BatchProducer(conn, { topic, compression, role: "test" });
    try {
      expect(await producer.partitions()).toBe(3);
      for (let round = 0; round < 3; round++) {
        await producer.send(producer.prepare([0, 1, 2].map((p) => recordSet(p, round * 100, 100))), retrying());
      }
    } finally {
      await producer.close();
    }
    const messages = await readTopic(conn, topic);
    for (const p of [0, 1, 2]) {
      const mine = messages.filter((m) => m.partition === p);
      expect(mine.map((m) => m.value.toString())).toEqual(Array.from({ length: 300 }, (_, i) => `{"n":${i}}`));
      expect(mine.map((m) => Number(m.offset))).toEqual(Array.from({ length: 300 }, (_, i) => i));
      expect(new Set(mine.map((m) => m.key))).toEqual(new Set([`k-${p}`]));
      expect(mine.map((m) => m.headers.get("n"))).toEqual(Array.from({ length: 300 }, (_, i) => String(i)));
    }
  }, 60_000);
}

test("a prepared send sent again (a retry after a lost answer) is appended once: the broker knows its sequence numbers", async () => {
  const topic = await uniqueTopic("batch-producer-resend", 2);
  const conn = await testConnection("batch-producer-resend");
  const producer = new BatchProducer(conn, { topic, compression: "zstd", role: "test" });
  try {
    await producer.partitions();
    const first = producer.prepare([recordSet(0, 0, 50), recordSet(1, 0, 50)]);
    await producer.send(first, retrying());
    await producer.send(first, retrying()); // the same bytes again: DUPLICATE_SEQUENCE_NUMBER, not a second copy
    await producer.send(producer.prepare([recordSet(0, 50, 50)]), retrying());
  } finally {
    await producer.close();
  }
  const messages = await readTopic(conn, topic);
  expect(messages.filter((m) => m.partition === 0).map((m) => m.value.toString())).toEqual(Array.from({ length: 100 }, (_, i) => `{"n":${i}}`));
  expect(messages.filter((m) => m.partition === 1).length).toBe(50);
}, 60_000);
