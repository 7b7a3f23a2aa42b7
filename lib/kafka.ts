/**
 * The one place orderpulse talks to Kafka. Workers build their clients here so that every
 * client gets the same serialisation (string keys and headers, raw `Buffer` values so that
 * bytes which are not valid UTF-8 reach the validator intact), the same retry policy and the
 * same topic conventions.
 *
 * The client is @platformatic/kafka (pure TypeScript); see the README's design notes for why
 * not @confluentinc/kafka-javascript or kafkajs.
 */
import {
  Admin,
  compatibilityPartitioner,
  Consumer,
  type Message,
  ProduceAcks,
  Producer,
  stringDeserializer,
} from "@platformatic/kafka";

export { MessagesStreamModes, ProduceAcks } from "@platformatic/kafka";

export interface KafkaConnection {
  brokers: string[];
  /** Prefix of the client id the broker sees; each client appends its role. */
  clientId: string;
}

/** A consumed record: key and headers as strings, the value as the bytes on the wire. */
export type OrderMessage = Message<string, Buffer, string, string>;
/** Keys, values and headers may be strings (sent as UTF-8) or bytes encoded once up front. */
export type OrderProducer = Producer<string | Buffer, Buffer | string, string | Buffer, string | Buffer>;
export type OrderConsumer = Consumer<string, Buffer, string, string>;

/** A string as UTF-8 bytes; bytes as they are (so a hot loop can encode constant headers once). */
function utf8OrBytes(value: string | Buffer | undefined): Buffer | undefined {
  return value === undefined ? undefined : typeof value === "string" ? Buffer.from(value, "utf8") : value;
}

export interface ProducerOptions {
  /** Role appended to the client id, e.g. `produce`. */
  role: string;
  /** Idempotent producer with acks from all in-sync replicas. Default `true`. */
  idempotent?: boolean;
  /** Default `lz4`. */
  compression?: "none" | "gzip" | "snappy" | "lz4";
  /** Milliseconds before a request to the broker fails and is retried. Default 30 000. */
  timeoutMs?: number;
}

export function createProducer(conn: KafkaConnection, options: ProducerOptions): OrderProducer {
  const idempotent = options.idempotent ?? true;
  return new Producer({
    clientId: `${conn.clientId}-${options.role}`,
    bootstrapBrokers: conn.brokers,
    idempotent,
    acks: idempotent ? ProduceAcks.ALL : ProduceAcks.LEADER,
    compression: options.compression ?? "lz4",
    timeout: options.timeoutMs ?? 30_000,
    // Java's partitioner (murmur2 & 0x7fffffff): the library's default uses `>>> 0`, which puts
    // keys on other partitions than every standard Kafka tool would (see lib/partition.ts).
    partitioner: compatibilityPartitioner,
    serializers: { key: utf8OrBytes, value: utf8OrBytes, headerKey: utf8OrBytes, headerValue: utf8OrBytes },
    autocreateTopics: false,
  });
}

export interface ConsumerOptions {
  role: string;
  groupId: string;
  /** Longest time in ms the broker holds a fetch open when there is no data. Default 500. */
  maxWaitTimeMs?: number;
  /** Default 10 000. */
  sessionTimeoutMs?: number;
  /** Default 1 000. */
  heartbeatIntervalMs?: number;
  /**
   * Static membership (KIP-345): a restarted worker with the same instance id takes its old
   * place at once instead of waiting out the session timeout and a rebalance.
   */
  groupInstanceId?: string;
}

export function createConsumer(conn: KafkaConnection, options: ConsumerOptions): OrderConsumer {
  return new Consumer({
    clientId: `${conn.clientId}-${options.role}`,
    bootstrapBrokers: conn.brokers,
    groupId: options.groupId,
    deserializers: {
      key: stringDeserializer,
      headerKey: stringDeserializer,
      headerValue: stringDeserializer,
      value: (data: Buffer | undefined) => data ?? Buffer.alloc(0),
    },
    maxWaitTime: options.maxWaitTimeMs ?? 500,
    sessionTimeout: options.sessionTimeoutMs ?? 10_000,
    heartbeatInterval: options.heartbeatIntervalMs ?? 1_000,
    autocreateTopics: false,
    ...(options.groupInstanceId ? { groupInstanceId: options.groupInstanceId } : {}),
  });
}

export function createAdmin(conn: KafkaConnection): Admin {
  return new Admin({ clientId: `${conn.clientId}-admin`, bootstrapBrokers: conn.brokers });
}

export interface TopicSpec {
  name: string;
  partitions: number;
}

/**
 * Creates the topics that do not exist yet; existing ones are left as they are (their partition
 * count is not changed, since that would move keys to other partitions).
 * Returns the names it created.
 */
export async function ensureTopics(conn: KafkaConnection, topics: TopicSpec[]): Promise<string[]> {
  const admin = createAdmin(conn);
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.name));
    for (const topic of missing) {
      await admin.createTopics({ topics: [topic.name], partitions: topic.partitions, replicas: 1 });
    }
    return missing.map((t) => t.name);
  } finally {
    await admin.close();
  }
}

/**
 * Resolves once a broker answers a metadata request; rejects after `timeoutMs` with the last
 * error as `cause`. `onWait` is called once per failed attempt (for one log line per wait).
 */
export async function waitForBroker(
  conn: KafkaConnection,
  options: { timeoutMs?: number; intervalMs?: number; onWait?: (attempt: number, error: unknown) => void } = {},
): Promise<void> {
  const deadline = performance.now() + (options.timeoutMs ?? 60_000);
  let attempt = 0;
  for (;;) {
    attempt += 1;
    const admin = new Admin({
      clientId: `${conn.clientId}-probe`,
      bootstrapBrokers: conn.brokers,
      retries: 0,
      timeout: 2_000,
    });
    try {
      await admin.listTopics();
      return;
    } catch (error) {
      if (performance.now() >= deadline) {
        throw new Error(
          `no Kafka broker answered at ${conn.brokers.join(",")} within ${options.timeoutMs ?? 60_000} ms; ` +
            "start one with `bun run kafka` or point KAFKA_BROKERS at a running broker",
          { cause: error },
        );
      }
      options.onWait?.(attempt, error);
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
    } finally {
      await admin.close().catch(() => {});
    }
  }
}
