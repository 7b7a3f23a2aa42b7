/**
 * An S3-compatible object store for the lake's suites: moto's server (the `moto[server]` package,
 * pinned, in the `.venv` scripts/setup.sh makes), on a free loopback port, in memory. Chosen over
 * a full object store because it installs from PyPI in seconds with the rest of the suites'
 * Python tools, and it honours `If-None-Match: *` on PUT (412 for an existing key), which the
 * lake's commits rely on (S3LakeStore.checkConditionalWrites() proves it at every start).
 */
import { afterAll, beforeAll } from "bun:test";
import { join } from "node:path";
import { S3LakeStore } from "../../lib/lake/s3-store.ts";
import { LocalServer } from "./local-server.ts";
import { repoRoot } from "./pipeline-harness.ts";

/** Credentials for moto (it checks none, but S3 clients sign every request). */
export const S3_TEST_CREDENTIALS = { accessKeyId: "orderpulse-test", secretAccessKey: "orderpulse-test-secret", region: "us-east-1" };

export class S3Server extends LocalServer {
  protected executable = join(repoRoot, ".venv", "bin", "moto_server");
  protected override installHint = "run `bash scripts/setup.sh` (it installs moto[server] into .venv)";

  constructor() {
    super("orderpulse-moto-");
  }

  protected command(): Promise<string[]> {
    return Promise.resolve([this.executable, "-H", "127.0.0.1", "-p", String(this.port)]);
  }

  protected async ready(): Promise<boolean> {
    return (await fetch(`${this.url}/moto-api/`)).ok;
  }

  /** Creates `bucket` (CreateBucket through the S3 API). */
  async createBucket(bucket: string): Promise<void> {
    const response = await fetch(`${this.url}/${bucket}`, { method: "PUT" });
    if (!response.ok && response.status !== 409) throw new Error(`CreateBucket ${bucket}: HTTP ${response.status} ${await response.text()}`);
  }

  /** A lake store on `s3://bucket/prefix` of this server. */
  store(bucket: string, prefix: string): S3LakeStore {
    return new S3LakeStore({ bucket, prefix, endpoint: this.url, ...S3_TEST_CREDENTIALS });
  }
}

/** An S3 server started before the calling suite's tests, with `bucket` created, and stopped after them. */
export function s3ServerForSuite(bucket: string): S3Server {
  const server = new S3Server();
  beforeAll(async () => {
    await server.start();
    await server.createBucket(bucket);
  }, 60_000);
  afterAll(() => server[Symbol.asyncDispose]());
  return server;
}
