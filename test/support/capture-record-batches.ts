/**
 * Regenerates lib/kafka/testdata/record-batches/: record batches as a real Kafka broker serves them in
 * fetch responses, for lib/kafka/read-record-batches.test.ts.
 *
 *   bun run test/support/capture-record-batches.ts      (KAFKA_BROKERS, or a local broker)
 *
 * Each case is a fresh one-partition topic written by the Kafka client's producer; the fixture
 * is the partition's `records` bytes of one fetch from offset 0 (`<case>.bin`) plus, in
 * manifest.json, what was produced — the expected records come from the producer's side, not
 * from decoding — and the aborted transactions the broker listed.
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Consumer, Producer } from "@platformatic/kafka";
import { ensureTopics, type KafkaConnection } from "../../lib/kafka/client.ts";
import { LocalBroker } from "../../lib/kafka/local-broker.ts";
import { rawFetch } from "../../lib/kafka/raw-fetch.ts";
import { clientConnection } from "../../lib/kafka/client.ts";
import { parseBrokers } from "../../lib/runtime/config.ts";

const outDir = resolve(import.meta.dirname, "../../lib/kafka/testdata/record-batches");

interface Produced {
  key: string | null;
  value: string | null;
  headers?: Record<string, string>;
}
/** What a case expects back: every committed data record, in offset order. */
interface CaseManifest {
  name: string;
  file: string;
  codec: string;
  /** Producer calls (each became one batch) and whether each was a transaction. */
  sends: { transaction?: "commit" | "abort"; records: number }[];
  expected: { offset: number; key: string | null; value: string | null }[];
  /** The offset after the last record of the topic (control records included). */
  logEndOffset: number;
  abortedTransactions: { producerId: number; firstOffset: number }[] | null;
}

const local = process.env.KAFKA_BROKERS ? undefined : new LocalBroker({ onProgress: (l) => console.error(l) });
await local?.start();
const conn: KafkaConnection = { brokers: local ? [local.bootstrap] : parseBrokers(process.env.KAFKA_BROKERS!), clientId: "capture" };

const order = (n: number) =>
  `{"schema_version":1,"event_id":"e-${n}","order_id":"o-${n}","user_id":"u-${n % 7}","created_at":"2026-11-30T10:00:${String(n % 60).padStart(2, "0")}.000Z","items":[{"sku":"SKU-${n}","category":"books","qty":1,"unit_price_minor":${1000 + n}}],"discount_minor":0,"total":{"amount_minor":${1000 + n},"currency":"USD"},"total_usd_cents":${1000 + n},"country":"US","payment_method":"card","channel":"web","status":"placed"}`;
const records = (from: number, count: number): Produced[] => Array.from({ length: count }, (_, i) => ({ key: `u-${(from + i) % 7}`, value: order(from + i) }));

const cases: { name: string; codec: "none" | "gzip" | "snappy" | "lz4" | "zstd"; sends: { transaction?: "commit" | "abort"; records: Produced[] }[] }[] = [
  ...(["none", "gzip", "snappy", "lz4", "zstd"] as const).map((codec) => ({
    name: `codec-${codec}`,
    codec,
    sends: [
      {
        records: [
          ...records(0, 20),
          { key: null, value: order(20) }, // no key
          { key: "u-tomb", value: null }, // a tombstone: null value
          { key: "", value: "" }, // empty, not null
          { key: "u-h", value: order(23), headers: { "schema-version": "1", trace: "x".repeat(300) } },
          { key: "u-big", value: "é".repeat(4_200) }, // 8,400 bytes: a 3-byte varint length; not ASCII
        ],
      },
    ],
  })),
  { name: "three-batches", codec: "none", sends: [{ records: records(0, 5) }, { records: records(5, 5) }, { records: records(10, 5) }] },
  {
    name: "transactions",
    codec: "none",
    sends: [
      { records: records(0, 2) },
      { transaction: "commit", records: records(2, 3) },
      { transaction: "abort", records: records(5, 3) },
      { records: records(8, 2) },
      { transaction: "commit", records: records(10, 2) },
    ],
  },
];

