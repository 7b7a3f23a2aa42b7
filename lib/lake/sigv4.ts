/**
 * AWS Signature Version 4 for S3 requests sent with the Authorization header, on Web Crypto only
 * (`crypto.subtle`), so that the same code signs under Bun and under Deno. No I/O and no clock:
 * the caller passes the date, and sends the headers returned.
 *
 * The S3 flavour of the canonical request (AWS's "Authenticating Requests: Using the Authorization
 * Header"): each path segment is URI-encoded once (S3 does not normalise or double-encode paths,
 * unlike the other services), the query is sorted by name and RFC 3986-encoded, and the payload's
 * SHA-256 is both signed and sent as `x-amz-content-sha256`.
 */

export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Of temporary credentials; sent (and signed) as `x-amz-security-token`. */
  sessionToken?: string;
}

export interface SigV4Request {
  method: string;
  /** The URL as it is sent: its path and query are percent-encoded already (see {@link uriEncode}). */
  url: URL | string;
  /** Headers to send, all of them signed (names in any case). Not `host`: it is taken from the URL. */
  headers?: Record<string, string>;
  /** Lower-case hex SHA-256 of the body; {@link EMPTY_SHA256} for none. */
  payloadSha256: string;
}

export interface SigV4Options {
  credentials: SigV4Credentials;
  region: string;
  /** Default "s3". */
  service?: string;
  /** The request's time; S3 refuses a signature more than 15 minutes off its own clock. */
  date: Date;
}

export interface SignedRequest {
  /**
   * The headers to send: the request's own plus `x-amz-date`, `x-amz-content-sha256`,
   * `x-amz-security-token` (with a session token) and `authorization`, names in lower case.
   * `host` is signed but not among them: fetch sets it from the URL.
   */
  headers: Record<string, string>;
  canonicalRequest: string;
  stringToSign: string;
  /** Lower-case hex. */
  signature: string;
}

/** SHA-256 of nothing, the payload hash of a request without a body. */
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const encoder = new TextEncoder();

/**
 * RFC 3986 encoding as SigV4 wants it: every byte of the UTF-8 form except the unreserved
 * `A-Z a-z 0-9 - . _ ~` as `%XX` (upper-case hex); `/` kept unless `encodeSlash`. Throws URIError
 * on a lone surrogate (not a valid key).
 */
export function uriEncode(value: string, encodeSlash = true): string {
  const encoded = encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return encodeSlash ? encoded : encoded.replaceAll("%2F", "/");
}

/** `decodeURIComponent`, but a malformed escape stays as it is (it is then encoded as text). */
function decodeLoosely(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * The canonical URI of a percent-encoded URL path: each segment decoded and encoded again with
 * {@link uriEncode}, so a key is encoded exactly once however the URL spelled it (`$` or `%24`).
 */
export function canonicalUri(pathname: string): string {
  if (pathname === "") return "/";
  return pathname
    .split("/")
    .map((segment) => uriEncode(decodeLoosely(segment)))
    .join("/");
}

/**
 * The canonical query string of a URL's query (`?` optional): parameters sorted by name, then
 * value, each name and value RFC 3986-encoded, a bare name given an empty value (`lifecycle=`).
 */
export function canonicalQueryString(search: string): string {
  const query = search.startsWith("?") ? search.slice(1) : search;
  if (query === "") return "";
  return query
    .split("&")
    .filter((pair) => pair !== "")
    .map((pair) => {
      const eq = pair.indexOf("=");
      const name = eq < 0 ? pair : pair.slice(0, eq);
      const value = eq < 0 ? "" : pair.slice(eq + 1);
      return [uriEncode(decodeLoosely(name)), uriEncode(decodeLoosely(value))] as const;
    })
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

/** `20130524T000000Z`: the ISO 8601 basic form SigV4 uses, in UTC, to the second. */
export function amzDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z").replace(/[-:]/g, "");
}

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Lower-case hex SHA-256 of bytes or of a string's UTF-8 form. */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return hex(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

async function hmac(key: Uint8Array | ArrayBuffer, data: string): Promise<ArrayBuffer> {
  const cryptoKey = await crypto.subtle.importKey("raw", key as Uint8Array<ArrayBuffer>, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(data));
}

/** The signing key of a day, region and service: HMAC("AWS4" + secret, date) chained through region, service, "aws4_request". */
export async function signingKey(secretAccessKey: string, day: string, region: string, service: string): Promise<ArrayBuffer> {
  let key = await hmac(encoder.encode(`AWS4${secretAccessKey}`), day);
  for (const part of [region, service, "aws4_request"]) key = await hmac(key, part);
  return key;
}

/** Signs a request with the Authorization header (AWS4-HMAC-SHA256). */
export async function signRequest(request: SigV4Request, options: SigV4Options): Promise<SignedRequest> {
  const url = typeof request.url === "string" ? new URL(request.url) : request.url;
  const service = options.service ?? "s3";
  const timestamp = amzDate(options.date);
  const day = timestamp.slice(0, 8);
  const scope = `${day}/${options.region}/${service}/aws4_request`;

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = value;
  delete headers.host;
  delete headers.authorization;
  headers["x-amz-date"] = timestamp;
  headers["x-amz-content-sha256"] = request.payloadSha256;
  if (options.credentials.sessionToken) headers["x-amz-security-token"] = options.credentials.sessionToken;

  // `url.host` leaves out the scheme's default port, as the Host header fetch sends does.
  const signed = Object.entries({ ...headers, host: url.host })
    .map(([name, value]) => [name, value.trim().replace(/\s+/g, " ")] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const signedHeaders = signed.map(([name]) => name).join(";");
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalUri(url.pathname),
    canonicalQueryString(url.search),
    ...signed.map(([name, value]) => `${name}:${value}`),
    "",
    signedHeaders,
    request.payloadSha256,
  ].join("\n");
  const stringToSign = ["AWS4-HMAC-SHA256", timestamp, scope, await sha256Hex(canonicalRequest)].join("\n");
  const key = await signingKey(options.credentials.secretAccessKey, day, options.region, service);
  const signature = hex(await hmac(key, stringToSign));
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${options.credentials.accessKeyId}/${scope},SignedHeaders=${signedHeaders},Signature=${signature}`;
  return { headers, canonicalRequest, stringToSign, signature };
}
