/**
 * The notebooks run lib/ under Deno, so an S3 lake must work there too: S3LakeStore
 * (lib/lake/s3-store.ts) under Deno reads what it wrote under Bun, on a real S3 server (moto), and
 * its conditional write wins once. Deno runs with the network to that server only.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { repoRoot } from "./support/pipeline-harness.ts";
import { runDeno } from "./support/deno.ts";
import { S3_TEST_CREDENTIALS, s3ServerForSuite } from "./support/s3-server.ts";

const s3 = s3ServerForSuite("lake");
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-deno-s3-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const utf8 = (s: string) => new TextEncoder().encode(s);

test("S3LakeStore under Deno lists and reads what Bun wrote, and of two conditional writes the first wins", async () => {
  const prefix = `deno/${crypto.randomUUID()}`;
  const store = s3.store("lake", prefix);
  await store.writeAtomic("_delta_log/00000000000000000000.json", utf8("{}\n"));
  await store.writeAtomic("dt=2026-12-02/hour=03/part 1+ü.parquet", utf8("aaa"));
  await store.writeAtomic("dt=2026-12-02/hour=03/part-2.parquet", utf8("bb"));
  await store.writeAtomic("dt=2026-12-02/hour=04/part-3.parquet", utf8("c"));

  const options = { bucket: "lake", prefix, endpoint: s3.url, ...S3_TEST_CREDENTIALS };
  const script = join(scratch, "s3-under-deno.ts");
  writeFileSync(
    script,
    `import { S3LakeStore } from ${JSON.stringify(pathToFileURL(join(repoRoot, "lib", "lake", "s3-store.ts")).href)};
const store = new S3LakeStore(${JSON.stringify(options)});
const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? null : new TextDecoder().decode(bytes));
const commit = "_delta_log/00000000000000000001.json";
console.log(JSON.stringify({
  runtime: "Deno" in globalThis ? "deno" : "other",
  root: await store.list(""),
  hours: await store.list("dt=2026-12-02"),
  hour03: await store.list("dt=2026-12-02/hour=03"),
  read: text(await store.read("dt=2026-12-02/hour=03/part 1+ü.parquet")),
  size: await store.size("dt=2026-12-02/hour=03/part-2.parquet"),
  missing: text(await store.read("dt=2026-12-02/hour=05/none.parquet")),
  first: await store.writeIfAbsent(commit, new TextEncoder().encode("from deno")),
  second: await store.writeIfAbsent(commit, new TextEncoder().encode("again")),
}));
`,
  );
  const { code, stdout, stderr } = await runDeno(["run", "--quiet", "--check", `--allow-net=${new URL(s3.url).host}`, script]);
  expect({ code, stderr: stderr.trim() }).toEqual({ code: 0, stderr: "" });
  expect(JSON.parse(stdout)).toEqual({
    runtime: "deno",
    root: ["_delta_log", "dt=2026-12-02"],
    hours: ["hour=03", "hour=04"],
    hour03: ["part 1+ü.parquet", "part-2.parquet"],
    read: "aaa",
    size: 2,
    missing: null,
    first: true,
    second: false,
  });
  // What Deno wrote, Bun reads: the first conditional write's bytes.
  expect(new TextDecoder().decode(await store.read("_delta_log/00000000000000000001.json"))).toBe("from deno");
}, 120_000);
