/**
 * Kafka security settings (lib/runtime/config.ts `kafkaSecuritySettings`) turned into what a client
 * needs: the SASL mechanism and credentials, and the TLS material. Pure: files are read through
 * the function passed in, so tests and notebooks decide where they come from.
 *
 * The password is kept behind a function, never as a plain string field, so logging or
 * JSON-serialising a connection cannot print it.
 */
import { ConfigError } from "../runtime/config.ts";

export type SecurityProtocol = "PLAINTEXT" | "SASL_PLAINTEXT" | "SASL_SSL" | "SSL";
export type SaslMechanism = "SCRAM-SHA-512" | "SCRAM-SHA-256" | "PLAIN";

export interface KafkaSecurity {
  protocol: SecurityProtocol;
  /** Present for SASL_PLAINTEXT and SASL_SSL. */
  sasl?: { mechanism: SaslMechanism; username: string; password: () => string };
  /** Present for SSL and SASL_SSL; each field a PEM text, unset fields use node's defaults. */
  tls?: { ca?: string; cert?: string; key?: string };
}

export interface KafkaSecurityConfig {
  KAFKA_SECURITY_PROTOCOL: SecurityProtocol;
  KAFKA_SASL_MECHANISM: SaslMechanism;
  KAFKA_SASL_USERNAME: string;
  KAFKA_SASL_PASSWORD: string;
  KAFKA_SASL_PASSWORD_FILE: string;
  KAFKA_SSL_CA_FILE: string;
  KAFKA_SSL_CERT_FILE: string;
  KAFKA_SSL_KEY_FILE: string;
}

export const PLAINTEXT: KafkaSecurity = { protocol: "PLAINTEXT" };

/**
 * The security a configuration asks for. Throws one {@link ConfigError} naming every variable that
 * is missing, unreadable or does not fit the protocol (a SASL user with PLAINTEXT, a CA file
 * without TLS, a certificate without its key...), so a mistake stops the worker at start rather
 * than as a connection that silently skips authentication or encryption.
 */
export function kafkaSecurity(config: KafkaSecurityConfig, readFile: (path: string) => string): KafkaSecurity {
  const problems: { variable: string; message: string }[] = [];
  const protocol = config.KAFKA_SECURITY_PROTOCOL;
  const usesSasl = protocol === "SASL_PLAINTEXT" || protocol === "SASL_SSL";
  const usesTls = protocol === "SSL" || protocol === "SASL_SSL";
  const read = (variable: string, path: string): string | undefined => {
    try {
      const text = readFile(path);
      if (text.trim() === "") problems.push({ variable, message: `${path} is empty` });
      return text;
    } catch (error) {
      problems.push({ variable, message: `cannot read ${path}: ${(error as Error).message}` });
      return undefined;
    }
  };

  let sasl: KafkaSecurity["sasl"];
  if (usesSasl) {
    if (!config.KAFKA_SASL_USERNAME) problems.push({ variable: "KAFKA_SASL_USERNAME", message: `required with KAFKA_SECURITY_PROTOCOL=${protocol}` });
    let password = config.KAFKA_SASL_PASSWORD;
    if (password && config.KAFKA_SASL_PASSWORD_FILE) {
      problems.push({ variable: "KAFKA_SASL_PASSWORD_FILE", message: "set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both" });
    } else if (config.KAFKA_SASL_PASSWORD_FILE) {
      // A secrets file usually ends with a newline that is not part of the password.
      password = read("KAFKA_SASL_PASSWORD_FILE", config.KAFKA_SASL_PASSWORD_FILE)?.replace(/\r?\n$/, "") ?? "";
    } else if (!password) {
      problems.push({ variable: "KAFKA_SASL_PASSWORD", message: `KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE is required with KAFKA_SECURITY_PROTOCOL=${protocol}` });
    }
    sasl = { mechanism: config.KAFKA_SASL_MECHANISM, username: config.KAFKA_SASL_USERNAME, password: () => password };
  } else {
    for (const variable of ["KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SASL_PASSWORD_FILE"] as const) {
      if (config[variable]) {
        problems.push({ variable, message: `is set, but KAFKA_SECURITY_PROTOCOL=${protocol} does not authenticate; use SASL_PLAINTEXT or SASL_SSL` });
      }
    }
  }

  let tls: KafkaSecurity["tls"];
  if (usesTls) {
    tls = {};
    if (config.KAFKA_SSL_CA_FILE) tls.ca = read("KAFKA_SSL_CA_FILE", config.KAFKA_SSL_CA_FILE);
    if (Boolean(config.KAFKA_SSL_CERT_FILE) !== Boolean(config.KAFKA_SSL_KEY_FILE)) {
      const missing = config.KAFKA_SSL_CERT_FILE ? "KAFKA_SSL_KEY_FILE" : "KAFKA_SSL_CERT_FILE";
      problems.push({ variable: missing, message: "mutual TLS needs both KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE" });
    } else if (config.KAFKA_SSL_CERT_FILE) {
      tls.cert = read("KAFKA_SSL_CERT_FILE", config.KAFKA_SSL_CERT_FILE);
      tls.key = read("KAFKA_SSL_KEY_FILE", config.KAFKA_SSL_KEY_FILE);
    }
  } else {
    for (const variable of ["KAFKA_SSL_CA_FILE", "KAFKA_SSL_CERT_FILE", "KAFKA_SSL_KEY_FILE"] as const) {
      if (config[variable]) {
        problems.push({ variable, message: `is set, but KAFKA_SECURITY_PROTOCOL=${protocol} does not use TLS; use SSL or SASL_SSL` });
      }
    }
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return { protocol, ...(sasl ? { sasl } : {}), ...(tls ? { tls } : {}) };
}

/** One line for a worker's start-up log: the protocol and user, never the password. */
export function describeSecurity(security: KafkaSecurity): string {
  if (!security.sasl) return security.protocol;
  return `${security.protocol} as ${JSON.stringify(security.sasl.username)} (${security.sasl.mechanism})`;
}
