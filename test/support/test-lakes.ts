/**
 * The lake's two storages as the worker tests use them: a Delta table on a local directory, or
 * on a real S3 server (moto, test/support/s3-server.ts). Each gives the store the test reads
 * with and the environment a worker process needs to write the same table.
 */
import { join } from "node:path";
import { FileLakeStore } from "../../lib/lake/file-store.ts";
import type { LakeStore } from "../../lib/lake/store.ts";
import { S3_TEST_CREDENTIALS, type S3Server } from "./s3-server.ts";

export type LakeKind = "local" | "s3";

export interface TestLake {
  kind: LakeKind;
  store: LakeStore;
  /** LAKE_URI and, for S3, the endpoint and credentials. */
  env: Record<string, string>;
  /** The lake's URI, for messages. */
  uri: string;
}

export function localLake(dir: string): TestLake {
  return { kind: "local", store: new FileLakeStore(dir), env: { LAKE_URI: dir }, uri: dir };
}

/** A table at `s3://bucket/prefix` of `server` (the bucket must exist). */
export function s3Lake(server: S3Server, bucket: string, prefix: string): TestLake {
  const uri = `s3://${bucket}/${prefix}`;
  return {
    kind: "s3",
    store: server.store(bucket, prefix),
    env: {
      LAKE_URI: uri,
      AWS_ENDPOINT_URL: server.url,
      AWS_REGION: S3_TEST_CREDENTIALS.region,
      AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
    },
    uri,
  };
}

/** A fresh lake of `kind`: a new directory under `scratch`, or a new prefix in `bucket`. */
export function freshLake(kind: LakeKind, scratch: string, server: S3Server | undefined, bucket: string, name: string): TestLake {
  const id = `${name}-${crypto.randomUUID().slice(0, 8)}`;
  if (kind === "local") return localLake(join(scratch, id));
  if (!server) throw new Error("an S3 lake needs the suite's S3 server");
  return s3Lake(server, bucket, `tables/${id}/orders`);
}

/** Both storages, for suites that run each case on each. */
export const LAKE_KINDS: readonly LakeKind[] = ["local", "s3"];

/** "a local directory" or "S3 (moto)", for test names. */
export function lakeLabel(kind: LakeKind): string {
  return kind === "local" ? "a local directory" : "S3 (moto)";
}