const manifest: CaseManifest[] = [];
for (const c of cases) {
  const topic = `capture-${c.name}-${Date.now()}`;
  await ensureTopics(conn, [{ name: topic, partitions: 1 }]);
  // A transactional producer opens one transaction in its life here (the client fences a second
  // beginTransaction); each transaction gets a new one with the same transactional id, so the
  // broker hands out the same producer id (a later epoch), as a long-lived producer would have.
  const newProducer = (transactionalId?: string) =>
    new Producer({
      clientId: `capture-${c.name}`,
      bootstrapBrokers: conn.brokers,
      idempotent: true,
      acks: -1,
      compression: c.codec,
      // -1/-1: "no producer id yet"; the client's default 0/0 claims producer id 0 and is fenced.
      ...(transactionalId ? { transactionalId, producerId: -1n, producerEpoch: -1 } : {}),
      serializers: {
        key: (k?: string | null) => (k == null ? undefined : Buffer.from(k)),
        value: (v?: string | null) => (v == null ? undefined : Buffer.from(v)),
        headerKey: (k?: string) => (k === undefined ? undefined : Buffer.from(k)),
        headerValue: (v?: string) => (v === undefined ? undefined : Buffer.from(v)),
      },
    });
  const plain = newProducer();
  const probe = new Consumer({ clientId: "capture-probe", groupId: `capture-probe-${topic}`, bootstrapBrokers: conn.brokers });
  const expected: CaseManifest["expected"] = [];
  let offset = 0;
  for (const send of c.sends) {
    const messages = send.records.map((r) => ({ topic, partition: 0, key: r.key, value: r.value, ...(r.headers ? { headers: r.headers } : {}) }));
    if (send.transaction) {
      const producer = newProducer(`capture-${topic}`);
      const tx = await producer.beginTransaction();
      await tx.send({ messages });
      if (send.transaction === "commit") await tx.commit();
      else await tx.abort();
      await producer.close();
      // The coordinator writes the marker after EndTxn returns: wait for it, so the next send
      // lands after it and the offsets are the ones counted here.
      const markerEnd = BigInt(offset + send.records.length + 1);
      for (let tries = 0; ; tries++) {
        const latest = (await probe.listOffsets({ topics: [topic] })).get(topic)?.[0];
        if (latest === markerEnd) break;
        if (tries > 200) throw new Error(`${c.name}: the transaction marker did not appear (log end ${latest}, expected ${markerEnd})`);
        await Bun.sleep(25);
      }
    } else {
      await plain.send({ messages });
    }
    for (const r of send.records) {
      if (send.transaction !== "abort") expected.push({ offset, key: r.key, value: r.value });
      offset += 1;
    }
    if (send.transaction) offset += 1; // the commit or abort marker
  }
  await plain.close();
  await probe.close();

  const consumer = new Consumer({ clientId: "capture", groupId: `capture-${topic}`, bootstrapBrokers: conn.brokers });
  const metadata = await consumer.metadata({ topics: [topic] });
  const topicMetadata = metadata.topics.get(topic)!;
  const connection = await clientConnection(consumer, metadata.brokers.get(topicMetadata.partitions[0]!.leader)!);
  const [partition] = await rawFetch(connection, {
    maxWaitMs: 100,
    maxBytes: 16 << 20,
    topic,
    topicId: topicMetadata.id,
    partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 16 << 20 }],
  });
  await consumer.close();
  if (!partition?.records || partition.errorCode !== 0) throw new Error(`${c.name}: no records fetched (error ${partition?.errorCode})`);
  if (partition.highWatermark !== BigInt(offset)) throw new Error(`${c.name}: high watermark ${partition.highWatermark}, expected ${offset}`);
  const file = `${c.name}.bin`;
  writeFileSync(join(outDir, file), partition.records);
  manifest.push({ name: c.name, file, codec: c.codec, sends: c.sends.map((s) => ({ ...s, records: s.records.length })), expected, logEndOffset: offset, abortedTransactions: partition.abortedTransactions });
  console.error(`${c.name}: ${partition.records.length} bytes, ${expected.length} records`);
}
writeFileSync(join(outDir, "manifest.json"), `${JSON.stringify(manifest, null, 1)}\n`);
await local?.stop({ removeData: true });
