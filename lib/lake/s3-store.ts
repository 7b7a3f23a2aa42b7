/**
 * A {@link LakeStore} on S3-compatible object storage: a small S3 client of our own on `fetch`,
 * signed with SigV4 (./sigv4.ts, Web Crypto), so the same class runs under Bun and under Deno
 * (the notebooks). Six requests: GET, HEAD, PUT, conditional PUT, DELETE and ListObjectsV2.
 *
 * Objects appear whole or not at all: a PUT is atomic and durable once S3 acknowledges it, so
 * `writeAtomic` is one PUT. `writeIfAbsent` is a conditional PUT (`If-None-Match: *`), which S3
 * and compatible stores answer with 412 Precondition Failed when the key exists: check and write
 * are one step on the server, and of two writers racing for one key exactly one wins. An object
 * store that ignores the header would silently replace the object, so `checkConditionalWrites()`
 * proves the store honours it before a lake uses it.
 *
 * Directories are key prefixes: `list(dir)` lists one level below `dir/` (ListObjectsV2 with the
 * delimiter `/`, every page), files and "directories" alike, as the local store does.
 *
 * Failures throw {@link S3RequestError}, naming the request, the s3:// path, the HTTP status and
 * S3's own code and message, with what to do where that is clear. Writes are never retried here
 * (the caller knows whether a write may be repeated); reads, HEADs and lists are retried once on
 * HTTP 500 and 503.
 */
import { EMPTY_SHA256, sha256Hex, signRequest, uriEncode } from "./sigv4.ts";
import type { LakeStore } from "./store.ts";

export interface S3LakeStoreOptions {
  bucket: string;
  /** Key prefix of the lake inside the bucket, without leading or trailing `/`; "" for the bucket's root. */
  prefix: string;
  /** The endpoint, e.g. http://127.0.0.1:9000 for a local store. Default: AWS S3 for `region`. */
  endpoint?: string;
  /** Default "us-east-1". */
  region?: string;
  /** Default "" (an S3 server that checks no signatures, such as a test server). */
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

/** The codes of {@link S3RequestError}: whether trying again later may help. */
export const S3ErrorCode = {
  /** No answer (connection refused or reset, DNS) or HTTP 500/502/503/504: retriable. */
  unavailable: "S3_UNAVAILABLE",
  /** Any other refusal (403, a missing bucket, ...): retrying the same request will not help. */
  requestFailed: "S3_REQUEST_FAILED",
} as const;
export type S3ErrorCode = (typeof S3ErrorCode)[keyof typeof S3ErrorCode];

const UNAVAILABLE_STATUSES = new Set([500, 502, 503, 504]);
/** Statuses a read, HEAD or list tries once more. */
const RETRIED_STATUSES = new Set([500, 503]);

/** A request S3 refused or never answered. */
export class S3RequestError extends Error {
  override name = "S3RequestError";
  readonly code: S3ErrorCode;
  /** True for {@link S3ErrorCode.unavailable}. */
  readonly retriable: boolean;
  /** The HTTP status; undefined when no response came. */
  readonly status: number | undefined;
  /** S3's error `<Code>`, e.g. "NoSuchBucket", when the response had one. */
  readonly s3Code: string | undefined;

  constructor(message: string, details: { status?: number; s3Code?: string; cause?: unknown }) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = details.status;
    this.s3Code = details.s3Code;
    this.code = details.status === undefined || UNAVAILABLE_STATUSES.has(details.status) ? S3ErrorCode.unavailable : S3ErrorCode.requestFailed;
    this.retriable = this.code === S3ErrorCode.unavailable;
  }
}

type Operation = "GET" | "HEAD" | "PUT" | "conditional PUT" | "DELETE" | "ListObjectsV2";

interface S3Request {
  method: "GET" | "HEAD" | "PUT" | "DELETE";
  /** The object's key in the bucket, unencoded; "" for the bucket itself. */
  key: string;
  /** Query parameters, unencoded. */
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Uint8Array;
}

