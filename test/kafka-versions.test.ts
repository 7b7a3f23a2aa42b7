/**
 * Every Produce and Fetch version orderpulse speaks by hand (issue 18) against a real broker:
 * lib/kafka/batch-producer.ts forced to each Produce version from v3 to v11, and
 * lib/kafka/raw-fetch.ts (through GroupFetcher) forced to each Fetch version from v4 to v17.
 *
 * One topic holds what librdkafka wrote — codecs, headers, null keys, a tombstone, a committed
 * and an aborted transaction on both sides of ours — and a batch from each Produce version. The
 * independent reader is librdkafka (read_committed): each Produce version's records read back as
 * sent, and each Fetch version reads exactly what librdkafka reads, timestamps and headers
 * included, and nothing of the aborted transactions. A version the broker does not serve (on
 * an older broker: `ORDERPULSE_KAFKA_VERSION`, scripts/kafka-matrix.ts) must fail with the
 * broker's range in the message, not silently fall back.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { brokerApiVersions, UnsupportedBrokerError, type VersionRange } from "../lib/kafka/api-versions.ts";
import { BatchProducer, PRODUCE_VERSIONS } from "../lib/kafka/batch-producer.ts";
import { clientConnection, createConsumer, type OrderConsumer } from "../lib/kafka/client.ts";
import { GroupFetcher } from "../lib/kafka/group-fetcher.ts";
import { FETCH_VERSIONS } from "../lib/kafka/raw-fetch.ts";
import { readRecordHeaders } from "../lib/kafka/read-record-batches.ts";
import { type Compression, encodeHeaders, RecordSet } from "../lib/kafka/record-batch.ts";
import { type PlanStep, produceWithLibrdkafka, type ReadRecord, readCommitted } from "./support/librdkafka.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";

const PARTITIONS = 2;
const text = new TextDecoder();
const utf8 = (s: string) => Buffer.from(s, "utf8");
const versions = (range: VersionRange) => Array.from({ length: range.max - range.min + 1 }, (_, i) => range.min + i);
const CODECS: Compression[] = ["none", "gzip", "snappy", "lz4", "zstd"];
/** A codec for each Produce version, all five among them; zstd only from v7, as Kafka requires. */
const codecFor = (version: number): Compression => (version < 7 ? CODECS[version % 4]! : CODECS[version % CODECS.length]!);

let topic: string;
let bootstrap: string;
/** What the broker serves, by API key 0 (Produce) and 1 (Fetch). */
let served: Map<number, VersionRange>;
/** Per forced Produce version: the records it sent, or the error it failed with. */
const sent = new Map<number, { records: ReadRecord[] } | { error: unknown }>();
/** Every committed record, as librdkafka reads them. */
let committed: ReadRecord[];
let abortedOffsets: Set<string>;
const consumers: OrderConsumer[] = [];

function librdkafkaStep(transaction: PlanStep["transaction"], tag: string, codec: Compression): PlanStep {
  return {
    config: { "compression.type": codec },
    transaction,
    records: Array.from({ length: 6 }, (_, i) => ({
      partition: i % PARTITIONS,
      key: i % 3 === 0 ? null : `k-${tag}-${i}`,
      value: i === 5 ? null : `{"from":"${tag}","i":${i}}`,
      headers: i % 2 === 0 ? [["step", tag], ["step", "again"], ["none", null]] : [],
    })),
  };
}

beforeAll(async () => {
  topic = await uniqueTopic("kafka-versions", PARTITIONS);
  const conn = await testConnection("kafka-versions");
  bootstrap = conn.brokers[0]!;

  const probe = createConsumer(conn, { role: "probe", groupId: `kafka-versions-${crypto.randomUUID()}` });
  consumers.push(probe);
  const metadata = await probe.metadata({ topics: [topic] });
  served = await brokerApiVersions(await clientConnection(probe, metadata.brokers.get(metadata.topics.get(topic)!.partitions[0]!.leader)!));

  const before = await produceWithLibrdkafka(bootstrap, topic, [librdkafkaStep("commit", "before", "lz4"), librdkafkaStep("abort", "aborted-1", "zstd"), librdkafkaStep(null, "plain", "gzip")]);
  for (const version of versions(PRODUCE_VERSIONS)) {
    const producer = new BatchProducer(conn, { topic, compression: codecFor(version), role: `v${version}`, versions: { min: version, max: version } });
    const records: ReadRecord[] = [];
    try {
      await producer.partitions();
      const sets = Array.from({ length: PARTITIONS }, (_, partition) => {
        const set = new RecordSet();
        for (let i = 0; i < 4; i++) {
          const timestamp = Date.now() - 1_000 * i;
          const key = `k-v${version}-${i}`;
          const value = `{"produce_version":${version},"partition":${partition},"i":${i}}`;
          set.append(timestamp, utf8(key), utf8(value), encodeHeaders([[utf8("produce-version"), utf8(String(version))]]));
          records.push({ partition, offset: -1, timestamp, key, value, value_base64: utf8(value).toString("base64"), headers: [["produce-version", String(version)]] });
        }
        return { partition, records: set.records(), count: set.count, firstTimestamp: set.firstTimestamp, maxTimestamp: set.maxTimestamp };
      });
      const errors: unknown[] = [];
      await producer.send(producer.prepare(sets), { onError: (e) => void errors.push(e), giveUp: () => errors.length >= 20 });
      sent.set(version, { records });
    } catch (error) {
      sent.set(version, { error });
    } finally {
      await producer.close();
    }
  }
  const after = await produceWithLibrdkafka(bootstrap, topic, [librdkafkaStep("abort", "aborted-2", "snappy"), librdkafkaStep("commit", "after", "none")]);
  abortedOffsets = new Set([...before.filter((r) => r.step === 1), ...after.filter((r) => r.step === 0)].map((r) => `${r.partition}@${r.offset}`));
  const ours = [...sent.values()].reduce((n, s) => n + ("records" in s ? s.records.length : 0), 0);
  committed = await readCommitted(bootstrap, topic, before.length + after.length - abortedOffsets.size + ours);
  committed.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}, 120_000);

