/**
 * Typed configuration from environment variables.
 *
 * Each worker declares the variables it reads as a {@link SettingsSpec}; {@link readConfig}
 * parses them all at start and throws one {@link ConfigError} naming every bad variable and
 * the form it expects, and {@link describeSettings} renders the same spec for `--help`.
 * Pure: the environment is passed in, so tests and Deno notebooks can use it as they like.
 */

/** One environment variable: how to parse it, its default, and what it means. */
export interface Setting<T> {
  /** What the variable is for, one line. */
  describe: string;
  /** The expected form, shown in `--help` and in errors, e.g. `host:port[,host:port...]`. */
  form: string;
  /** Used when the variable is unset or empty. */
  default: T;
  /** Throws a `RangeError` or `TypeError` whose message says what is wrong with `raw`. */
  parse(raw: string): T;
  /** Hide the value in `--help` and errors (tokens, passwords). */
  secret?: boolean;
}

export type SettingsSpec = Record<string, Setting<unknown>>;
export type ConfigOf<S extends SettingsSpec> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };
export type Env = Record<string, string | undefined>;

/** Every bad variable at once, so a person fixes them in one go. */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly code = "CONFIG_INVALID";
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(
      `invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join("\n")}\n` +
        "Fix the variables above (see --help for every setting and its default).",
    );
  }
}

