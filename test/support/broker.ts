/**
 * The Kafka broker integration suites share: `KAFKA_BROKERS` when it is set, otherwise one
 * local broker per `bun test` process, started by the first suite that asks and stopped by the
 * preload's `afterAll` (test/support/preload.ts). `ORDERPULSE_KAFKA_VERSION` picks the Apache
 * Kafka release of that local broker (default: infra/kafka/pom.xml's; scripts/kafka-matrix.ts
 * runs suites against each release we support).
 */
import { randomUUID } from "node:crypto";
import { ensureTopics, type KafkaConnection } from "../../lib/kafka/client.ts";
import { LocalBroker } from "../../lib/kafka/local-broker.ts";
import { parseBrokers } from "../../lib/runtime/config.ts";

let shared: Promise<{ brokers: string[]; local?: LocalBroker }> | undefined;

export function testBrokers(): Promise<string[]> {
  shared ??= (async () => {
    const given = process.env.KAFKA_BROKERS;
    if (given) return { brokers: parseBrokers(given) };
    const version = process.env.ORDERPULSE_KAFKA_VERSION || undefined;
    const local = new LocalBroker({ version, onProgress: (line) => console.error(`[test broker] ${line}`) });
    await local.start();
    return { brokers: [local.bootstrap], local };
  })();
  return shared.then((s) => s.brokers);
}

/** The broker this process started, or undefined when the suites use `KAFKA_BROKERS`. */
export async function testLocalBroker(): Promise<LocalBroker | undefined> {
  await testBrokers();
  return (await shared)?.local;
}

export async function testConnection(role: string): Promise<KafkaConnection> {
  return { brokers: await testBrokers(), clientId: `test-${role}` };
}

/** A topic no other test uses, created with `partitions` partitions. */
export async function uniqueTopic(prefix: string, partitions: number): Promise<string> {
  const name = `${prefix}-${randomUUID().slice(0, 8)}`;
  await ensureTopics(await testConnection("admin"), [{ name, partitions }]);
  return name;
}

export async function stopSharedBroker(): Promise<void> {
  const current = shared;
  shared = undefined;
  const local = current ? (await current.catch(() => undefined))?.local : undefined;
  await local?.stop({ removeData: true });
}
