/**
 * The lake's storage contract (lib/lake/store.ts) held against both implementations: the local
 * file system (lib/lake/file-store.ts) and S3-compatible object storage (lib/lake/s3-store.ts) on
 * a real S3 server (moto's, test/support/s3-server.ts). The same cases for both, including the
 * one everything else rests on: of many writers racing a conditional write of one path, exactly
 * one wins, and the object holds its bytes. The S3 cases run once more on a moto server that
 * checks every request's signature (botocore recomputes it), which proves lib/lake/sigv4.ts signs
 * what S3 verifies, keys that need encoding included. And once more as the compose stack's lake
 * user, whom objectstore-init allows only the lake bucket's objects: the policy it gives MinIO
 * (infra/compose.yaml) is evaluated by moto's IAM, so a missing permission fails the contract here.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { freePort } from "../lib/kafka/local-broker.ts";
import { S3ErrorCode, S3LakeStore, S3RequestError } from "../lib/lake/s3-store.ts";
import { sha256Hex, signRequest } from "../lib/lake/sigv4.ts";
import type { LakeStore } from "../lib/lake/store.ts";
import { lakePolicyFromCompose } from "./support/compose-file.ts";
import { repoRoot } from "./support/pipeline-harness.ts";
import { S3_TEST_CREDENTIALS, s3ServerForSuite } from "./support/s3-server.ts";

const s3 = s3ServerForSuite("lake");
/** A second server, checking signatures: moto's authentication is server-wide. */
const signedS3 = s3ServerForSuite("lake");
let signedKey: { accessKeyId: string; secretAccessKey: string };
/** A third, checking signatures and the stack's lake policy for the bucket "lake" (another bucket: "other"). */
const policyS3 = s3ServerForSuite("lake");
let lakeUserKey: { accessKeyId: string; secretAccessKey: string };
beforeAll(async () => {
  await policyS3.createBucket("other");
  [signedKey, lakeUserKey] = await Promise.all([signedS3.requireSignatures(), policyS3.requireSignatures(lakePolicyFromCompose(repoRoot, "lake"))]);
}, 60_000);
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-lake-store-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

const stores: [string, () => Promise<LakeStore>][] = [
  ["local file system", () => Promise.resolve(new FileLakeStore(join(scratch, crypto.randomUUID())))],
  ["S3 (moto), under a prefix", () => Promise.resolve(s3.store("lake", `tables/${crypto.randomUUID()}/orders`))],
  ["S3 (moto), at the bucket's root", async () => {
    const bucket = `root-${crypto.randomUUID().slice(0, 8)}`;
    await s3.createBucket(bucket);
    return s3.store(bucket, "");
  }],
  ["S3 (moto checking signatures)", () => Promise.resolve(signedS3.store("lake", `signed/${crypto.randomUUID()}`, signedKey))],
  ["S3 (moto) as the stack's lake user, under objectstore-init's policy", () => Promise.resolve(policyS3.store("lake", `orders-${crypto.randomUUID()}`, lakeUserKey))],
];

/** Names that need encoding in a URL, a signature or a list response, each a directory and a file. */
const AWKWARD_NAMES = ["a b", "k=v", "1+1", "100%", "%41", "ünï©ødé 日本", "it's (a)*!$&,;:@~", "x y+z=%20"];

