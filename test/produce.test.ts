/**
 * workers/produce.ts as a real process against the test broker: a seed replays byte for byte,
 * what is consumed back is what the producer reported (keyed and partitioned by user_id), and
 * the injected faults a consumer observes equal the summary's counts, category by category.
 */
import { expect, test } from "bun:test";
import { FaultCensus } from "../lib/produce/fault-census.ts";
import { partitionForKey } from "../lib/kafka/partitioner.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { readTopic, runProducer } from "./produce-harness.ts";

const START = "2026-11-27T18:00:00.000Z";
const FAULTS = ["--late-fraction", "0.05", "--out-of-order", "0.1", "--duplicate-fraction", "0.03", "--malformed-fraction", "0.05"];
const COUNT = 20_000;

const lines = (bytes: Uint8Array): Buffer[] => {
  const out: Buffer[] = [];
  const buffer = Buffer.from(bytes);
  let from = 0;
  for (let at = buffer.indexOf(10); at >= 0; at = buffer.indexOf(10, from)) {
    out.push(buffer.subarray(from, at));
    from = at + 1;
  }
  return out;
};

test("--help prints the flags and the environment settings", async () => {
  const proc = Bun.spawn(["bun", "run", "workers/produce.ts", "--help"], { stdout: "pipe", stderr: "pipe" });
  const text = await new Response(proc.stdout).text();
  expect(await proc.exited).toBe(0);
  for (const word of ["--seed", "--rate", "--max", "--count", "--duration", "--late-fraction", "--out-of-order", "--duplicate-fraction", "--malformed-fraction", "--stdout", "KAFKA_BROKERS", "ORDERS_TOPIC"]) {
    expect(text).toContain(word);
  }
});

test("a bad flag value exits 2 with a message naming it", async () => {
  const result = await runProducer(["--stdout", "--late-fraction", "1.5", "--count", "1"]);
  expect(result.exitCode).toBe(2);
  expect(result.stderr).toContain("--late-fraction");
});

test("the same seed and start give byte-identical streams, and Kafka holds exactly those events keyed by user_id", async () => {
  const args = ["--seed", "42", "--start", START, "--max", "--count", String(COUNT), ...FAULTS];
  const [first, second] = await Promise.all([runProducer([...args, "--stdout"]), runProducer([...args, "--stdout"])]);
  expect(first.exitCode).toBe(0);
  expect(first.stdout.length).toBeGreaterThan(COUNT * 200);
  expect(Buffer.from(first.stdout).equals(Buffer.from(second.stdout))).toBe(true);
  // Golden digest taken before the producer and simulator were optimised for throughput.
  expect(new Bun.CryptoHasher("sha256").update(first.stdout).digest("hex")).toBe("994c86d2a0e623fd8b948028203af4eaa2b492eaae9dd3a18733260f658e5804");
  const expected = lines(first.stdout);
  expect(expected.length).toBe(COUNT);

  const topic = await uniqueTopic("produce-replay", 6);
  const conn = await testConnection("produce-replay");
  const kafkaRun = await runProducer([...args, "--topic", topic], { KAFKA_BROKERS: conn.brokers.join(",") });
  expect(kafkaRun.exitCode).toBe(0);
  expect(kafkaRun.summary?.sent).toBe(COUNT);

  const messages = await readTopic(conn, topic);
  expect(messages.length).toBe(COUNT);
  const sortedB64 = (values: Buffer[]) => values.map((v) => v.toString("base64")).sort();
  expect(sortedB64(messages.map((m) => m.value))).toEqual(sortedB64(expected));

  const problems: string[] = [];
  const partitionOfKey = new Map<string, number>();
  for (const m of messages) {
    if (m.headers.get("schema_version") !== "1") problems.push(`offset ${m.offset}: schema_version header ${m.headers.get("schema_version")}`);
    if (m.partition !== partitionForKey(m.key, 6)) problems.push(`key ${m.key} on partition ${m.partition}`);
    const before = partitionOfKey.get(m.key);
    if (before !== undefined && before !== m.partition) problems.push(`key ${m.key} on partitions ${before} and ${m.partition}`);
    partitionOfKey.set(m.key, m.partition);
    try {
      const event = JSON.parse(m.value.toString("utf8")) as { user_id?: unknown };
      if (typeof event.user_id === "string" && event.user_id !== m.key) problems.push(`key ${m.key} carries user ${event.user_id}`);
    } catch {
      // malformed on purpose; its key is still a customer's id
    }
  }
  expect(problems.slice(0, 10)).toEqual([]);
}, 60_000);

test("the injected fault counts in the summary equal what a consumer observes, category by category", async () => {
  const topic = await uniqueTopic("produce-faults", 4);
  const conn = await testConnection("produce-faults");
  const result = await runProducer(["--seed", "7", "--max", "--count", String(COUNT), ...FAULTS, "--topic", topic], {
    KAFKA_BROKERS: conn.brokers.join(","),
  });
  expect(result.exitCode).toBe(0);
  const summary = result.summary!;
  const census = new FaultCensus();
  for (const m of await readTopic(conn, topic)) census.observe(m.value, Number(m.headers.get("emitted_at_ms")));
  expect({ messages: census.counts.messages, faults: census.counts.faults, malformed: census.counts.malformed, unexplained: census.counts.unexplained })
    .toEqual({ messages: summary.sent, faults: summary.faults, malformed: summary.malformed, unexplained: 0 });
  // Each category was really exercised.
  for (const count of [...Object.values(summary.faults), ...Object.values(summary.malformed)]) expect(count).toBeGreaterThan(0);
}, 60_000);
