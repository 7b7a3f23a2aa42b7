/**
 * Where the lake's Delta table is, as every worker, script and notebook names it: `LAKE_URI`, a
 * local directory (`data/lake/orders`, `file:///srv/lake/orders`) or an S3 bucket and prefix
 * (`s3://orderpulse/lake/orders`), with the object store's endpoint and credentials in the
 * variables AWS's own tools read. {@link openLakeStore} turns them into a {@link LakeStore}.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type ConfigOf, ConfigError, type Env, type SettingsSpec } from "../runtime/config.ts";
import { FileLakeStore } from "./file-store.ts";
import { parseS3Uri, S3LakeStore } from "./s3-store.ts";
import type { LakeStore } from "./store.ts";
import { transientLakeProblem } from "./writer-errors.ts";

const text = (raw: string) => raw;

export const lakeSettings = {
  LAKE_URI: {
    describe: "the orders table (a Delta Lake table): a local directory or an S3 bucket and prefix",
    form: "a directory path, file:///path or s3://bucket[/prefix]",
    default: "data/lake/orders",
    parse: (raw: string) => {
      if (raw.startsWith("s3://")) parseS3Uri(raw);
      else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) && !raw.startsWith("file://")) {
        throw new RangeError("only local paths, file:// and s3:// lakes are supported");
      }
      return raw;
    },
  },
  AWS_ENDPOINT_URL: {
    describe: "the S3-compatible object store of an s3:// lake (unset: AWS S3 of AWS_REGION)",
    form: "http(s)://host[:port]",
    default: "",
    parse: (raw: string) => {
      const url = new URL(raw);
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new RangeError("use http:// or https://");
      return raw.replace(/\/+$/, "");
    },
  },
  AWS_REGION: { describe: "region of an s3:// lake's bucket", form: "a region name", default: "us-east-1", parse: text },
  AWS_ACCESS_KEY_ID: { describe: "access key of an s3:// lake", form: "a key id", default: "", parse: text },
  AWS_SECRET_ACCESS_KEY: { describe: "secret key of an s3:// lake (or AWS_SECRET_ACCESS_KEY_FILE)", form: "a secret", default: "", parse: text, secret: true },
  AWS_SECRET_ACCESS_KEY_FILE: { describe: "file holding the secret key of an s3:// lake", form: "a file path", default: "", parse: text },
  AWS_SESSION_TOKEN: { describe: "session token of temporary credentials for an s3:// lake", form: "a token", default: "", parse: text, secret: true },
} satisfies SettingsSpec;

export type LakeConfig = ConfigOf<typeof lakeSettings>;

/** A lake store and the name to show for it in log lines. */
export interface OpenedLake {
  store: LakeStore;
  /** `s3://bucket/prefix` or the local directory. */
  where: string;
  kind: "file" | "s3";
}

/**
 * The store `config.LAKE_URI` names. The variable LAKE_DIR of orderpulse before the Delta table
 * is refused by name rather than ignored, so that an old setup does not quietly write elsewhere.
 */
export function openLakeStore(config: LakeConfig, env: Env = {}): OpenedLake {
  if (env.LAKE_DIR && !env.LAKE_URI) {
    throw new ConfigError([{ variable: "LAKE_DIR", message: `LAKE_DIR is now LAKE_URI (a directory or s3://bucket/prefix): set LAKE_URI=${env.LAKE_DIR} instead` }]);
  }
  const uri = config.LAKE_URI;
  if (!uri.startsWith("s3://")) {
    const dir = uri.startsWith("file://") ? fileURLToPath(uri) : uri;
    return { store: new FileLakeStore(dir), where: dir, kind: "file" };
  }
  let secretAccessKey = config.AWS_SECRET_ACCESS_KEY;
  if (config.AWS_SECRET_ACCESS_KEY_FILE) {
    if (secretAccessKey) throw new ConfigError([{ variable: "AWS_SECRET_ACCESS_KEY_FILE", message: "set AWS_SECRET_ACCESS_KEY or AWS_SECRET_ACCESS_KEY_FILE, not both" }]);
    try {
      secretAccessKey = readFileSync(config.AWS_SECRET_ACCESS_KEY_FILE, "utf8").replace(/\r?\n$/, "");
    } catch (error) {
      throw new ConfigError([{ variable: "AWS_SECRET_ACCESS_KEY_FILE", message: `cannot read ${config.AWS_SECRET_ACCESS_KEY_FILE}: ${(error as Error).message}` }]);
    }
  }
  const { bucket, prefix } = parseS3Uri(uri);
  const store = new S3LakeStore({
    bucket,
    prefix,
    region: config.AWS_REGION,
    ...(config.AWS_ENDPOINT_URL ? { endpoint: config.AWS_ENDPOINT_URL } : {}),
    ...(config.AWS_ACCESS_KEY_ID ? { accessKeyId: config.AWS_ACCESS_KEY_ID } : {}),
    ...(secretAccessKey ? { secretAccessKey } : {}),
    ...(config.AWS_SESSION_TOKEN ? { sessionToken: config.AWS_SESSION_TOKEN } : {}),
  });
  return { store, where: store.uri, kind: "s3" };
}

/**
 * Checks, before a worker writes, that the lake can hold the table: an object store must honour
 * conditional writes (two writers must never both win a commit), and a directory of orderpulse's
 * lake from before the Delta table (`_offsets/`, `_journal/`, no `_delta_log/`) is refused rather
 * than mixed with a table its readers would not understand.
 */
export async function checkLakeWritable(lake: OpenedLake): Promise<void> {
  const top = await lake.store.list("");
  if (!top.includes("_delta_log") && (top.includes("_offsets") || top.includes("_journal"))) {
    throw new Error(
      `${lake.where} holds a lake of an orderpulse version before the Delta table (_offsets/, _journal/ and no _delta_log/): this version ` +
        "writes a Delta Lake table and does not extend it. Keep it for that version's readers and point LAKE_URI at a new location; the new " +
        "writer reads each partition of the topic from its start (everything Kafka still retains).",
    );
  }
  if (lake.store instanceof S3LakeStore) await lake.store.checkConditionalWrites();
}

/**
 * Runs `step` until it succeeds, waiting out an object store (or a disk) that is not there yet,
 * as a worker started beside its object store must: resolves true once it succeeded, false when
 * `signal` aborted first; any other error is thrown.
 */
export async function untilLakeAnswers(step: () => Promise<void>, signal: AbortSignal, log: (line: string) => void, retryMs = 1_000): Promise<boolean> {
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      await step();
      return true;
    } catch (error) {
      const problem = transientLakeProblem(error);
      if (problem === undefined) throw error;
      if (attempt === 1 || attempt % 30 === 0) {
        log(`waiting for the lake (${problem === "disk-full" ? "its disk is full" : "its object store does not answer"}): ${(error as Error).message}; retrying every ${retryMs / 1000} s`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, retryMs);
        signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
  }
  return false;
}
