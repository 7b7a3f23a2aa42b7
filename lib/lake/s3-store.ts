/**
 * A {@link LakeStore} on S3-compatible object storage, through Bun's built-in S3 client.
 *
 * Objects appear whole or not at all: a PUT is atomic and durable once S3 acknowledges it, so
 * `writeAtomic` is one PUT. `writeIfAbsent` is a conditional PUT (`If-None-Match: *`), which S3
 * and compatible stores answer with 412 Precondition Failed when the key exists: check and write
 * are one step on the server, and of two writers racing for one key exactly one wins. Bun's client
 * has no option for that header, so the PUT goes to a URL it presigns (SigV4, valid for a minute),
 * with the header added; an object store that ignores the header would silently replace the
 * object, so `checkConditionalWrites()` proves the store honours it before a lake uses it.
 *
 * Directories are key prefixes: `list(dir)` lists one level below `dir/` (ListObjectsV2 with the
 * delimiter `/`), files and "directories" alike, as the local store does.
 */
import type { S3Client } from "bun";
import type { LakeStore } from "./store.ts";

/**
 * Bun's S3 client, looked up at run time so that this module still imports under Deno (the
 * notebooks import lib/; an S3 lake there is not supported yet, and says so).
 */
function bunS3Client(): typeof S3Client {
  const client = (globalThis as { Bun?: { S3Client?: typeof S3Client } }).Bun?.S3Client;
  if (!client) throw new Error("an S3 lake needs Bun's S3 client: run this under Bun (the notebooks under Deno read a local lake only, for now)");
  return client;
}

export interface S3LakeStoreOptions {
  bucket: string;
  /** Key prefix of the lake inside the bucket, without leading or trailing `/`; "" for the bucket's root. */
  prefix: string;
  /** The endpoint, e.g. http://127.0.0.1:9000 for a local store. Default: AWS S3 for `region`. */
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Path-style URLs (`endpoint/bucket/key`), which most S3-compatible stores need. Default true with an `endpoint`. */
  pathStyle?: boolean;
}

/** What `s3://bucket/prefix` names. */
export function parseS3Uri(uri: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(uri);
  if (!match) throw new RangeError(`${JSON.stringify(uri)} is not an S3 URI: use s3://bucket or s3://bucket/prefix (a bucket name of 3-63 lower-case letters, digits, dots and hyphens)`);
  const prefix = (match[2] ?? "").replace(/^\/+|\/+$/g, "");
  if (prefix.split("/").some((part) => part === "..")) throw new RangeError(`${JSON.stringify(uri)}: the prefix must not contain ".."`);
  return { bucket: match[1]!, prefix };
}

export class S3LakeStore implements LakeStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly #client: S3Client;

  constructor(options: S3LakeStoreOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.#client = new (bunS3Client())({
      bucket: options.bucket,
      endpoint: options.endpoint,
      region: options.region ?? "us-east-1",
      accessKeyId: options.accessKeyId,
      secretAccessKey: options.secretAccessKey,
      sessionToken: options.sessionToken,
      virtualHostedStyle: options.endpoint ? options.pathStyle === false : undefined,
    });
  }

  /** `s3://bucket/prefix`, for log lines. */
  get uri(): string {
    return `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ""}`;
  }

  #key(path: string): string {
    if (path.split("/").some((part) => part === "..")) throw new RangeError(`lake path must stay inside the lake: got ${JSON.stringify(path)}`);
    if (path === "") return this.prefix;
    return this.prefix ? `${this.prefix}/${path}` : path;
  }

  async list(dir: string): Promise<string[]> {
    const base = this.#key(dir);
    const prefix = base === "" ? "" : `${base}/`;
    const names = new Set<string>();
    let continuationToken: string | undefined;
    do {
      const page = await this.#client.list({ prefix, delimiter: "/", continuationToken, maxKeys: 1000 });
      for (const object of page.contents ?? []) names.add(object.key.slice(prefix.length));
      for (const common of page.commonPrefixes ?? []) names.add(common.prefix.slice(prefix.length).replace(/\/$/, ""));
      continuationToken = page.isTruncated ? page.nextContinuationToken : undefined;
    } while (continuationToken);
    names.delete("");
    return [...names].sort();
  }

  async read(path: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await this.#client.file(this.#key(path)).arrayBuffer());
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async size(path: string): Promise<number | undefined> {
    try {
      return (await this.#client.file(this.#key(path)).stat()).size;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async modifiedAt(path: string): Promise<number | undefined> {
    try {
      return (await this.#client.file(this.#key(path)).stat()).lastModified.getTime();
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
    await this.#client.file(this.#key(path)).write(bytes);
  }

  async writeIfAbsent(path: string, bytes: Uint8Array): Promise<boolean> {
    const url = this.#client.file(this.#key(path)).presign({ method: "PUT", expiresIn: 60 });
    const response = await fetch(url, { method: "PUT", body: bytes, headers: { "If-None-Match": "*" } });
    if (response.ok) return true;
    const body = await response.text();
    // 412: the key exists. 409 ConditionalRequestConflict: a concurrent conditional write of the same key won.
    if (response.status === 412 || response.status === 409) return false;
    throw new Error(`S3 refused a conditional PUT of ${this.uri}/${path}: HTTP ${response.status} ${body.slice(0, 300)}`);
  }

  async remove(path: string): Promise<void> {
    // S3's DELETE of a missing key succeeds, as `remove` promises.
    await this.#client.file(this.#key(path)).delete();
  }

  /**
   * Throws unless the store refuses a second conditional PUT of one key: without that, two lake
   * writers could both win one commit. Writes and removes a probe object under `_probe/`.
   */
  async checkConditionalWrites(): Promise<void> {
    const path = `_probe/conditional-${crypto.randomUUID()}`;
    const first = await this.writeIfAbsent(path, new TextEncoder().encode("first"));
    const second = await this.writeIfAbsent(path, new TextEncoder().encode("second"));
    const kept = new TextDecoder().decode(await this.read(path));
    await this.remove(path);
    if (!first || second || kept !== "first") {
      throw new Error(
        `the object store at ${this.uri} does not honour If-None-Match on PUT (a second conditional write ${second ? "succeeded" : "failed"}, the object holds ${JSON.stringify(kept)}); ` +
          "the lake needs conditional writes (AWS S3 since 2024, MinIO, SeaweedFS, moto 5): use a store that has them",
      );
    }
  }
}

function isNotFound(error: unknown): boolean {
  const e = error as { code?: string; name?: string; status?: number };
  return e?.code === "NoSuchKey" || e?.code === "ENOENT" || e?.name === "NoSuchKey" || e?.status === 404;
}
