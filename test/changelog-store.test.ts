/**
 * lib/consume/changelog-store.ts against a real broker: the aggregator's state in a compacted
 * changelog topic, written incrementally, restored by another store (another "host"), fenced
 * against a worker that lost its partition.
 */
import { afterAll, expect, test } from "bun:test";
import { CHANGELOG_TOPIC_CONFIG, ChangelogStore } from "../lib/consume/changelog-store.ts";
import type { OrderEvent } from "../lib/event/order-event.ts";
import { createAdmin, createConsumer, createProducer, ensureTopics, type KafkaConnection } from "../lib/kafka/client.ts";
import { PartitionAggregator } from "../lib/window/partition-aggregator.ts";
import { plainPartition } from "./support/plain-snapshot.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";

const SETTINGS = { windowSizeMs: 60_000, watermarkDelayMs: 120_000, maxDimensionValues: 50, maxAheadMs: 10_000 };
/** What to close after the tests: consumers leave their group at once (close(true)); producers and admins take no argument. */
const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const close of closers) await close().catch(() => {});
});

function order(i: number): OrderEvent {
  return {
    schema_version: 1,
    event_id: `e-${i}`,
    order_id: `o-${i}`,
    user_id: `u-${i % 50_000}`,
    created_at: "2026-11-28T10:15:00.123Z",
    items: [{ sku: "s1", category: `c${i % 7}`, qty: 1, unit_price_minor: 100 }],
    discount_minor: 0,
    total: { amount_minor: 100, currency: "USD" },
    total_usd_cents: 100,
    country: "US",
    payment_method: "card",
    channel: "web",
    status: "paid",
  };
}

/** Events from..to, 1 ms of event time apart: 100,000 of them hold about 2.4 MB of fingerprints in two windows. */
function feed(state: PartitionAggregator, from: number, to: number): void {
  for (let i = from; i < to; i++) state.add(BigInt(i), order(i), 1_000_000 + i);
}

function storeFor(conn: KafkaConnection, topic: string, partition: number): ChangelogStore {
  const consumer = createConsumer(conn, { role: "test-changelog", groupId: `test-changelog-${crypto.randomUUID()}` });
  const producer = createProducer(conn, { role: "test-changelog", compression: "none" });
  closers.push(() => consumer.close(true), () => producer.close());
  return new ChangelogStore({ consumer, producer, topic, ensure: () => Promise.resolve() }, { topic: "orders", partition, settings: SETTINGS });
}

test("a state of megabytes saved by one store is restored by another, and later saves write only what changed", async () => {
  const conn = await testConnection("changelog-roundtrip");
  // A plain topic: the store does not depend on compaction (the settings test below checks those).
  const topic = await uniqueTopic("changelog-roundtrip", 2);
  const first = storeFor(conn, topic, 1);
  expect(await first.load()).toBeUndefined();
  const state = new PartitionAggregator("orders", 1, SETTINGS);
  feed(state, 0, 100_000);
  await first.save(state.snapshot());
  const full = first.bytesWritten;
  expect(full).toBeGreaterThan(2_000_000);
  feed(state, 100_000, 101_000);
  await first.save(state.snapshot());
  // 1,000 new ids and at most 1,000 new customers, 12 bytes each, plus a meta and tombstones.
  expect(first.bytesWritten - full).toBeLessThan(40_000);

  const second = storeFor(conn, topic, 1);
  const restored = await second.load();
  expect(plainPartition(restored!)).toEqual(plainPartition(state.snapshot()));
}, 60_000);

test("what the previous owner writes after a new owner took over is never restored", async () => {
  const conn = await testConnection("changelog-zombie");
  const topic = await uniqueTopic("changelog-zombie", 2);
  const zombie = storeFor(conn, topic, 0);
  await zombie.load();
  const zombieState = new PartitionAggregator("orders", 0, SETTINGS);
  feed(zombieState, 0, 5_000);
  await zombie.save(zombieState.snapshot());

  const owner = storeFor(conn, topic, 0);
  const ownerState = PartitionAggregator.restore((await owner.load())!, SETTINGS);
  // The zombie does not know it lost the partition: it goes on, and checkpoints further.
  feed(zombieState, 5_000, 9_000);
  await zombie.save(zombieState.snapshot());
  feed(ownerState, 5_000, 6_000);
  await owner.save(ownerState.snapshot());

  const next = storeFor(conn, topic, 0);
  expect(plainPartition((await next.load())!)).toEqual(plainPartition(ownerState.snapshot()));
}, 60_000);

test("ensureTopics() creates the changelog with its settings: compacted, segments rolled each minute, tombstones kept 10 minutes", async () => {
  const conn = await testConnection("changelog-config");
  const name = `changelog-config-${crypto.randomUUID().slice(0, 8)}`;
  expect(await ensureTopics(conn, [{ name, partitions: 3, configs: CHANGELOG_TOPIC_CONFIG, replicas: -1 }])).toEqual([name]);
  const admin = createAdmin(conn);
  closers.push(() => admin.close());
  const [described] = await admin.describeConfigs({ resources: [{ resourceType: 2, resourceName: name, configurationKeys: Object.keys(CHANGELOG_TOPIC_CONFIG) }] });
  const actual = Object.fromEntries(described!.configs.map((c) => [c.name, c.value]));
  expect(actual).toEqual({ ...CHANGELOG_TOPIC_CONFIG });
}, 60_000);

test("two stores that load one partition at once both get it (the loser of the claim race claims again); a restore reads one of their states whole", async () => {
  const conn = await testConnection("changelog-race");
  const topic = await uniqueTopic("changelog-race", 1);
  const [x, y] = [storeFor(conn, topic, 0), storeFor(conn, topic, 0)];
  await Promise.all([x.load(), y.load()]);
  const [xState, yState] = [new PartitionAggregator("orders", 0, SETTINGS), new PartitionAggregator("orders", 0, SETTINGS)];
  feed(xState, 0, 3_000);
  feed(yState, 0, 4_000);
  await Promise.all([x.save(xState.snapshot()), y.save(yState.snapshot())]);
  const restored = plainPartition((await storeFor(conn, topic, 0).load())!);
  expect([plainPartition(xState.snapshot()), plainPartition(yState.snapshot())]).toContainEqual(restored);
}, 60_000);
