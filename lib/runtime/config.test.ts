import { describe, expect, test } from "bun:test";
import {
  ConfigError,
  groupSettings,
  describeSettings,
  intParser,
  kafkaSettings,
  oneOf,
  parseBrokers,
  parseDurationMs,
  parseTopic,
  readConfig,
  topicSettings,
} from "./config.ts";

/** The security settings' defaults: PLAINTEXT, nothing else set. */
const NO_SECURITY = {
  KAFKA_SECURITY_PROTOCOL: "PLAINTEXT",
  KAFKA_SASL_MECHANISM: "SCRAM-SHA-512",
  KAFKA_SASL_USERNAME: "",
  KAFKA_SASL_PASSWORD: "",
  KAFKA_SASL_PASSWORD_FILE: "",
  KAFKA_SSL_CA_FILE: "",
  KAFKA_SSL_CERT_FILE: "",
  KAFKA_SSL_KEY_FILE: "",
} as const;

describe("readConfig()", () => {
  test("uses every default when the environment is empty", () => {
    expect(readConfig({ ...kafkaSettings, ...topicSettings }, {})).toEqual({
      KAFKA_BROKERS: ["127.0.0.1:9092"],
      KAFKA_CLIENT_ID: "orderpulse",
      ...NO_SECURITY,
      ORDERS_TOPIC: "orders",
      DLQ_TOPIC: "orders.dlq",
      LATE_TOPIC: "orders.late",
      ORDERS_PARTITIONS: 6,
    });
  });

  test("treats an empty or blank variable as unset", () => {
    expect(readConfig(topicSettings, { ORDERS_TOPIC: "  " }).ORDERS_TOPIC).toBe("orders");
  });

  test("parses given values", () => {
    const config = readConfig(kafkaSettings, { KAFKA_BROKERS: "a:1, b:2", KAFKA_CLIENT_ID: "me" });
    expect(config).toEqual({ KAFKA_BROKERS: ["a:1", "b:2"], KAFKA_CLIENT_ID: "me", ...NO_SECURITY });
  });

  test("names every bad variable and its expected form in one error", () => {
    let caught: unknown;
    try {
      readConfig({ ...kafkaSettings, ...topicSettings }, { KAFKA_BROKERS: "nohost", ORDERS_PARTITIONS: "0" });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.code).toBe("CONFIG_INVALID");
    expect(error.problems.map((p) => p.variable)).toEqual(["KAFKA_BROKERS", "ORDERS_PARTITIONS"]);
    expect(error.message).toContain('KAFKA_BROKERS: expected host:port[,host:port...], got "nohost"');
    expect(error.message).toContain("ORDERS_PARTITIONS: expected a whole number 1..1000");
  });

  test("never shows the value of a secret setting", () => {
    const spec = {
      TOKEN: { describe: "t", form: "a token", default: "", secret: true, parse: oneOf(["x"] as const) },
    };
    expect(() => readConfig(spec, { TOKEN: "hunter2" })).toThrow(/TOKEN: expected a token, got \(hidden\)/);
    expect(() => readConfig(spec, { TOKEN: "hunter2" })).not.toThrow(/hunter2/);
  });
});

describe("parsers", () => {
  test("parseBrokers() accepts host names, IPv4 and bracketed IPv6", () => {
    expect(parseBrokers("kafka:9092,127.0.0.1:19092,[::1]:9093")).toEqual(["kafka:9092", "127.0.0.1:19092", "[::1]:9093"]);
  });

  test("parseBrokers() rejects a missing or out-of-range port", () => {
    expect(() => parseBrokers("kafka")).toThrow(RangeError);
    expect(() => parseBrokers("kafka:70000")).toThrow(/port from 1 to 65535/);
    expect(() => parseBrokers(",")).toThrow(/no broker/);
  });

  test("parseTopic() follows Kafka's topic name rule", () => {
    expect(parseTopic("orders.dlq_v2-x")).toBe("orders.dlq_v2-x");
    expect(() => parseTopic("orders dlq")).toThrow(RangeError);
    expect(() => parseTopic("..")).toThrow(RangeError);
    expect(() => parseTopic("x".repeat(250))).toThrow(RangeError);
  });

  test("parseDurationMs() reads units and compound durations", () => {
    expect([parseDurationMs("500ms"), parseDurationMs("2s"), parseDurationMs("1m"), parseDurationMs("1h")]).toEqual([
      500, 2_000, 60_000, 3_600_000,
    ]);
    expect(parseDurationMs("1m30s")).toBe(90_000);
    expect([parseDurationMs("7d"), parseDurationMs("1d12h")]).toEqual([604_800_000, 129_600_000]);
    expect(parseDurationMs("250")).toBe(250);
    expect(parseDurationMs("1.5s")).toBe(1_500);
  });

  test("parseDurationMs() rejects trailing junk and unknown units", () => {
    expect(() => parseDurationMs("1x")).toThrow(RangeError);
    expect(() => parseDurationMs("1m junk")).toThrow(RangeError);
    expect(() => parseDurationMs("")).toThrow(RangeError);
  });

  test("intParser() enforces whole numbers within bounds", () => {
    const parse = intParser(1, 10);
    expect(parse("10")).toBe(10);
    expect(() => parse("11")).toThrow(/outside 1..10/);
    expect(() => parse("1.5")).toThrow(TypeError);
  });
});

test("describeSettings() lists each variable with its form and default", () => {
  const { KAFKA_BROKERS, KAFKA_CLIENT_ID } = kafkaSettings;
  expect(describeSettings({ KAFKA_BROKERS, KAFKA_CLIENT_ID })).toBe(
    "  KAFKA_BROKERS            Kafka bootstrap brokers\n" +
      "                           form: host:port[,host:port...]; default: 127.0.0.1:9092\n" +
      "  KAFKA_CLIENT_ID          client id prefix sent to the broker (shows in its logs and quotas)\n" +
      "                           form: a word; default: orderpulse",
  );
});

test("kafkaSettings lists the security settings, and --help never shows the SASL password", () => {
  expect(Object.keys(kafkaSettings)).toEqual(["KAFKA_BROKERS", "KAFKA_CLIENT_ID", ...Object.keys(NO_SECURITY)]);
  expect(kafkaSettings.KAFKA_SASL_PASSWORD.secret).toBe(true);
  expect(() => readConfig(kafkaSettings, { KAFKA_SECURITY_PROTOCOL: "SASL" })).toThrow(
    /KAFKA_SECURITY_PROTOCOL: expected PLAINTEXT, SASL_PLAINTEXT, SASL_SSL or SSL, got "SASL"/,
  );
});

test("groupSettings() gives a worker kind its group, static membership id and session timeout", () => {
  const spec = groupSettings({ group: "X_GROUP", instanceId: "X_INSTANCE_ID" }, "x", "orderpulse-x");
  expect(readConfig(spec, {})).toEqual({ X_GROUP: "orderpulse-x", X_INSTANCE_ID: "", KAFKA_SESSION_TIMEOUT: 10_000 });
  expect(readConfig(spec, { X_GROUP: "g", X_INSTANCE_ID: "x-1", KAFKA_SESSION_TIMEOUT: "6s" })).toEqual({ X_GROUP: "g", X_INSTANCE_ID: "x-1", KAFKA_SESSION_TIMEOUT: 6_000 });
});
