/**
 * The one place orderpulse talks to Kafka. Workers build their clients here so that every
 * client gets the same serialisation (string keys and headers, raw `Buffer` values so that
 * bytes which are not valid UTF-8 reach the validator intact), the same retry policy and the
 * same topic conventions.
 *
 * The client is @platformatic/kafka (pure TypeScript); see the README's design notes for why
 * not @confluentinc/kafka-javascript or kafkajs. The order producer's hot path sends batches it
 * encodes itself (lib/kafka/batch-producer.ts), still through a client built here.
 */
import { readFileSync } from "node:fs";
import type { ConnectionOptions as TlsOptions } from "node:tls";
import {
  Admin,
  type Base,
  type Broker,
  compatibilityPartitioner,
  type Connection,
  Consumer,
  type Message,
  kGetConnection,
  ProduceAcks,
  Producer,
  type SASLOptions,
  stringDeserializer,
} from "@platformatic/kafka";
import { describeSecurity, type KafkaSecurity, kafkaSecurity, type KafkaSecurityConfig } from "./security.ts";

export { MessagesStreamModes, ProduceAcks } from "@platformatic/kafka";

export interface KafkaConnection {
  brokers: string[];
  /** Prefix of the client id the broker sees; each client appends its role. */
  clientId: string;
  /** SASL and TLS for every client built from this connection. Default: PLAINTEXT. */
  security?: KafkaSecurity;
}

/**
 * The connection a worker's configuration describes (brokers, client id, security), reading the
 * password and TLS files named there. Throws a ConfigError naming each bad security variable.
 */
export function connectionFromConfig(
  config: { KAFKA_BROKERS: string[]; KAFKA_CLIENT_ID: string } & KafkaSecurityConfig,
  readFile: (path: string) => string = (path) => readFileSync(path, "utf8"),
): KafkaConnection {
  return { brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID, security: kafkaSecurity(config, readFile) };
}

/** `127.0.0.1:9092 (SASL_PLAINTEXT as "alice" (SCRAM-SHA-512))`, for log lines; never the password. */
export function describeConnection(conn: KafkaConnection): string {
  return `${conn.brokers.join(",")}${conn.security && conn.security.protocol !== "PLAINTEXT" ? ` (${describeSecurity(conn.security)})` : ""}`;
}

/** The client options every client gets from `conn.security`. */
function securityOptions(conn: KafkaConnection): { sasl?: SASLOptions; tls?: TlsOptions } {
  const security = conn.security;
  if (!security) return {};
  const options: { sasl?: SASLOptions; tls?: TlsOptions } = {};
  if (security.sasl) {
    // A provider function, so the password is not a field of the client's options.
    options.sasl = { mechanism: security.sasl.mechanism, username: security.sasl.username, password: security.sasl.password };
  }
  if (security.tls) options.tls = { ...security.tls };
  return options;
}

/**
 * The broker refused our credentials (SASL), as opposed to being unreachable. Workers stop on it at
 * once: retrying the same password cannot help. The message names the variables to check.
 */
export class KafkaAuthenticationError extends Error {
  override name = "KafkaAuthenticationError";
  readonly code = "KAFKA_AUTHENTICATION_FAILED";
  constructor(conn: KafkaConnection, options?: ErrorOptions) {
    const sasl = conn.security?.sasl;
    super(
      `Kafka authentication failed at ${conn.brokers.join(",")}` +
        (sasl ? ` as user ${JSON.stringify(sasl.username)} with ${sasl.mechanism}` : "") +
        "; check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE), KAFKA_SASL_MECHANISM and KAFKA_SECURITY_PROTOCOL",
      options,
    );
  }
}

/**
 * The broker's TLS certificate was refused (not signed by a trusted CA, expired, for another
 * host...), as opposed to the broker being unreachable. Workers stop on it at once: it will not
 * get better by waiting. The message names the variables to check; `reason` is the TLS code.
 */
export class KafkaTlsError extends Error {
  override name = "KafkaTlsError";
  readonly code = "KAFKA_TLS_CERTIFICATE_REFUSED";
  constructor(
    conn: KafkaConnection,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(
      `Kafka TLS handshake failed at ${conn.brokers.join(",")}: the broker's certificate was refused (${reason}); ` +
        "check KAFKA_SSL_CA_FILE (the CA that signed the brokers' certificates; unset: the system's CAs) and that KAFKA_BROKERS names hosts the certificates are for",
      options,
    );
  }
}

/** TLS verification codes of node's `tls` (and Bun's), for a refused certificate. */
const CERTIFICATE_CODES = /^(UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_[A-Z_]+|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)$/;

