/**
 * The broker a benchmark runs against: the one KAFKA_BROKERS names, or else a local Kafka
 * (lib/kafka/local-broker.ts, 1 GiB heap) started for the benchmark and removed by `stop()`.
 */
import { parseBrokers } from "../../lib/runtime/config.ts";
import type { KafkaConnection } from "../../lib/kafka/client.ts";
import { LocalBroker } from "../../lib/kafka/local-broker.ts";

export interface BenchBroker {
  conn: KafkaConnection;
  /** "local, same machine", or the addresses given. */
  description: string;
  stop(): Promise<void>;
}

export async function benchBroker(): Promise<BenchBroker> {
  if (process.env.KAFKA_BROKERS) {
    const brokers = parseBrokers(process.env.KAFKA_BROKERS);
    return { conn: { brokers, clientId: "bench" }, description: brokers.join(","), stop: () => Promise.resolve() };
  }
  const local = new LocalBroker({ heap: "1g", onProgress: (line) => console.error(`[bench broker] ${line}`) });
  await local.start();
  return { conn: local.connection("bench"), description: "local, same machine", stop: () => local.stop({ removeData: true }) };
}
