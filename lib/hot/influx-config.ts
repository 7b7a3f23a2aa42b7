/**
 * Where the hot path writes: InfluxDB settings from the environment. Secrets (token, password)
 * come from a variable or from a file (`*_FILE`, e.g. a Docker or Kubernetes secret) and are
 * never shown in `--help` or in errors.
 */
import { oneOf, type SettingsSpec } from "../runtime/config.ts";
import type { InfluxTarget } from "./influx-sink.ts";

const text = (raw: string) => raw;
function url(raw: string): string {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new RangeError("not a URL");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new RangeError("use http:// or https://");
  return raw;
}

export const influxSettings = {
  INFLUX_URL: { describe: "InfluxDB base URL; unset: no InfluxDB sink", form: "http(s)://host:port", default: "", parse: url },
  INFLUX_API: { describe: "which write API the server speaks", form: "v2 or v1", default: "v2" as "v2" | "v1", parse: oneOf(["v2", "v1"] as const) },
  INFLUX_ORG: { describe: "2.x: organization", form: "a name", default: "orderpulse", parse: text },
  INFLUX_BUCKET: { describe: "2.x: bucket", form: "a name", default: "orders", parse: text },
  INFLUX_TOKEN: { describe: "2.x: API token (or INFLUX_TOKEN_FILE)", form: "a token", default: "", parse: text, secret: true },
  INFLUX_TOKEN_FILE: { describe: "2.x: file holding the API token", form: "a file path", default: "", parse: text },
  INFLUX_DB: { describe: "1.x: database", form: "a name", default: "orderpulse", parse: text },
  INFLUX_RP: { describe: "1.x: retention policy (default: the database's default)", form: "a name", default: "", parse: text },
  INFLUX_USER: { describe: "1.x: user (unset: no authentication)", form: "a name", default: "", parse: text },
  INFLUX_PASSWORD: { describe: "1.x: password (or INFLUX_PASSWORD_FILE)", form: "a password", default: "", parse: text, secret: true },
  INFLUX_PASSWORD_FILE: { describe: "1.x: file holding the password", form: "a file path", default: "", parse: text },
} satisfies SettingsSpec;

export interface InfluxConfig {
  INFLUX_URL: string;
  INFLUX_API: "v2" | "v1";
  INFLUX_ORG: string;
  INFLUX_BUCKET: string;
  INFLUX_TOKEN: string;
  INFLUX_TOKEN_FILE: string;
  INFLUX_DB: string;
  INFLUX_RP: string;
  INFLUX_USER: string;
  INFLUX_PASSWORD: string;
  INFLUX_PASSWORD_FILE: string;
}

/**
 * The target described by the configuration, or undefined when INFLUX_URL is unset.
 * `readSecretFile` reads a `*_FILE` (passed in, so this stays free of I/O). Throws a RangeError
 * naming the variable when a secret is missing.
 */
export function influxTarget(config: InfluxConfig, readSecretFile: (path: string) => string): InfluxTarget | undefined {
  if (!config.INFLUX_URL) return undefined;
  const secret = (value: string, file: string, name: string) => {
    if (value) return value;
    if (!file) return "";
    try {
      return readSecretFile(file).trim();
    } catch (error) {
      throw new RangeError(`${name}_FILE: cannot read ${file}: ${(error as Error).message}`);
    }
  };
  if (config.INFLUX_API === "v2") {
    const token = secret(config.INFLUX_TOKEN, config.INFLUX_TOKEN_FILE, "INFLUX_TOKEN");
    if (!token) throw new RangeError("INFLUX_TOKEN or INFLUX_TOKEN_FILE is required for the InfluxDB 2.x API (INFLUX_API=v2)");
    return { api: "v2", url: config.INFLUX_URL, org: config.INFLUX_ORG, bucket: config.INFLUX_BUCKET, token };
  }
  const password = secret(config.INFLUX_PASSWORD, config.INFLUX_PASSWORD_FILE, "INFLUX_PASSWORD");
  return {
    api: "v1",
    url: config.INFLUX_URL,
    db: config.INFLUX_DB,
    ...(config.INFLUX_RP ? { retentionPolicy: config.INFLUX_RP } : {}),
    ...(config.INFLUX_USER ? { user: config.INFLUX_USER, password } : {}),
  };
}
