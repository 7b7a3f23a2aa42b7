import { describe, expect, test } from "bun:test";
import { ConfigError } from "../runtime/config.ts";
import { describeSecurity, kafkaSecurity, type KafkaSecurityConfig } from "./security.ts";

const NONE: KafkaSecurityConfig = {
  KAFKA_SECURITY_PROTOCOL: "PLAINTEXT",
  KAFKA_SASL_MECHANISM: "SCRAM-SHA-512",
  KAFKA_SASL_USERNAME: "",
  KAFKA_SASL_PASSWORD: "",
  KAFKA_SASL_PASSWORD_FILE: "",
  KAFKA_SSL_CA_FILE: "",
  KAFKA_SSL_CERT_FILE: "",
  KAFKA_SSL_KEY_FILE: "",
};
const files: Record<string, string> = { "/pw": "s3cret\n", "/ca.pem": "CA", "/c.pem": "CERT", "/k.pem": "KEY", "/empty": "" };
const readFile = (path: string) => {
  const text = files[path];
  if (text === undefined) throw new Error(`ENOENT: no such file ${path}`);
  return text;
};
const problems = (config: Partial<KafkaSecurityConfig>) => {
  try {
    kafkaSecurity({ ...NONE, ...config }, readFile);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.variable}: ${p.message}`);
    throw error;
  }
  return [];
};

describe("kafkaSecurity()", () => {
  test("PLAINTEXT by default: no SASL, no TLS", () => {
    expect(kafkaSecurity(NONE, readFile)).toEqual({ protocol: "PLAINTEXT" });
  });

  test("SASL_SSL reads the password file without its trailing newline, and the CA", () => {
    const security = kafkaSecurity(
      { ...NONE, KAFKA_SECURITY_PROTOCOL: "SASL_SSL", KAFKA_SASL_USERNAME: "alice", KAFKA_SASL_PASSWORD_FILE: "/pw", KAFKA_SSL_CA_FILE: "/ca.pem" },
      readFile,
    );
    expect(security.sasl?.password()).toBe("s3cret");
    expect({ ...security, sasl: { ...security.sasl, password: undefined } }).toEqual({
      protocol: "SASL_SSL",
      sasl: { mechanism: "SCRAM-SHA-512", username: "alice", password: undefined },
      tls: { ca: "CA" },
    });
  });

  test("the password is not a string field, so serialising the security shows no password", () => {
    const security = kafkaSecurity({ ...NONE, KAFKA_SECURITY_PROTOCOL: "SASL_PLAINTEXT", KAFKA_SASL_USERNAME: "a", KAFKA_SASL_PASSWORD: "hunter2" }, readFile);
    expect(JSON.stringify(security)).not.toContain("hunter2");
    expect(Bun.inspect(security)).not.toContain("hunter2");
    expect(describeSecurity(security)).toBe('SASL_PLAINTEXT as "a" (SCRAM-SHA-512)');
  });

  test("SSL with a client certificate and key: mutual TLS", () => {
    expect(kafkaSecurity({ ...NONE, KAFKA_SECURITY_PROTOCOL: "SSL", KAFKA_SSL_CERT_FILE: "/c.pem", KAFKA_SSL_KEY_FILE: "/k.pem" }, readFile)).toEqual({
      protocol: "SSL",
      tls: { cert: "CERT", key: "KEY" },
    });
  });

  test("a SASL protocol without user or password names both variables", () => {
    expect(problems({ KAFKA_SECURITY_PROTOCOL: "SASL_PLAINTEXT" })).toEqual([
      "KAFKA_SASL_USERNAME: required with KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT",
      "KAFKA_SASL_PASSWORD: KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE is required with KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT",
    ]);
  });

  test("both a password and a password file is an error", () => {
    expect(problems({ KAFKA_SECURITY_PROTOCOL: "SASL_PLAINTEXT", KAFKA_SASL_USERNAME: "a", KAFKA_SASL_PASSWORD: "x", KAFKA_SASL_PASSWORD_FILE: "/pw" })).toEqual([
      "KAFKA_SASL_PASSWORD_FILE: set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both",
    ]);
  });

  test("an unreadable or empty file names its variable", () => {
    expect(problems({ KAFKA_SECURITY_PROTOCOL: "SASL_SSL", KAFKA_SASL_USERNAME: "a", KAFKA_SASL_PASSWORD_FILE: "/empty", KAFKA_SSL_CA_FILE: "/nope" })).toEqual([
      "KAFKA_SASL_PASSWORD_FILE: /empty is empty",
      "KAFKA_SSL_CA_FILE: cannot read /nope: ENOENT: no such file /nope",
    ]);
  });

  test("SASL credentials with a protocol that does not authenticate are an error, not ignored", () => {
    expect(problems({ KAFKA_SASL_USERNAME: "a", KAFKA_SASL_PASSWORD: "x" })).toEqual([
      "KAFKA_SASL_USERNAME: is set, but KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not authenticate; use SASL_PLAINTEXT or SASL_SSL",
      "KAFKA_SASL_PASSWORD: is set, but KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not authenticate; use SASL_PLAINTEXT or SASL_SSL",
    ]);
  });

  test("TLS files with a protocol without TLS are an error, not ignored", () => {
    expect(problems({ KAFKA_SECURITY_PROTOCOL: "SASL_PLAINTEXT", KAFKA_SASL_USERNAME: "a", KAFKA_SASL_PASSWORD: "x", KAFKA_SSL_CA_FILE: "/ca.pem" })).toEqual([
      "KAFKA_SSL_CA_FILE: is set, but KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT does not use TLS; use SSL or SASL_SSL",
    ]);
  });

  test("a client certificate without its key names the missing one", () => {
    expect(problems({ KAFKA_SECURITY_PROTOCOL: "SSL", KAFKA_SSL_CERT_FILE: "/c.pem" })).toEqual([
      "KAFKA_SSL_KEY_FILE: mutual TLS needs both KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE",
    ]);
  });
});