interface S3Response {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

export class S3LakeStore implements LakeStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly #region: string;
  readonly #credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** URL of the bucket, without a trailing `/`: `endpoint/bucket` or `https://bucket.host`. */
  readonly #bucketUrl: string;
  /** Where the object store is, for messages. */
  readonly #endpoint: string;

  constructor(options: S3LakeStoreOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.#region = options.region ?? "us-east-1";
    this.#credentials = {
      accessKeyId: options.accessKeyId ?? "",
      secretAccessKey: options.secretAccessKey ?? "",
      ...(options.sessionToken ? { sessionToken: options.sessionToken } : {}),
    };
    if (options.endpoint) {
      const endpoint = new URL(options.endpoint);
      if (endpoint.protocol !== "http:" && endpoint.protocol !== "https:") throw new RangeError(`S3 endpoint must be http:// or https://: got ${JSON.stringify(options.endpoint)}`);
      const path = endpoint.pathname.replace(/\/+$/, "");
      this.#endpoint = `${endpoint.origin}${path}`;
      this.#bucketUrl = options.pathStyle === false ? `${endpoint.protocol}//${options.bucket}.${endpoint.host}${path}` : `${this.#endpoint}/${uriEncode(options.bucket)}`;
    } else {
      this.#endpoint = `https://s3.${this.#region}.amazonaws.com`;
      this.#bucketUrl = options.pathStyle ? `${this.#endpoint}/${uriEncode(options.bucket)}` : `https://${options.bucket}.s3.${this.#region}.amazonaws.com`;
    }
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
      const query: Record<string, string> = { "list-type": "2", delimiter: "/", "encoding-type": "url" };
      if (prefix) query.prefix = prefix;
      if (continuationToken) query["continuation-token"] = continuationToken;
      const response = await this.#send("ListObjectsV2", { method: "GET", key: "", query }, prefix);
      if (response.status !== 200) throw this.#refused("ListObjectsV2", prefix, response);
      const page = parseListPage(new TextDecoder().decode(response.body));
      for (const key of [...page.keys, ...page.prefixes]) {
        if (key.startsWith(prefix)) names.add(key.slice(prefix.length).replace(/\/$/, ""));
      }
      if (page.truncated && !page.nextContinuationToken) {
        throw new S3RequestError(`S3 answered a ListObjectsV2 of ${this.#s3Path(prefix)} with a truncated page and no NextContinuationToken; the object store does not page as S3 does`, { status: 200 });
      }
      continuationToken = page.truncated ? page.nextContinuationToken : undefined;
    } while (continuationToken);
    names.delete("");
    return [...names].sort();
  }

  async read(path: string): Promise<Uint8Array | undefined> {
    const key = this.#key(path);
    const response = await this.#send("GET", { method: "GET", key }, key);
    if (response.status === 200) return response.body;
    // A missing bucket is a 404 too; only a missing key means "no such file".
    if (response.status === 404 && s3ErrorOf(response.body).code !== "NoSuchBucket") return undefined;
    throw this.#refused("GET", key, response);
  }

  async size(path: string): Promise<number | undefined> {
    const response = await this.#head(path);
    if (!response) return undefined;
    const length = Number(response.headers.get("content-length"));
    if (!Number.isSafeInteger(length) || length < 0) throw new S3RequestError(`S3 answered a HEAD of ${this.#s3Path(this.#key(path))} without a valid Content-Length: got ${JSON.stringify(response.headers.get("content-length"))}`, { status: response.status });
    return length;
  }

  async modifiedAt(path: string): Promise<number | undefined> {
    const response = await this.#head(path);
    if (!response) return undefined;
    const modified = Date.parse(response.headers.get("last-modified") ?? "");
    if (Number.isNaN(modified)) throw new S3RequestError(`S3 answered a HEAD of ${this.#s3Path(this.#key(path))} without a valid Last-Modified: got ${JSON.stringify(response.headers.get("last-modified"))}`, { status: response.status });
    return modified;
  }

  /** The HEAD of an object, or undefined on 404 (a HEAD response has no body to tell a missing bucket from a missing key). */
  async #head(path: string): Promise<S3Response | undefined> {
    const key = this.#key(path);
    const response = await this.#send("HEAD", { method: "HEAD", key }, key);
    if (response.status === 200) return response;
    if (response.status === 404) return undefined;
    throw this.#refused("HEAD", key, response);
  }

  async writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
    const key = this.#key(path);
    const response = await this.#send("PUT", { method: "PUT", key, body: bytes }, key);
    if (response.status !== 200) throw this.#refused("PUT", key, response);
  }

  async writeIfAbsent(path: string, bytes: Uint8Array): Promise<boolean> {
    const key = this.#key(path);
    const response = await this.#send("conditional PUT", { method: "PUT", key, body: bytes, headers: { "if-none-match": "*" } }, key);
    if (response.status === 200) return true;
    // 412: the key exists. 409 ConditionalRequestConflict: a concurrent conditional write of the same key won.
    if (response.status === 412) return false;
    if (response.status === 409 && s3ErrorOf(response.body).code === "ConditionalRequestConflict") return false;
    throw this.#refused("conditional PUT", key, response);
  }

  async remove(path: string): Promise<void> {
    const key = this.#key(path);
    const response = await this.#send("DELETE", { method: "DELETE", key }, key);
    // S3's DELETE of a missing key succeeds (204), as `remove` promises; some stores say 404 NoSuchKey.
    if (response.status === 204 || response.status === 200) return;
    if (response.status === 404 && s3ErrorOf(response.body).code === "NoSuchKey") return;
    throw this.#refused("DELETE", key, response);
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

  #s3Path(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  /**
   * Signs and sends one request and reads the whole response. Throws only when no response came
   * (S3_UNAVAILABLE); every status is the caller's to judge. GET and HEAD go once more on 500/503.
   */
  async #send(operation: Operation, request: S3Request, key: string): Promise<S3Response> {
    const query = Object.entries(request.query ?? {})
      .map(([name, value]) => `${uriEncode(name)}=${uriEncode(value)}`)
      .join("&");
    // Each segment of the key encoded as the signature's canonical URI has it, so the path S3 receives is the one signed.
    const url = `${this.#bucketUrl}/${uriEncode(request.key, false)}${query ? `?${query}` : ""}`;
    const body = request.body;
    const payloadSha256 = body ? await sha256Hex(body) : EMPTY_SHA256;
    const attempts = request.method === "GET" || request.method === "HEAD" ? 2 : 1;
    for (let attempt = 1; ; attempt++) {
      const signed = await signRequest(
        { method: request.method, url, headers: request.headers ?? {}, payloadSha256 },
        { credentials: this.#credentials, region: this.#region, date: new Date() },
      );
      let response: Response;
      try {
        response = await fetch(url, { method: request.method, headers: signed.headers, ...(body ? { body: body as Uint8Array<ArrayBuffer> } : {}) });
      } catch (error) {
        const reason = (error as Error)?.message ?? String(error);
        const code = (error as { code?: string })?.code;
        throw new S3RequestError(
          `cannot reach the object store for a ${operation} of ${this.#s3Path(key)}: ${reason}${code && !reason.includes(code) ? ` (${code})` : ""}; is the object store at ${this.#endpoint} running?`,
          { cause: error },
        );
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (attempt < attempts && RETRIED_STATUSES.has(response.status)) continue;
      return { status: response.status, headers: response.headers, body: bytes };
    }
  }

  /** The error for a response the operation did not expect. */
  #refused(operation: Operation, key: string, response: S3Response): S3RequestError {
    const { code, message } = s3ErrorOf(response.body);
    const text = new TextDecoder().decode(response.body);
    const what = code ? `${code}${message ? `: ${message}` : ""}` : text.trim().slice(0, 300);
    const hint = hintFor(response.status, code, this.bucket, this.#region);
    const verb = UNAVAILABLE_STATUSES.has(response.status) ? "failed" : "refused";
    return new S3RequestError(
      `S3 ${verb} a ${operation} of ${this.#s3Path(key)}: HTTP ${response.status}${what ? ` ${what}` : ""}${hint ? `; ${hint}` : ""}`,
      { status: response.status, ...(code ? { s3Code: code } : {}) },
    );
  }
}

/** What to do about an S3 error, where that is clear. */
function hintFor(status: number, code: string | undefined, bucket: string, region: string): string | undefined {
  switch (code) {
    case "NoSuchBucket":
      return `create the bucket ${bucket} first, or name another in LAKE_URI`;
    case "SignatureDoesNotMatch":
      return "the secret key does not match the access key: check AWS_SECRET_ACCESS_KEY (and that the clock is right)";
    case "InvalidAccessKeyId":
      return "the object store does not know this access key: check AWS_ACCESS_KEY_ID";
    case "ExpiredToken":
    case "InvalidToken":
      return "the temporary credentials have expired or are wrong: renew AWS_SESSION_TOKEN with its key pair";
    case "RequestTimeTooSkewed":
      return "this machine's clock is too far from the object store's: set the clock right (NTP)";
    case "AuthorizationHeaderMalformed":
    case "PermanentRedirect":
      return `the bucket is not in ${region}: set AWS_REGION to the bucket's region`;
  }
  if (status === 403) return "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and that they may use this bucket";
  if (UNAVAILABLE_STATUSES.has(status)) return "the object store is failing or overloaded; try again later";
  return undefined;
}

/** S3's `<Error><Code>` and `<Message>` in an error response's body, when it has them. */
function s3ErrorOf(body: Uint8Array): { code?: string; message?: string } {
  if (body.byteLength === 0) return {};
  const xml = new TextDecoder().decode(body.subarray(0, 4096));
  const code = /<Code>([^<]*)<\/Code>/.exec(xml)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(xml)?.[1];
  return { ...(code ? { code: decodeXml(code) } : {}), ...(message ? { message: decodeXml(message) } : {}) };
}

interface ListPage {
  /** The keys of the objects of the page, decoded. */
  keys: string[];
  /** The common prefixes ("directories") of the page, decoded, each ending in the delimiter. */
  prefixes: string[];
  truncated: boolean;
  nextContinuationToken: string | undefined;
}

/**
 * One page of a ListObjectsV2 response. With `encoding-type=url` S3 URL-encodes keys and
 * prefixes (a space as `+`, a `+` as `%2B`, as in a form), so keys with characters XML 1.0
 * cannot carry still list; a store that ignored the parameter says so by leaving out
 * `<EncodingType>`, and its keys are taken as they are.
 */
function parseListPage(xml: string): ListPage {
  const urlEncoded = /<EncodingType>url<\/EncodingType>/.test(xml);
  const decode = (raw: string) => {
    const text = decodeXml(raw);
    return urlEncoded ? decodeURIComponent(text.replace(/\+/g, " ")) : text;
  };
  const keys = [...xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)].flatMap((m) => {
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(m[1]!)?.[1];
    return key === undefined ? [] : [decode(key)];
  });
  const prefixes = [...xml.matchAll(/<CommonPrefixes>([\s\S]*?)<\/CommonPrefixes>/g)].flatMap((m) =>
    [...m[1]!.matchAll(/<Prefix>([\s\S]*?)<\/Prefix>/g)].map((p) => decode(p[1]!)),
  );
  const token = /<NextContinuationToken>([\s\S]*?)<\/NextContinuationToken>/.exec(xml)?.[1];
  return {
    keys,
    prefixes,
    truncated: /<IsTruncated>\s*true\s*<\/IsTruncated>/.test(xml),
    nextContinuationToken: token === undefined || token === "" ? undefined : decodeXml(token),
  };
}

const XML_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** XML character data to text: the five named entities and numeric character references. */
function decodeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (entity, name: string) => {
    if (name.startsWith("#x")) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith("#")) return String.fromCodePoint(parseInt(name.slice(1), 10));
    return XML_ENTITIES[name] ?? entity;
  });
}
