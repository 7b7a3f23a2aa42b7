/**
 * An S3-compatible object store for the lake's suites: moto's server (the `moto[server]` package,
 * pinned, in the `.venv` scripts/setup.sh makes), on a free loopback port, in memory. Chosen over
 * a full object store because it installs from PyPI in seconds with the rest of the suites'
 * Python tools, and it honours `If-None-Match: *` on PUT (412 for an existing key), which the
 * lake's commits rely on (S3LakeStore.checkConditionalWrites() proves it at every start).
 *
 * moto checks no credentials unless asked: {@link S3Server.requireSignatures} turns on its IAM
 * authentication, after which it recomputes every request's SigV4 signature with botocore and
 * refuses a wrong one (403 SignatureDoesNotMatch), as AWS does.
 */
import { afterAll, beforeAll } from "bun:test";
import { join } from "node:path";
import { S3LakeStore } from "../../lib/lake/s3-store.ts";
import { sha256Hex, signRequest } from "../../lib/lake/sigv4.ts";
import { LocalServer } from "./local-server.ts";
import { repoRoot } from "./pipeline-harness.ts";

/** Credentials for moto (it checks none unless asked, but S3 clients sign every request). */
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
  store(bucket: string, prefix: string, credentials: { accessKeyId: string; secretAccessKey: string } = S3_TEST_CREDENTIALS): S3LakeStore {
    return new S3LakeStore({ bucket, prefix, endpoint: this.url, region: S3_TEST_CREDENTIALS.region, ...credentials });
  }

  /**
   * Turns on moto's authentication for the rest of this server's life and returns the key of an
   * IAM user allowed what `policy` allows (default: every S3 action): from then on a request must
   * be signed with that key, and moto evaluates the policy for it as AWS does. Create the buckets
   * first (createBucket sends no signature). Server-wide, so use a server of its own.
   */
  async requireSignatures(
    policy: unknown = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] },
  ): Promise<{ accessKeyId: string; secretAccessKey: string }> {
    const user = `lake-${crypto.randomUUID().slice(0, 8)}`;
    await this.#iam({ Action: "CreateUser", UserName: user });
    await this.#iam({ Action: "PutUserPolicy", UserName: user, PolicyName: "lake", PolicyDocument: JSON.stringify(policy) });
    const created = await this.#iam({ Action: "CreateAccessKey", UserName: user });
    const accessKeyId = /<AccessKeyId>([^<]+)<\/AccessKeyId>/.exec(created)?.[1];
    const secretAccessKey = /<SecretAccessKey>([^<]+)<\/SecretAccessKey>/.exec(created)?.[1];
    if (!accessKeyId || !secretAccessKey) throw new Error(`CreateAccessKey answered without a key: ${created.slice(0, 300)}`);
    // The number of requests still let through unauthenticated: none.
    const response = await fetch(`${this.url}/moto-api/reset-auth`, { method: "POST", body: "0" });
    if (!response.ok) throw new Error(`moto reset-auth: HTTP ${response.status} ${await response.text()}`);
    return { accessKeyId, secretAccessKey };
  }

  /** An IAM Query API call, before authentication is on (moto routes it to IAM by the signature's scope). */
  async #iam(params: Record<string, string>): Promise<string> {
    const body = new URLSearchParams({ ...params, Version: "2010-05-08" }).toString();
    const signed = await signRequest(
      { method: "POST", url: `${this.url}/`, headers: { "content-type": "application/x-www-form-urlencoded" }, payloadSha256: await sha256Hex(body) },
      { credentials: S3_TEST_CREDENTIALS, region: S3_TEST_CREDENTIALS.region, service: "iam", date: new Date() },
    );
    const response = await fetch(`${this.url}/`, { method: "POST", headers: signed.headers, body });
    const text = await response.text();
    if (!response.ok) throw new Error(`IAM ${params.Action}: HTTP ${response.status} ${text.slice(0, 300)}`);
    return text;
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
