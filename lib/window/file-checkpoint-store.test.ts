import { afterAll, expect, test } from "bun:test";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileCheckpointStore } from "./file-checkpoint-store.ts";

const root = await mkdtemp(join(tmpdir(), "orderpulse-checkpoint-"));
afterAll(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `case-${dirs++}`);

test("FileCheckpointStore.load() returns undefined before anything was saved", async () => {
  expect(await new FileCheckpointStore(join(freshDir(), "aggregate.ckpt")).load()).toEqual(undefined);
});

test("FileCheckpointStore.save() then load() returns the same bytes, creating the directory", async () => {
  const store = new FileCheckpointStore(join(freshDir(), "nested", "aggregate.ckpt"));
  await store.save(new Uint8Array([1, 2, 3, 250]));
  expect(await store.load()).toEqual(new Uint8Array([1, 2, 3, 250]));
});

test("FileCheckpointStore.save() replaces the previous checkpoint and leaves no temp file", async () => {
  const dir = freshDir();
  const store = new FileCheckpointStore(join(dir, "aggregate.ckpt"));
  await store.save(new Uint8Array(1000).fill(7));
  await store.save(new Uint8Array([9]));
  expect([await store.load(), await readdir(dir)]).toEqual([new Uint8Array([9]), ["aggregate.ckpt"]]);
});

test("a temp file left by a crash mid-save does not confuse load(), and the next save removes it", async () => {
  const dir = freshDir();
  const store = new FileCheckpointStore(join(dir, "aggregate.ckpt"));
  await store.save(new Uint8Array([1]));
  await writeFile(join(dir, ".aggregate.ckpt.tmp-crashed"), new Uint8Array([6, 6, 6]));
  expect(await store.load()).toEqual(new Uint8Array([1]));
  await store.save(new Uint8Array([2]));
  expect([await store.load(), await readdir(dir)]).toEqual([new Uint8Array([2]), ["aggregate.ckpt"]]);
});

test("a temp file with no checkpoint beside it still loads as nothing saved", async () => {
  const dir = freshDir();
  const store = new FileCheckpointStore(join(dir, "aggregate.ckpt"));
  await store.save(new Uint8Array([1]));
  await rm(join(dir, "aggregate.ckpt"));
  await writeFile(join(dir, ".aggregate.ckpt.tmp-crashed"), new Uint8Array([6]));
  expect(await store.load()).toEqual(undefined);
});