/** `CODE: message` of the certificate refusal in `error` or its causes, or undefined when it is none. */
export function certificateRefusal(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  const visit = (e: unknown): string | undefined => {
    if (!e || typeof e !== "object" || seen.has(e)) return undefined;
    seen.add(e);
    const { code, message, errors, cause } = e as { code?: unknown; message?: unknown; errors?: unknown; cause?: unknown };
    if (typeof code === "string" && CERTIFICATE_CODES.test(code)) return `${code}: ${String(message)}`;
    if (Array.isArray(errors)) for (const inner of errors) {
      const found = visit(inner);
      if (found) return found;
    }
    return visit(cause);
  };
  return visit(error);
}

/** Whether `error`, or anything in its causes, is the client's or the broker's authentication failure. */
export function isAuthenticationError(error: unknown): boolean {
  const seen = new Set<unknown>();
  const visit = (e: unknown): boolean => {
    if (!e || typeof e !== "object" || seen.has(e)) return false;
    seen.add(e);
    const { code, apiCode, errors, cause } = e as { code?: unknown; apiCode?: unknown; errors?: unknown; cause?: unknown };
    // PLT_KFK_AUTHENTICATION: the client's; 58 SASL_AUTHENTICATION_FAILED: the broker's.
    if (code === "PLT_KFK_AUTHENTICATION" || code === "KAFKA_AUTHENTICATION_FAILED" || apiCode === 58) return true;
    if (Array.isArray(errors) && errors.some(visit)) return true;
    return visit(cause);
  };
  return visit(error);
}

/** A consumed record: key and headers as strings, the value as the bytes on the wire. */
export type OrderMessage = Message<string, Buffer, string, string>;
/**
 * Keys, values and headers may be strings (sent as UTF-8) or bytes encoded once up front; a header
 * value may be undefined, sent as null (a forwarded record keeps its source's null header values).
 */
export type OrderProducer = Producer<string | Buffer, Buffer | string, string | Buffer, string | Buffer | undefined>;
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
  compression?: "none" | "gzip" | "snappy" | "lz4" | "zstd";
  /** Milliseconds before a request to the broker fails and is retried. Default 30 000. */
  timeoutMs?: number;
}

