/**
 * The aggregator's CPU cost per record without a broker: the same seeded stream as
 * bench/aggregate.ts, encoded once into lz4 record batches as the producer writes them, then fed
 * through what the worker runs per fetch — lib/kafka/read-record-batches.ts, AggregatorEngine.processRange()
 * with a JSON-lines sink and checkpoint files, ticks every 200 ms and checkpoints every 5 s.
 *
 *   bun run bench/aggregate-cpu.ts [--events 1000000] [--partitions 6] [--rate 200] [--send 5000]
 *   bun --cpu-prof-md --cpu-prof-dir=DIR run bench/aggregate-cpu.ts      (a profile of the same)
 *
 * Prints CPU µs per record (this process, user + system) and records/s. Steadier than the broker
 * benchmark on a shared 2-core machine: no broker, no network, no other process in the loop; the
 * broker benchmark stays the figure of record.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createRecordsBatch } from "@platformatic/kafka";
import { AggregatorEngine } from "../lib/window/aggregator-engine.ts";
import { FileCheckpointStore } from "../lib/window/file-checkpoint-store.ts";
import { SnapshotStore } from "../lib/window/state-store.ts";
import { decompress } from "../lib/kafka/group-fetcher.ts";
import { crc32cOf } from "../lib/kafka/group-fetcher.ts";
import { JsonlSink } from "../lib/hot/jsonl-sink.ts";
import { partitionForKey } from "../lib/kafka/partitioner.ts";
import { readRecordBatches } from "../lib/kafka/read-record-batches.ts";
import { Simulator } from "../lib/event/simulator.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: { events: { type: "string", default: "1000000" }, partitions: { type: "string", default: "6" }, rate: { type: "string", default: "200" }, send: { type: "string", default: "5000" } },
});
/** Events per second of stream time: 200 as bench/aggregate.ts loads it (small windows); 20000 for windows as dense as a live run's. */
const ratePerS = Number(values.rate);
/** Events per producer send, split over the partitions into one batch each: 5000 as bench/aggregate.ts loads them; a live producer's 20 ms chunks at 20,000 events/s are 400. */
const sendEvents = Number(values.send);
const events = Number(values.events);
const partitions = Number(values.partitions);
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-bench-aggregate-cpu-"));

// The stream, as bench/aggregate.ts loads it: per partition, batches of the records of 5,000-event sends.
const simulator = new Simulator({
  seed: 1,
  startMs: Date.now() - (events / ratePerS) * 1000 - 3_600_000,
  ratePerS,
  lateFraction: 0.02,
  outOfOrderFraction: 0.2,
  duplicateFraction: 0.01,
  malformedFraction: 0.005,
});
const logs: Buffer[][] = Array.from({ length: partitions }, () => []);
const nextOffset = new Array<number>(partitions).fill(0);
for (let sent = 0; sent < events; ) {
  const byPartition: { key: Buffer; value: Buffer; topic: string }[][] = Array.from({ length: partitions }, () => []);
  for (let i = 0; i < sendEvents && sent < events; i++, sent++) {
    const r = simulator.next();
    byPartition[partitionForKey(r.key, partitions)]!.push({ topic: "orders", key: Buffer.from(r.key), value: Buffer.from(r.value) });
  }
  for (let p = 0; p < partitions; p++) {
    const messages = byPartition[p]!;
    if (messages.length === 0) continue;
    const batch = createRecordsBatch(messages as never, { compression: "lz4", producerId: 1n, producerEpoch: 0 }).buffer;
    batch.writeBigInt64BE(BigInt(nextOffset[p]!), 0); // the broker assigns the base offset
    nextOffset[p]! += messages.length;
    logs[p]!.push(batch);
  }
}
// "Fetch responses": each partition's batches cut into chunks of at most 2 MiB, as partitionMaxBytes does.
const responses: Buffer[][] = logs.map((batches) => {
  const chunks: Buffer[] = [];
  let current: Buffer[] = [];
  let size = 0;
  for (const b of batches) {
    if (size + b.length > 2 * 1024 * 1024 && current.length > 0) {
      chunks.push(Buffer.concat(current));
      current = [];
      size = 0;
    }
    current.push(b);
    size += b.length;
  }
  if (current.length > 0) chunks.push(Buffer.concat(current));
  return chunks;
});

const engine = new AggregatorEngine({
  topic: "orders",
  dlqTopic: "orders.dlq",
  lateTopic: "orders.late",
  clock: { now: () => Date.now() },
  sinks: [new JsonlSink(join(scratch, "results.jsonl"))],
  forwarder: { send() {}, flush: () => Promise.resolve() },
  stateStore: (c) => new SnapshotStore(new FileCheckpointStore(join(scratch, `partition-${c.partition}.ckpt`)), c),
  idleTimeoutMs: 2_000,
});
await engine.assign(
  Array.from({ length: partitions }, (_, p) => p),
  { offsetAt: () => Promise.resolve(0n), hasCommittedOffset: () => Promise.resolve(false) },
);

const options = { decompress, crc32c: crc32cOf };
const onRecord = engine.processRange.bind(engine);
const cpuStart = process.cpuUsage();
const started = performance.now();
let lastTick = started;
let lastCheckpoint = started;
for (let round = 0; responses.some((chunks) => round < chunks.length); round++) {
  for (let p = 0; p < partitions; p++) {
    const chunk = responses[p]![round];
    if (!chunk) continue;
    const from = Number(engine.nextOffset(p));
    readRecordBatches(chunk, from, (offset, data, vs, ve, ks, ke, ts, hs, he) => onRecord(p, offset, data, vs, ve, ks, ke, ts, hs, he), options);
  }
  const now = performance.now();
  if (now - lastTick >= 200) {
    lastTick = now;
    await engine.tick();
  }
  if (now - lastCheckpoint >= 5_000) {
    lastCheckpoint = now;
    await engine.checkpoint();
  }
  await new Promise((resolve) => setImmediate(resolve));
}
await engine.checkpoint();
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStart);
const t = engine.totals;
console.log(
  `aggregate-cpu: ${t.records.toLocaleString("en-US")} records (counted ${t.counted}, late ${t.late}, duplicates ${t.duplicates}, invalid ${t.invalid}) ` +
    `in ${seconds.toFixed(2)} s = ${Math.round(t.records / seconds).toLocaleString("en-US")} records/s; ` +
    `CPU ${((cpu.user + cpu.system) / t.records).toFixed(2)} µs/record; load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`,
);
rmSync(scratch, { recursive: true, force: true });
