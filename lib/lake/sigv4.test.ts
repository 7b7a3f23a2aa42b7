/**
 * The expected values are AWS's published examples ("Examples: signature calculations in AWS
 * Signature Version 4", S3 API reference, sig-v4-header-based-auth): canonical requests, their
 * hashes in the string to sign, and the signatures, as AWS prints them. None came from this code.
 */
import { describe, expect, test } from "bun:test";
import { amzDate, canonicalQueryString, canonicalUri, EMPTY_SHA256, sha256Hex, signingKey, signRequest, uriEncode } from "./sigv4.ts";

const AWS_EXAMPLE = {
  credentials: { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" },
  region: "us-east-1",
  date: new Date("2013-05-24T00:00:00Z"),
};
const SCOPE = "20130524/us-east-1/s3/aws4_request";
const hex = (bytes: ArrayBuffer) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");

describe("signRequest() reproduces AWS's S3 examples", () => {
  test("GET Object with a Range header", async () => {
    const signed = await signRequest(
      { method: "GET", url: "https://examplebucket.s3.amazonaws.com/test.txt", headers: { Range: "bytes=0-9" }, payloadSha256: EMPTY_SHA256 },
      AWS_EXAMPLE,
    );
    expect(signed.canonicalRequest).toBe(
      [
        "GET",
        "/test.txt",
        "",
        "host:examplebucket.s3.amazonaws.com",
        "range:bytes=0-9",
        "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "x-amz-date:20130524T000000Z",
        "",
        "host;range;x-amz-content-sha256;x-amz-date",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      ].join("\n"),
    );
    expect(signed.stringToSign).toBe(`AWS4-HMAC-SHA256\n20130524T000000Z\n${SCOPE}\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972`);
    expect(signed.signature).toBe("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    expect(signed.headers).toEqual({
      range: "bytes=0-9",
      "x-amz-date": "20130524T000000Z",
      "x-amz-content-sha256": EMPTY_SHA256,
      authorization:
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    });
  });

  test("PUT Object: the key's `$` is encoded once, the body's SHA-256 signed", async () => {
    const payloadSha256 = await sha256Hex("Welcome to Amazon S3.");
    expect(payloadSha256).toBe("44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    const headers = { Date: "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY" };
    const signed = await signRequest({ method: "PUT", url: "https://examplebucket.s3.amazonaws.com/test$file.text", headers, payloadSha256 }, AWS_EXAMPLE);
    expect(signed.canonicalRequest).toBe(
      [
        "PUT",
        "/test%24file.text",
        "",
        "date:Fri, 24 May 2013 00:00:00 GMT",
        "host:examplebucket.s3.amazonaws.com",
        "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        "x-amz-date:20130524T000000Z",
        "x-amz-storage-class:REDUCED_REDUNDANCY",
        "",
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
      ].join("\n"),
    );
    expect(signed.stringToSign).toBe(`AWS4-HMAC-SHA256\n20130524T000000Z\n${SCOPE}\n9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d`);
    expect(signed.signature).toBe("98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    // The same key already percent-encoded in the URL signs the same: encoded once, not twice.
    const preEncoded = await signRequest({ method: "PUT", url: "https://examplebucket.s3.amazonaws.com/test%24file.text", headers, payloadSha256 }, AWS_EXAMPLE);
    expect(preEncoded.signature).toBe("98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  });

  test("GET Bucket Lifecycle: a bare query parameter is canonicalised as `lifecycle=`", async () => {
    const signed = await signRequest({ method: "GET", url: "https://examplebucket.s3.amazonaws.com/?lifecycle", payloadSha256: EMPTY_SHA256 }, AWS_EXAMPLE);
    expect(signed.canonicalRequest).toBe(
      [
        "GET",
        "/",
        "lifecycle=",
        "host:examplebucket.s3.amazonaws.com",
        "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "x-amz-date:20130524T000000Z",
        "",
        "host;x-amz-content-sha256;x-amz-date",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      ].join("\n"),
    );
    expect(signed.stringToSign).toBe(`AWS4-HMAC-SHA256\n20130524T000000Z\n${SCOPE}\n9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca`);
    expect(signed.signature).toBe("fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
  });

  test("GET Bucket (List Objects): query parameters sorted whatever their order in the URL", async () => {
    const signed = await signRequest({ method: "GET", url: "https://examplebucket.s3.amazonaws.com/?prefix=J&max-keys=2", payloadSha256: EMPTY_SHA256 }, AWS_EXAMPLE);
    expect(signed.canonicalRequest.split("\n").slice(0, 3)).toEqual(["GET", "/", "max-keys=2&prefix=J"]);
    expect(signed.stringToSign).toBe(`AWS4-HMAC-SHA256\n20130524T000000Z\n${SCOPE}\ndf57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7`);
    expect(signed.signature).toBe("34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
  });

  test("signingKey() derives the examples' signing key", async () => {
    expect(hex(await signingKey(AWS_EXAMPLE.credentials.secretAccessKey, "20130524", "us-east-1", "s3"))).toBe(
      "dbb893acc010964918f1fd433add87c70e8b0db6be30c1fbeafefa5ec6ba8378",
    );
  });
});

describe("signRequest()", () => {
  test("sends and signs a session token as x-amz-security-token", async () => {
    const signed = await signRequest(
      { method: "GET", url: "https://examplebucket.s3.amazonaws.com/test.txt", payloadSha256: EMPTY_SHA256 },
      { ...AWS_EXAMPLE, credentials: { ...AWS_EXAMPLE.credentials, sessionToken: "token/with+chars=" } },
    );
    expect(signed.headers["x-amz-security-token"]).toBe("token/with+chars=");
    expect(signed.canonicalRequest).toContain("\nx-amz-security-token:token/with+chars=\n\nhost;x-amz-content-sha256;x-amz-date;x-amz-security-token\n");
  });

  test("signs the host with its port, and a non-default port only", async () => {
    const local = await signRequest({ method: "GET", url: "http://127.0.0.1:9000/lake/a", payloadSha256: EMPTY_SHA256 }, AWS_EXAMPLE);
    expect(local.canonicalRequest).toContain("\nhost:127.0.0.1:9000\n");
    const https = await signRequest({ method: "GET", url: "https://s3.example.test:443/lake/a", payloadSha256: EMPTY_SHA256 }, AWS_EXAMPLE);
    expect(https.canonicalRequest).toContain("\nhost:s3.example.test\n");
  });
});

describe("canonical URI and query", () => {
  test("uriEncode() keeps only unreserved characters, upper-case hex, `/` as asked", () => {
    expect(uriEncode("A-z_0.9~")).toBe("A-z_0.9~");
    expect(uriEncode("a b+c=d%e/f")).toBe("a%20b%2Bc%3Dd%25e%2Ff");
    expect(uriEncode("a b/c", false)).toBe("a%20b/c");
    expect(uriEncode("!'()*$&,;:@")).toBe("%21%27%28%29%2A%24%26%2C%3B%3A%40");
    expect(uriEncode("ü日")).toBe("%C3%BC%E6%97%A5");
  });

  test("canonicalUri() encodes each segment once, keeping the slashes", () => {
    expect(canonicalUri("/lake/dt=2026-12-02/a%20b+c.parquet")).toBe("/lake/dt%3D2026-12-02/a%20b%2Bc.parquet");
    expect(canonicalUri("/lake/100%25/%C3%BC")).toBe("/lake/100%25/%C3%BC");
    expect(canonicalUri("")).toBe("/");
  });

  test("canonicalQueryString() sorts by name, then value, and encodes both", () => {
    expect(canonicalQueryString("?prefix=a%2Fb%20c&list-type=2&delimiter=%2F&continuation-token=1%2Bx%3D%3D")).toBe(
      "continuation-token=1%2Bx%3D%3D&delimiter=%2F&list-type=2&prefix=a%2Fb%20c",
    );
    expect(canonicalQueryString("b=2&a=z&a=y&uploads")).toBe("a=y&a=z&b=2&uploads=");
    expect(canonicalQueryString("")).toBe("");
  });

  test("amzDate() is UTC to the second in the basic form", () => {
    expect(amzDate(new Date("2026-12-02T03:04:05.678Z"))).toBe("20261202T030405Z");
  });
});