export function createProducer(conn: KafkaConnection, options: ProducerOptions): OrderProducer {
  const idempotent = options.idempotent ?? true;
  return new Producer<string | Buffer, Buffer | string, string | Buffer, string | Buffer | undefined>({
    clientId: `${conn.clientId}-${options.role}`,
    bootstrapBrokers: conn.brokers,
    ...securityOptions(conn),
    idempotent,
    acks: idempotent ? ProduceAcks.ALL : ProduceAcks.LEADER,
    compression: options.compression ?? "lz4",
    timeout: options.timeoutMs ?? 30_000,
    // Java's partitioner (murmur2 & 0x7fffffff): the library's default uses `>>> 0`, which puts
    // keys on other partitions than every standard Kafka tool would (see lib/kafka/partitioner.ts).
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

/**
 * The client reports a group rejoin that failed — its retries spent, or the consumer closed in
 * the middle of one (a stop during a rebalance) — as an `error` event, which unheard would end
 * the process with a stack trace. This hears it: `onFailure` gets the error unless `closing()`
 * says the worker is stopping (then the consumer is leaving the group anyway).
 */
export function onGroupFailure(consumer: OrderConsumer, closing: () => boolean, onFailure: (error: unknown) => void): void {
  consumer.on("error", (error: unknown) => {
    if (!closing()) onFailure(error);
  });
}

export function createConsumer(conn: KafkaConnection, options: ConsumerOptions): OrderConsumer {
  return new Consumer({
    clientId: `${conn.clientId}-${options.role}`,
    bootstrapBrokers: conn.brokers,
    ...securityOptions(conn),
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

/**
 * The client's pooled connection to `broker` (with the client's SASL and TLS), for the two paths
 * that send requests they build themselves: the producer's batches and the aggregator's fetches.
 */
export function clientConnection(client: Base, broker: Broker): Promise<Connection> {
  return new Promise((resolve, reject) => {
    client[kGetConnection](broker, (error, connection) => (error ? reject(error) : resolve(connection!)));
  });
}

export function createAdmin(conn: KafkaConnection): Admin {
  return new Admin({ clientId: `${conn.clientId}-admin`, bootstrapBrokers: conn.brokers, ...securityOptions(conn) });
}

export interface TopicSpec {
  name: string;
  partitions: number;
  /** Topic-level settings, e.g. `cleanup.policy`; the broker's defaults for the rest. */
  configs?: Readonly<Record<string, string>>;
  /** Replication factor; -1 takes the broker's `default.replication.factor`. Default 1. */
  replicas?: number;
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
    const created: string[] = [];
    for (const topic of missing) {
      try {
        await admin.createTopics({
          topics: [topic.name],
          partitions: topic.partitions,
          replicas: topic.replicas ?? 1,
          configs: Object.entries(topic.configs ?? {}).map(([name, value]) => ({ name, value })),
        });
        created.push(topic.name);
      } catch (error) {
        // Another worker created it meanwhile (TOPIC_ALREADY_EXISTS): what was wanted holds.
        if (!(await admin.listTopics()).includes(topic.name)) throw error;
      }
    }
    return created;
  } finally {
    await admin.close();
  }
}

/**
 * Kafka's default `message.max.bytes` (1 MiB + 12): the largest record batch a topic takes when
 * neither it nor its broker says otherwise. A record batch is what the limit measures: all of one
 * produce request's records for one partition, compressed when compression is on.
 */
export const KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/**
 * The largest record batch `topic` takes: its effective `max.message.bytes` as the broker
 * describes it (the topic's own setting, else the broker's `message.max.bytes`). Throws when the
 * broker does not answer, refuses to describe the topic, or the topic does not exist.
 */
export async function topicMaxMessageBytes(conn: KafkaConnection, topic: string): Promise<number> {
  const admin = createAdmin(conn);
  try {
    const [described] = await admin.describeConfigs({ resources: [{ resourceType: 2, resourceName: topic, configurationKeys: ["max.message.bytes"] }] });
    const raw = described?.configs.find((c) => c.name === "max.message.bytes")?.value;
    const bytes = raw == null ? Number.NaN : Number(raw);
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`topic ${topic}: max.message.bytes is ${JSON.stringify(raw ?? null)}, not a positive integer`);
    return bytes;
  } finally {
    await admin.close();
  }
}

/** How many partitions `topic` has, from the cluster's metadata; throws when it does not exist. */
export async function partitionCount(client: OrderConsumer | OrderProducer, topic: string): Promise<number> {
  const metadata = await client.metadata({ topics: [topic] });
  const count = metadata.topics.get(topic)?.partitionsCount;
  if (count === undefined) throw new Error(`topic ${topic} has no metadata; does it exist?`);
  return count;
}

/**
 * Resolves true once a broker answers a metadata request; rejects after `timeoutMs` with the
 * last error as `cause`. `onWait` is called once per failed attempt (for one log line per wait).
 * A refused login rejects at once with a {@link KafkaAuthenticationError}, a refused broker
 * certificate with a {@link KafkaTlsError}: a broker that is up and says no will not change its
 * mind. Resolves false as soon as `signal` is aborted (the worker is stopping): a stop never
 * waits for a broker that does not answer.
 */
export async function waitForBroker(
  conn: KafkaConnection,
  options: { timeoutMs?: number; intervalMs?: number; onWait?: (attempt: number, error: unknown) => void; signal?: AbortSignal } = {},
): Promise<boolean> {
  const deadline = performance.now() + (options.timeoutMs ?? 60_000);
  const signal = options.signal;
  const aborted = signal ? new Promise<false>((resolve) => (signal.aborted ? resolve(false) : signal.addEventListener("abort", () => resolve(false), { once: true }))) : undefined;
  let attempt = 0;
  for (;;) {
    if (signal?.aborted) return false;
    attempt += 1;
    const admin = new Admin({
      clientId: `${conn.clientId}-probe`,
      bootstrapBrokers: conn.brokers,
      ...securityOptions(conn),
      retries: 0,
      timeout: 2_000,
    });
    try {
      const answered = admin.listTopics().then(() => true);
      if (aborted) answered.catch(() => {});
      if (!(await (aborted ? Promise.race([answered, aborted]) : answered))) return false;
      return true;
    } catch (error) {
      if (isAuthenticationError(error)) throw new KafkaAuthenticationError(conn, { cause: error });
      const refusal = certificateRefusal(error);
      if (refusal) throw new KafkaTlsError(conn, refusal, { cause: error });
      if (performance.now() >= deadline) {
        throw new Error(
          `no Kafka broker answered at ${conn.brokers.join(",")} within ${options.timeoutMs ?? 60_000} ms; ` +
            "start one with `bun run kafka` or point KAFKA_BROKERS at a running broker",
          { cause: error },
        );
      }
      options.onWait?.(attempt, error);
      const pause = new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
      await (aborted ? Promise.race([pause, aborted]) : pause);
    } finally {
      await admin.close().catch(() => {});
    }
  }
}
