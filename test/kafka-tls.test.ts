/**
 * Kafka over TLS against a local broker whose only client listener is SSL on 127.0.0.1, with a
 * certificate signed by a throw-away CA (test/support/tls-broker.ts, JDK keytool): clients
 * built by lib/kafka/client.ts that trust that CA (a PEM file, KAFKA_SSL_CA_FILE) round-trip messages,
 * and so do the workers; a client that trusts another CA is refused at once with one line that
 * says the certificate was refused and names the variables to check; a client without TLS gets
 * no answer.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ensureTopics, type KafkaConnection, KafkaTlsError, waitForBroker } from "../lib/kafka/client.ts";
import type { LocalBroker } from "../lib/kafka/local-broker.ts";
import { runCaptured } from "./support/captured-run.ts";
import { readTopic, roundTrip } from "./support/pipeline-harness.ts";
import { tlsBroker } from "./support/tls-broker.ts";
import type { TlsMaterial } from "./support/tls-material.ts";

let material: TlsMaterial;
let broker: LocalBroker;
beforeAll(async () => {
  ({ broker, material } = await tlsBroker());
}, 120_000);

async function topic(conn: KafkaConnection, prefix: string): Promise<string> {
  const name = `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
  await ensureTopics(conn, [{ name, partitions: 3 }]);
  return name;
}

/** A connection that trusts the wrong CA. */
function wrongCa(): KafkaConnection {
  return { brokers: [broker.bootstrap], clientId: "tls-wrong-ca", security: { protocol: "SSL", tls: { ca: readFileSync(material.wrongCaPemPath, "utf8") } } };
}

const REFUSED_LINE = /^error: Kafka TLS handshake failed at 127\.0\.0\.1:\d+: the broker's certificate was refused \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_[A-Z_]+): [^)]*\); check KAFKA_SSL_CA_FILE/m;

describe("TLS", () => {
  test("a producer and a consumer that trust the broker's CA round-trip keyed messages over TLS", async () => {
    const conn = broker.connection("tls-roundtrip");
    expect(conn.security?.protocol).toBe("SSL");
    const { sent, received } = await roundTrip(conn, await topic(conn, "tls-roundtrip"), 300);
    expect(received).toEqual(sent);
  }, 60_000);

  test("produce.ts with KAFKA_SECURITY_PROTOCOL=SSL and KAFKA_SSL_CA_FILE sends its records over TLS", async () => {
    const conn = broker.connection("tls-worker");
    const name = await topic(conn, "tls-produce");
    const run = runCaptured("workers/produce.ts", ["--count", "50", "--max", "--topic", name], broker.workerEnv());
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain(`${broker.bootstrap} (SSL)`);
    expect([...(await readTopic(conn, name)).values()].flat().length).toBe(50);
  }, 60_000);

  test("a client that trusts another CA is refused at once with a KafkaTlsError naming KAFKA_SSL_CA_FILE", async () => {
    const started = performance.now();
    const error = await waitForBroker(wrongCa(), { timeoutMs: 30_000 }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(KafkaTlsError);
    expect(performance.now() - started).toBeLessThan(15_000); // not retried until the timeout
    expect(`error: ${(error as Error).message}`).toMatch(REFUSED_LINE);
  }, 30_000);

  for (const [script, args] of [
    ["workers/produce.ts", ["--count", "10", "--max"]],
    ["workers/tail.ts", ["--from-beginning"]],
  ] as const) {
    test(`${script} trusting another CA exits 1 with one line that says the broker's certificate was refused`, async () => {
      const run = runCaptured(script, [...args], { ...broker.workerEnv(), KAFKA_SSL_CA_FILE: material.wrongCaPemPath });
      expect(await run.exited).toBe(1);
      expect(run.output()).toMatch(REFUSED_LINE);
    }, 60_000);
  }

  test("a client without TLS gets no answer from the TLS listener", async () => {
    const plain: KafkaConnection = { brokers: [broker.bootstrap], clientId: "tls-plain" };
    await expect(waitForBroker(plain, { timeoutMs: 2_000 })).rejects.toThrow(/no Kafka broker answered/);
  }, 30_000);
});
