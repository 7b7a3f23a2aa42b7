/**
 * The lake's storage contract (lib/lake/store.ts) held against both implementations: the local
 * file system (lib/lake/file-store.ts) and S3-compatible object storage (lib/lake/s3-store.ts) on
 * a real S3 server (moto's, test/support/s3-server.ts). The same cases for both, including the
 * one everything else rests on: of many writers racing a conditional write of one path, exactly
 * one wins, and the object holds its bytes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { S3LakeStore } from "../lib/lake/s3-store.ts";
import type { LakeStore } from "../lib/lake/store.ts";
import { S3_TEST_CREDENTIALS, s3ServerForSuite } from "./support/s3-server.ts";

const s3 = s3ServerForSuite("lake");
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
];

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

    test("a path that climbs out of the lake is refused", async () => {
      const store = await make();
      await expect(store.read("../outside")).rejects.toThrow("lake path must stay inside the lake");
      await expect(store.writeAtomic("dt=x/../../outside", utf8("x"))).rejects.toThrow("lake path must stay inside the lake");
    });
  });
}

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
});