afterAll(async () => {
  await Promise.all(consumers.map((c) => c.close(true).catch(() => {})));
});

for (const version of versions(PRODUCE_VERSIONS)) {
  test(`Produce v${version}: the batches read back by librdkafka as sent, or a broker without v${version} refuses it by name`, () => {
    const outcome = sent.get(version)!;
    const range = served.get(0)!;
    if (version < range.min || version > range.max) {
      expect("error" in outcome).toBe(true);
      const error = (outcome as { error: unknown }).error;
      expect(error).toBeInstanceOf(UnsupportedBrokerError);
      expect((error as Error).message).toContain(`serves Produce v${range.min}-v${range.max}`);
      return;
    }
    expect("records" in outcome ? [] : [(outcome as { error: Error }).error.message]).toEqual([]);
    const mine = committed.filter((r) => r.headers.some(([k, v]) => k === "produce-version" && v === String(version)));
    const strip = (r: ReadRecord) => ({ partition: r.partition, timestamp: r.timestamp, key: r.key, value: r.value, value_base64: r.value_base64, headers: r.headers });
    expect(mine.map(strip)).toEqual((outcome as { records: ReadRecord[] }).records.map(strip).sort((a, b) => a.partition - b.partition));
  });
}

test("zstd below Produce v7 is refused by name before anything is sent", async () => {
  const conn = await testConnection("kafka-versions");
  const producer = new BatchProducer(conn, { topic, compression: "zstd", role: "zstd-v6", versions: { min: 3, max: 6 } });
  try {
    await producer.partitions();
    const set = new RecordSet();
    set.append(Date.now(), utf8("k"), utf8("{}"), encodeHeaders([]));
    const prepared = producer.prepare([{ partition: 0, records: set.records(), count: set.count, firstTimestamp: set.firstTimestamp, maxTimestamp: set.maxTimestamp }]);
    const error = await producer.send(prepared, { onError: () => {}, giveUp: () => true }).catch((e) => e);
    expect(error).toBeInstanceOf(UnsupportedBrokerError);
    expect((error as Error).message).toMatch(/zstd batches need v7 \(Kafka 2\.1 or later\): use another compression/);
  } finally {
    await producer.close();
  }
});

for (const version of versions(FETCH_VERSIONS)) {
  test(`Fetch v${version}: reads exactly the committed records librdkafka reads, or a broker without v${version} refuses it by name`, async () => {
    const consumer = createConsumer(await testConnection("kafka-versions"), { role: `fetch-v${version}`, groupId: `kafka-versions-${crypto.randomUUID()}` });
    consumers.push(consumer);
    const fetcher = new GroupFetcher(consumer, topic, { versions: { min: version, max: version }, prefetch: version % 2 === 0 });
    const positions = new Map(Array.from({ length: PARTITIONS }, (_, p) => [p, 0n] as [number, bigint]));
    const range = served.get(1)!;
    if (version < range.min || version > range.max) {
      const error = await fetcher.fetchRanges(positions, () => {}).catch((e) => e);
      expect(error).toBeInstanceOf(UnsupportedBrokerError);
      expect((error as Error).message).toContain(`serves Fetch v${range.min}-v${range.max}`);
      return;
    }
    const read: ReadRecord[] = [];
    for (let rounds = 0; ; rounds++) {
      const fetched = await fetcher.fetchRanges(positions, (partition, offset, data, valueStart, valueEnd, keyStart, keyEnd, timestamp, headersStart, headersEnd) => {
        read.push({
          partition,
          offset,
          timestamp,
          key: keyStart < 0 ? null : text.decode(data.subarray(keyStart, keyEnd)),
          value: valueStart < 0 ? null : text.decode(data.subarray(valueStart, valueEnd)),
          value_base64: valueStart < 0 ? null : Buffer.from(data.subarray(valueStart, valueEnd)).toString("base64"),
          headers: readRecordHeaders(data, headersStart, headersEnd).map(([k, v]) => [text.decode(k), v === null ? null : text.decode(v)]),
        });
      });
      expect([...fetched.unread]).toEqual([]);
      for (const [p, next] of fetched.nextPositions) positions.set(p, next);
      if ([...positions].every(([p, next]) => fetched.highWatermarks.get(p) === next)) break;
      expect(rounds).toBeLessThan(100);
    }
    read.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
    expect(read).toEqual(committed);
    expect(read.filter((r) => abortedOffsets.has(`${r.partition}@${r.offset}`))).toEqual([]);
    expect(read.length).toBeGreaterThan(40);
  });
}