for (const [name, make] of stores) {
  describe(`LakeStore on the ${name}`, () => {
    test("a file written is read back whole, sized, dated, listed by name one level at a time, and removed", async () => {
      const store = await make();
      expect(await store.list("")).toEqual([]);
      expect(await store.read("dt=2026-12-02/hour=03/a.parquet")).toBeUndefined();
      expect(await store.size("dt=2026-12-02/hour=03/a.parquet")).toBeUndefined();
      await store.writeAtomic("dt=2026-12-02/hour=03/a.parquet", utf8("aaa"));
      await store.writeAtomic("dt=2026-12-02/hour=03/b.parquet", utf8("bb"));
      await store.writeAtomic("dt=2026-12-02/hour=04/c.parquet", utf8("c"));
      await store.writeAtomic("_delta_log/00000000000000000000.json", utf8("{}\n"));
      expect(await store.list("")).toEqual(["_delta_log", "dt=2026-12-02"]);
      expect(await store.list("dt=2026-12-02")).toEqual(["hour=03", "hour=04"]);
      expect(await store.list("dt=2026-12-02/hour=03")).toEqual(["a.parquet", "b.parquet"]);
      expect(await store.list("dt=2026-12-02/hour=05")).toEqual([]);
      expect(text(await store.read("dt=2026-12-02/hour=03/a.parquet"))).toBe("aaa");
      expect(await store.size("dt=2026-12-02/hour=03/b.parquet")).toBe(2);
      const written = await store.modifiedAt("dt=2026-12-02/hour=03/b.parquet");
      expect(Math.abs(written! - Date.now())).toBeLessThan(60_000); // the storage's clock, here the same machine's
      expect(await store.modifiedAt("dt=2026-12-02/hour=03/none.parquet")).toBeUndefined();
      await store.writeAtomic("dt=2026-12-02/hour=03/a.parquet", utf8("replaced"));
      expect(text(await store.read("dt=2026-12-02/hour=03/a.parquet"))).toBe("replaced");
      await store.remove("dt=2026-12-02/hour=03/a.parquet");
      await store.remove("dt=2026-12-02/hour=03/a.parquet"); // already gone: not an error
      expect(await store.read("dt=2026-12-02/hour=03/a.parquet")).toBeUndefined();
      expect(await store.list("dt=2026-12-02/hour=03")).toEqual(["b.parquet"]);
    });

    test("writeIfAbsent never replaces: of 16 writers racing for one path exactly one wins, and the file holds its bytes", async () => {
      const store = await make();
      for (let round = 0; round < 3; round++) {
        const path = `_delta_log/${String(round).padStart(20, "0")}.json`;
        const outcomes = await Promise.all(Array.from({ length: 16 }, (_, i) => store.writeIfAbsent(path, utf8(`writer ${i}`))));
        const winners = outcomes.flatMap((won, i) => (won ? [i] : []));
        expect(winners).toHaveLength(1);
        expect(text(await store.read(path))).toBe(`writer ${winners[0]}`);
        expect(await store.writeIfAbsent(path, utf8("late"))).toBe(false);
        expect(text(await store.read(path))).toBe(`writer ${winners[0]}`);
      }
    });

    test("names with spaces, =, +, %, unicode and punctuation round-trip through write, list, read and remove", async () => {
      const store = await make();
      for (const name of AWKWARD_NAMES) await store.writeAtomic(`${name}/${name}.json`, utf8(name));
      expect(await store.list("")).toEqual([...AWKWARD_NAMES].sort());
      for (const name of AWKWARD_NAMES) {
        expect(await store.list(name)).toEqual([`${name}.json`]);
        expect(text(await store.read(`${name}/${name}.json`))).toBe(name);
        expect(await store.size(`${name}/${name}.json`)).toBe(utf8(name).byteLength);
        expect(await store.writeIfAbsent(`${name}/${name}.json`, utf8("again"))).toBe(false);
        await store.remove(`${name}/${name}.json`);
        expect(await store.list(name)).toEqual([]);
      }
    });

    test("a path that climbs out of the lake is refused", async () => {
      const store = await make();
      await expect(store.read("../outside")).rejects.toThrow("lake path must stay inside the lake");
      await expect(store.writeAtomic("dt=x/../../outside", utf8("x"))).rejects.toThrow("lake path must stay inside the lake");
    });
  });
}

describe("the stack's lake user (objectstore-init's policy)", () => {
  test("is allowed the lake bucket's objects and nothing in another bucket", async () => {
    const ok = policyS3.store("lake", `scope-${crypto.randomUUID()}`, lakeUserKey);
    await ok.checkConditionalWrites();
    await ok.writeAtomic("a.txt", utf8("a"));
    expect(text(await ok.read("a.txt"))).toBe("a");
    const elsewhere = policyS3.store("other", "orders", lakeUserKey);
    for (const attempt of [() => elsewhere.list(""), () => elsewhere.read("a.txt"), () => elsewhere.writeAtomic("a.txt", utf8("a")), () => elsewhere.remove("a.txt")]) {
      const error = await attempt().then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(S3RequestError);
      expect((error as S3RequestError).message).toContain("403");
    }
    // Nor make a bucket: a CreateBucket signed with its key.
    const url = `${policyS3.url}/another-${crypto.randomUUID().slice(0, 8)}`;
    const signed = await signRequest(
      { method: "PUT", url, headers: {}, payloadSha256: await sha256Hex("") },
      { credentials: lakeUserKey, region: S3_TEST_CREDENTIALS.region, service: "s3", date: new Date() },
    );
    const created = await fetch(url, { method: "PUT", headers: signed.headers });
    expect([created.status, await created.text()]).toEqual([403, expect.stringContaining("AccessDenied")]);
  });
});

