/**
 * Kafka SASL/SCRAM-SHA-512 against a local broker that requires it (test/support/sasl-broker.ts):
 * clients built by lib/kafka/client.ts log in and round-trip messages; a wrong password is refused at
 * once with an error that names the variables to check; a worker with a wrong password exits
 * non-zero saying so, and no worker prints the password, right or wrong.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createConsumer,
  createProducer,
  ensureTopics,
  isAuthenticationError,
  KafkaAuthenticationError,
  type KafkaConnection,
  MessagesStreamModes,
  waitForBroker,
} from "../lib/kafka/client.ts";
import type { LocalBroker } from "../lib/kafka/local-broker.ts";
import { leakedSecrets, runCaptured, secretForms } from "./support/captured-run.ts";
import { roundTrip } from "./support/pipeline-harness.ts";
import { SASL_PASSWORD, SASL_USER, saslBroker } from "./support/sasl-broker.ts";

const WRONG_PASSWORD = "wrong-Pw-0d9b44c1-Vy";
const SECRETS = [...secretForms(SASL_PASSWORD, SASL_USER), ...secretForms(WRONG_PASSWORD, SASL_USER)];

let broker: LocalBroker;
let scratch: string;
beforeAll(async () => {
  broker = await saslBroker();
  scratch = mkdtempSync(join(tmpdir(), "orderpulse-sasl-"));
}, 90_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function topic(conn: KafkaConnection, prefix: string): Promise<string> {
  const name = `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
  await ensureTopics(conn, [{ name, partitions: 3 }]);
  return name;
}

/** Every message of `topic` up to `count`, read by a new consumer group. */
async function consumeAll(conn: KafkaConnection, name: string, count: number): Promise<{ key: string; value: string }[]> {
  const consumer = createConsumer(conn, { role: "sasl-read", groupId: `sasl-read-${name}` });
  const out: { key: string; value: string }[] = [];
  try {
    const stream = await consumer.consume({ topics: [name], mode: MessagesStreamModes.EARLIEST, autocommit: false });
    for await (const m of stream) {
      out.push({ key: m.key, value: m.value.toString("utf8") });
      if (out.length >= count) break;
    }
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return out;
}

describe("SASL/SCRAM-SHA-512", () => {
  test("a producer and a consumer group that log in round-trip keyed messages", async () => {
    const conn = broker.connection("sasl-roundtrip");
    const { sent, received } = await roundTrip(conn, await topic(conn, "sasl-roundtrip"), 300);
    expect(received).toEqual(sent);
  }, 60_000);

  test("a wrong password is refused at once: waitForBroker throws KafkaAuthenticationError naming the variables", async () => {
    const started = performance.now();
    const error = await waitForBroker(broker.connection("sasl-wrong", { password: WRONG_PASSWORD }), { timeoutMs: 30_000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(KafkaAuthenticationError);
    // Not retried until the timeout: a refused login does not get better.
    expect(performance.now() - started).toBeLessThan(10_000);
    const message = (error as Error).message;
    expect(message).toContain(`Kafka authentication failed at ${broker.bootstrap} as user "${SASL_USER}" with SCRAM-SHA-512`);
    expect(message).toContain("KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)");
    expect(leakedSecrets(message, SECRETS)).toEqual([]);
  }, 30_000);

  test("a producer with a wrong password fails its send with an authentication error", async () => {
    // Not idempotent: the idempotent producer keeps retrying its producer-id request after a
    // refused login (@platformatic/kafka 2.12.1), which is why every worker calls waitForBroker
    // first — that fails at once (the test above).
    const producer = createProducer(broker.connection("sasl-wrong-produce", { password: WRONG_PASSWORD }), {
      role: "produce",
      timeoutMs: 3_000,
      idempotent: false,
    });
    try {
      const error = await producer.send({ messages: [{ topic: "any", key: "k", value: "v" }] }).then(() => undefined, (e: unknown) => e);
      expect(isAuthenticationError(error)).toBe(true);
    } finally {
      await producer.close().catch(() => {});
    }
  }, 30_000);

  test("a client without SASL gets no answer from the SASL listener", async () => {
    const plain: KafkaConnection = { brokers: [broker.bootstrap], clientId: "sasl-plain" };
    await expect(waitForBroker(plain, { timeoutMs: 2_000 })).rejects.toThrow(/no Kafka broker answered/);
  }, 30_000);
});

describe("workers against the SASL broker", () => {
  test("produce.ts with the password in KAFKA_SASL_PASSWORD_FILE sends its records and never prints the password", async () => {
    const conn = broker.connection("sasl-worker");
    const name = await topic(conn, "sasl-produce");
    const passwordFile = join(scratch, "kafka-password");
    writeFileSync(passwordFile, `${SASL_PASSWORD}\n`, { mode: 0o600 });
    const { KAFKA_SASL_PASSWORD: _, ...env } = broker.workerEnv();
    const run = runCaptured("workers/produce.ts", ["--count", "10", "--max", "--topic", name], {
      ...env,
      KAFKA_SASL_PASSWORD: "",
      KAFKA_SASL_PASSWORD_FILE: passwordFile,
    });
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain(`SASL_PLAINTEXT as "${SASL_USER}" (SCRAM-SHA-512)`);
    expect(leakedSecrets(run.output(), SECRETS)).toEqual([]);
    expect((await consumeAll(conn, name, 10)).length).toBe(10);
  }, 60_000);

  for (const [script, args] of [
    ["workers/produce.ts", ["--count", "10", "--max"]],
    ["workers/tail.ts", ["--from-beginning"]],
  ] as const) {
    test(`${script} with a wrong password exits 1 with a line that says authentication failed and names the variables, not the password`, async () => {
      const run = runCaptured(script, [...args], { ...broker.workerEnv(), KAFKA_SASL_PASSWORD: WRONG_PASSWORD });
      expect(await run.exited).toBe(1);
      const output = run.output();
      expect(output).toMatch(/^error: Kafka authentication failed at 127\.0\.0\.1:\d+ as user "orderpulse-test" with SCRAM-SHA-512; check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD \(or KAFKA_SASL_PASSWORD_FILE\)/m);
      expect(leakedSecrets(output, SECRETS)).toEqual([]);
    }, 30_000);
  }

  test("a SASL protocol without a user stops the worker at start, naming KAFKA_SASL_USERNAME", async () => {
    const run = runCaptured("workers/tail.ts", [], { ...broker.workerEnv(), KAFKA_SASL_USERNAME: "" });
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain("KAFKA_SASL_USERNAME: required with KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT");
    expect(leakedSecrets(run.output(), SECRETS)).toEqual([]);
  }, 30_000);
});