export function readConfig<S extends SettingsSpec>(spec: S, env: Env): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  const problems: { variable: string; message: string }[] = [];
  for (const [variable, setting] of Object.entries(spec)) {
    const raw = env[variable];
    if (raw === undefined || raw.trim() === "") {
      out[variable] = setting.default;
      continue;
    }
    try {
      out[variable] = setting.parse(raw.trim());
    } catch (error) {
      const shown = setting.secret ? "(hidden)" : JSON.stringify(raw);
      let why = error instanceof Error ? error.message : String(error);
      // A parser's message may quote the value; a secret must not reach logs through it.
      if (setting.secret) why = why.replaceAll(raw.trim(), "(hidden)").replaceAll(JSON.stringify(raw.trim()), "(hidden)");
      problems.push({ variable, message: `expected ${setting.form}, got ${shown}: ${why}` });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as ConfigOf<S>;
}

/** `--help` lines for a spec: name, form, default and meaning of each variable. */
export function describeSettings(spec: SettingsSpec): string {
  const rows = Object.entries(spec).map(([variable, s]) => {
    const shownDefault = s.secret ? "(unset)" : formatDefault(s.default);
    return `  ${variable.padEnd(24)} ${s.describe}\n  ${"".padEnd(24)} form: ${s.form}; default: ${shownDefault}`;
  });
  return rows.join("\n");
}

function formatDefault(value: unknown): string {
  if (Array.isArray(value)) return value.join(",");
  if (value === undefined || value === "") return "(unset)";
  return String(value);
}

// ---- parsers -------------------------------------------------------------------------------

/** A list of `host:port` broker addresses, comma-separated. */
export function parseBrokers(raw: string): string[] {
  const brokers = raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (brokers.length === 0) throw new RangeError("no broker address given");
  for (const broker of brokers) {
    const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(broker);
    const port = match ? Number(match[2]) : 0;
    if (!match || port < 1 || port > 65535) {
      throw new RangeError(`${JSON.stringify(broker)} is not host:port with a port from 1 to 65535`);
    }
  }
  return brokers;
}

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/** A Kafka topic name: 1 to 249 of letters, digits, `.`, `_` and `-` (Kafka's own rule). */
export function parseTopic(raw: string): string {
  if (!TOPIC_NAME.test(raw) || raw === "." || raw === "..") {
    throw new RangeError("a topic name is 1 to 249 characters of A-Z, a-z, 0-9, '.', '_' and '-'");
  }
  return raw;
}

const DURATION_UNITS_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A duration such as `500ms`, `2s`, `1m`, `1h`, `7d` or `1m30s`, in milliseconds. Bare numbers are ms. */
export function parseDurationMs(raw: string): number {
  const text = raw.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let totalMs = 0;
  let consumed = 0;
  for (const match of text.matchAll(part)) {
    const unit = match[2] as keyof typeof DURATION_UNITS_MS;
    totalMs += Number(match[1]) * DURATION_UNITS_MS[unit];
    consumed += match[0].length;
  }
  if (consumed === 0 || consumed !== text.length) {
    throw new RangeError(`${JSON.stringify(raw)} is not a duration such as 500ms, 2s, 1m, 1h or 7d`);
  }
  return Math.round(totalMs);
}

/** A whole number within `[min, max]`. */
export function intParser(min: number, max = Number.MAX_SAFE_INTEGER): (raw: string) => number {
  return (raw) => {
    if (!/^-?\d+$/.test(raw)) throw new TypeError(`${JSON.stringify(raw)} is not a whole number`);
    const value = Number(raw);
    if (value < min || value > max) throw new RangeError(`${value} is outside ${min}..${max}`);
    return value;
  };
}

/** One of a closed set of words. */
export function oneOf<const T extends string>(choices: readonly T[]): (raw: string) => T {
  return (raw) => {
    if (!(choices as readonly string[]).includes(raw)) {
      throw new RangeError(`${JSON.stringify(raw)} is not one of ${choices.join(", ")}`);
    }
    return raw as T;
  };
}

// ---- the settings every worker shares ------------------------------------------------------

const filePath = (raw: string) => raw;

/**
 * How clients authenticate to Kafka and encrypt the connection; lib/kafka/security.ts turns them
 * into client options and checks the combinations. The password comes from the variable or a file
 * (`KAFKA_SASL_PASSWORD_FILE`, e.g. a Docker or Kubernetes secret) and is never shown.
 */
export const kafkaSecuritySettings = {
  KAFKA_SECURITY_PROTOCOL: {
    describe: "how clients talk to the brokers: SASL_* authenticate, *SSL encrypts with TLS",
    form: "PLAINTEXT, SASL_PLAINTEXT, SASL_SSL or SSL",
    default: "PLAINTEXT" as "PLAINTEXT" | "SASL_PLAINTEXT" | "SASL_SSL" | "SSL",
    parse: oneOf(["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] as const),
  },
  KAFKA_SASL_MECHANISM: {
    describe: "SASL mechanism (SASL_PLAINTEXT, SASL_SSL)",
    form: "SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN",
    default: "SCRAM-SHA-512" as "SCRAM-SHA-512" | "SCRAM-SHA-256" | "PLAIN",
    parse: oneOf(["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] as const),
  },
  KAFKA_SASL_USERNAME: { describe: "SASL user name", form: "a name", default: "", parse: (raw: string) => raw },
  KAFKA_SASL_PASSWORD: {
    describe: "SASL password (or KAFKA_SASL_PASSWORD_FILE)",
    form: "a password",
    default: "",
    parse: (raw: string) => raw,
    secret: true,
  },
  KAFKA_SASL_PASSWORD_FILE: { describe: "file holding the SASL password", form: "a file path", default: "", parse: filePath },
  KAFKA_SSL_CA_FILE: {
    describe: "PEM CA bundle that signed the brokers' certificates (unset: the system's CAs)",
    form: "a file path",
    default: "",
    parse: filePath,
  },
  KAFKA_SSL_CERT_FILE: { describe: "PEM client certificate, for brokers that require mutual TLS", form: "a file path", default: "", parse: filePath },
  KAFKA_SSL_KEY_FILE: { describe: "PEM private key of KAFKA_SSL_CERT_FILE (unencrypted)", form: "a file path", default: "", parse: filePath },
} satisfies SettingsSpec;

export const kafkaSettings = {
  KAFKA_BROKERS: {
    describe: "Kafka bootstrap brokers",
    form: "host:port[,host:port...]",
    default: ["127.0.0.1:9092"],
    parse: parseBrokers,
  },
  KAFKA_CLIENT_ID: {
    describe: "client id prefix sent to the broker (shows in its logs and quotas)",
    form: "a word",
    default: "orderpulse",
    parse: (raw: string) => {
      if (!/^[A-Za-z0-9._-]+$/.test(raw)) throw new RangeError("use letters, digits, '.', '_' and '-'");
      return raw;
    },
  },
  ...kafkaSecuritySettings,
} satisfies SettingsSpec;

export const topicSettings = {
  ORDERS_TOPIC: { describe: "topic of order events", form: "a topic name", default: "orders", parse: parseTopic },
  DLQ_TOPIC: {
    describe: "topic for invalid events, with the reason",
    form: "a topic name",
    default: "orders.dlq",
    parse: parseTopic,
  },
  LATE_TOPIC: {
    describe: "topic for events later than the watermark",
    form: "a topic name",
    default: "orders.late",
    parse: parseTopic,
  },
  ORDERS_PARTITIONS: {
    describe: "partitions of the orders topic when orderpulse creates it",
    form: "a whole number 1..1000",
    default: 6,
    parse: intParser(1, 1000),
  },
} satisfies SettingsSpec;

/**
 * The consumer-group settings of one kind of worker: its group id, optional static membership
 * (KIP-345) and the session timeout. `who` names the workers in `--help`, e.g. "aggregator".
 */
export function groupSettings<const G extends string, const I extends string>(
  names: { group: G; instanceId: I },
  who: string,
  defaultGroup: string,
): { [K in G]: Setting<string> } & { [K in I]: Setting<string> } & { KAFKA_SESSION_TIMEOUT: Setting<number> } {
  return {
    [names.group]: { describe: `consumer group of the ${who} workers`, form: "a group id", default: defaultGroup, parse: (raw: string) => raw },
    [names.instanceId]: {
      describe: `static group membership: a restarted ${who} with the same id keeps its partitions without a rebalance`,
      form: `a word unique per ${who}, or unset`,
      default: "",
      parse: (raw: string) => raw,
    },
    KAFKA_SESSION_TIMEOUT: {
      describe: "how long the group waits for a silent worker before moving its partitions",
      form: "a duration such as 10s",
      default: 10_000,
      parse: parseDurationMs,
    },
  } as { [K in G]: Setting<string> } & { [K in I]: Setting<string> } & { KAFKA_SESSION_TIMEOUT: Setting<number> };
}

/** Where a long-running worker serves /metrics, /healthz and /readyz (lib/ops/ops-server.ts). */
export const opsSettings = {
  METRICS_PORT: {
    describe: "port for GET /metrics (Prometheus text format), /healthz and /readyz; unset: none served (compose sets it)",
    form: "a port 0..65535 (0: any free one, logged), or unset",
    default: null as number | null,
    parse: (raw: string): number | null => intParser(0, 65_535)(raw),
  },
  METRICS_HOST: {
    describe: "address the metrics port listens on (0.0.0.0 for scrapers and probes from other hosts or containers)",
    form: "an IP address or host name",
    default: "127.0.0.1",
    parse: (raw: string) => raw,
  },
  READY_STALL_TIMEOUT: {
    describe: "/readyz answers 503 when records wait and none was processed, or no fetch answered, for this long",
    form: "a duration such as 60s",
    default: 60_000,
    parse: parseDurationMs,
  },
} satisfies SettingsSpec;

/** How every worker logs (lib/runtime/worker-runtime.ts); lib/runtime/cli.ts adds it to every worker's settings. */
export const logSettings = {
  LOG_FORMAT: {
    describe: "log lines: text (HH:MM:SS.mmm [worker] message, for people) or json (one object per line: time, level, worker, message, fields; for log shippers)",
    form: "text or json",
    default: "text",
    parse: oneOf(["text", "json"] as const),
  },
} satisfies SettingsSpec;