describe("S3LakeStore", () => {
  test("checkConditionalWrites() passes on a store that honours If-None-Match, leaving nothing behind", async () => {
    const store = s3.store("lake", `probe/${crypto.randomUUID()}`);
    await store.checkConditionalWrites();
    expect(await store.list("_probe")).toEqual([]);
  });

  test("a missing bucket is an error, not an empty lake", async () => {
    const missing = new S3LakeStore({ bucket: "no-such-bucket", prefix: "x", endpoint: s3.url, ...S3_TEST_CREDENTIALS });
    await expect(missing.list("")).rejects.toThrow();
    await expect(missing.writeIfAbsent("a", utf8("a"))).rejects.toThrow(/S3 refused a conditional PUT of s3:\/\/no-such-bucket\/x\/a: HTTP 404/);
  });

  test("a missing bucket is named with what to do, and a read of it is an error, not a missing file", async () => {
    const missing = new S3LakeStore({ bucket: "no-such-bucket", prefix: "x", endpoint: s3.url, ...S3_TEST_CREDENTIALS });
    const error = await missing.read("a").then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(S3RequestError);
    expect((error as S3RequestError).message).toStartWith("S3 refused a GET of s3://no-such-bucket/x/a: HTTP 404 NoSuchBucket: ");
    expect((error as S3RequestError).message).toEndWith("; create the bucket no-such-bucket first, or name another in LAKE_URI");
    expect({ code: (error as S3RequestError).code, retriable: (error as S3RequestError).retriable, s3Code: (error as S3RequestError).s3Code }).toEqual({
      code: "S3_REQUEST_FAILED",
      retriable: false,
      s3Code: "NoSuchBucket",
    });
  });

  test("list() follows continuation tokens through a directory of more than 1000 entries", async () => {
    const store = s3.store("lake", `big/${crypto.randomUUID()}`);
    // 1010 files and 5 directories: S3 pages at 1000 keys and common prefixes together.
    const names = [...Array.from({ length: 1010 }, (_, i) => `part-${String(i).padStart(5, "0")}.parquet`), ...Array.from({ length: 5 }, (_, i) => `zdir=${i}`)];
    const paths = names.map((name) => (name.startsWith("zdir=") ? `${name}/inner.parquet` : name));
    for (let i = 0; i < paths.length; i += 32) await Promise.all(paths.slice(i, i + 32).map((path) => store.writeAtomic(path, utf8("x"))));
    expect(await store.list("")).toEqual(names.sort());
  }, 60_000);

  test("a wrong secret key is refused with 403 SignatureDoesNotMatch and the variable to check", async () => {
    const wrong = signedS3.store("lake", "signed", { accessKeyId: signedKey.accessKeyId, secretAccessKey: `${signedKey.secretAccessKey}x` });
    const error = await wrong.list("").then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(S3RequestError);
    expect((error as S3RequestError).message).toStartWith("S3 refused a ListObjectsV2 of s3://lake/signed/: HTTP 403 SignatureDoesNotMatch: ");
    expect((error as S3RequestError).message).toContain("check AWS_SECRET_ACCESS_KEY");
    expect({ status: (error as S3RequestError).status, code: (error as S3RequestError).code }).toEqual({ status: 403, code: S3ErrorCode.requestFailed });
    // A HEAD's 403 has no body to name the cause: the message names both variables.
    await expect(wrong.size("a")).rejects.toThrow("S3 refused a HEAD of s3://lake/signed/a: HTTP 403; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  });

  test("an object store that is not running is S3_UNAVAILABLE, retriable, and named", async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const down = new S3LakeStore({ bucket: "lake", prefix: "x", endpoint, ...S3_TEST_CREDENTIALS });
    for (const attempt of [() => down.read("a"), () => down.writeIfAbsent("a", utf8("a")), () => down.list("")]) {
      const error = await attempt().then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(S3RequestError);
      expect({ code: (error as S3RequestError).code, retriable: (error as S3RequestError).retriable, status: (error as S3RequestError).status }).toEqual({
        code: "S3_UNAVAILABLE",
        retriable: true,
        status: undefined,
      });
      expect((error as S3RequestError).message).toMatch(/^cannot reach the object store for a (GET|conditional PUT|ListObjectsV2) of s3:\/\/lake\/x\/.*; is the object store at http:\/\/127\.0\.0\.1:\d+ running\?$/);
    }
  });

  test("HTTP 503 is S3_UNAVAILABLE; a read is tried once more, a write is not", async () => {
    // A stand-in for an overloaded object store: every request answered 503 SlowDown, counted.
    const requests: string[] = [];
    using server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(request) {
        requests.push(request.method);
        return new Response("<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>", { status: 503 });
      },
    });
    const busy = new S3LakeStore({ bucket: "lake", prefix: "x", endpoint: `http://127.0.0.1:${server.port}`, ...S3_TEST_CREDENTIALS });
    const readError = await busy.read("a").then(() => undefined, (e: unknown) => e);
    expect((readError as S3RequestError).message).toBe("S3 failed a GET of s3://lake/x/a: HTTP 503 SlowDown: Please reduce your request rate.; the object store is failing or overloaded; try again later");
    expect({ code: (readError as S3RequestError).code, retriable: (readError as S3RequestError).retriable }).toEqual({ code: "S3_UNAVAILABLE", retriable: true });
    expect(requests).toEqual(["GET", "GET"]);
    requests.length = 0;
    await expect(busy.writeAtomic("a", utf8("a"))).rejects.toThrow("S3 failed a PUT of s3://lake/x/a: HTTP 503 SlowDown");
    expect(requests).toEqual(["PUT"]);
  });
});
