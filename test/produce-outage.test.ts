/**
 * The producer through a broker outage and through a stop signal. The outage test runs its own
 * LocalBroker (not the shared one) so that stopping it disturbs no other suite.
 */
import { expect, test } from "bun:test";
import { ensureTopics } from "../lib/kafka/client.ts";
import { LocalBroker } from "../lib/kafka/local-broker.ts";
import { readTopic, startProducer, waitFor } from "./produce-harness.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";

const OUTAGE_MS = 10_000;

function sentSoFar(stderr: string): number {
  const all = [...stderr.matchAll(/sent ([\d,]+) \|/g)];
  return all.length === 0 ? 0 : Number(all.at(-1)![1]!.replaceAll(",", ""));
}

/** Each event id of `values` exactly once: returns the ids seen more than once. */
function repeatedIds(values: Buffer[]): string[] {
  const seen = new Set<string>();
  const repeated: string[] = [];
  for (const v of values) {
    const id = (JSON.parse(v.toString("utf8")) as { event_id: string }).event_id;
    if (seen.has(id)) repeated.push(id);
    seen.add(id);
  }
  return repeated;
}

test("the broker stopped for 10 s mid-run: every event the producer reports as sent is in the topic exactly once", async () => {
  await using broker = new LocalBroker();
  await broker.start();
  const conn = broker.connection("produce-outage");
  const topic = "orders-outage";
  await ensureTopics(conn, [{ name: topic, partitions: 3 }]);
  const COUNT = 60_000;
  const producer = startProducer(
    ["--seed", "3", "--rate", "5000", "--flat", "--count", String(COUNT), "--topic", topic, "--progress-every", "500ms"],
    { KAFKA_BROKERS: broker.bootstrap },
  );
  await waitFor(() => sentSoFar(producer.stderr()) >= 15_000);
  await broker.stop();
  const sentBeforeOutage = sentSoFar(producer.stderr());
  await Bun.sleep(OUTAGE_MS); // the outage itself is the one fixed wait the test is about
  await broker.start();
  const { exitCode, summary } = await producer.finished;
  expect(exitCode).toBe(0);
  expect(summary!.sent).toBe(COUNT);
  expect(sentBeforeOutage).toBeLessThan(COUNT);

  const messages = await readTopic(conn, topic);
  expect(repeatedIds(messages.map((m) => m.value))).toEqual([]);
  expect(messages.length).toBe(COUNT);
}, 120_000);

test("SIGTERM stops the producer: it flushes, summarises, exits 0, and the topic holds what it reports", async () => {
  const topic = await uniqueTopic("produce-sigterm", 3);
  const conn = await testConnection("produce-sigterm");
  const producer = startProducer(["--seed", "5", "--rate", "20000", "--flat", "--topic", topic, "--progress-every", "200ms"], {
    KAFKA_BROKERS: conn.brokers.join(","),
  });
  await waitFor(() => sentSoFar(producer.stderr()) >= 10_000);
  producer.proc.kill("SIGTERM");
  const { exitCode, summary } = await producer.finished;
  expect(exitCode).toBe(0);
  expect(summary!.stopped_by).toBe("SIGTERM");
  expect(producer.stderr()).toContain("produce summary");
  const messages = await readTopic(conn, topic);
  expect(messages.length).toBe(summary!.sent);
  expect(repeatedIds(messages.map((m) => m.value))).toEqual([]);
}, 60_000);
