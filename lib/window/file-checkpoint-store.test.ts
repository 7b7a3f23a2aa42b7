import { afterAll, expect, test } from "bun:test";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileCheckpointStore, newestCheckpointFile } from "./file-checkpoint-store.ts";
import { StateFencedError } from "./state-store.ts";

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

test("FileCheckpointStore.save() replaces its previous checkpoint and leaves no temp file", async () => {
  const dir = freshDir();
  const store = new FileCheckpointStore(join(dir, "aggregate.ckpt"));
  await store.save(new Uint8Array(1000).fill(7));
  await store.save(new Uint8Array([9]));
  expect([await store.load(), (await readdir(dir)).sort()]).toEqual([new Uint8Array([9]), ["aggregate.1.ckpt", "aggregate.1.claim"]]);
});

test("a temp file left by a crash mid-save does not confuse load(), and the next owner removes it", async () => {
  const dir = freshDir();
  const store = new FileCheckpointStore(join(dir, "aggregate.ckpt"));
  await store.save(new Uint8Array([1]));
  await writeFile(join(dir, ".aggregate.1.ckpt.tmp-crashed"), new Uint8Array([6, 6, 6]));
  await writeFile(join(dir, ".aggregate.ckpt.tmp-crashed-before-epochs"), new Uint8Array([6]));
  expect(await store.load()).toEqual(new Uint8Array([1]));
  const next = new FileCheckpointStore(join(dir, "aggregate.ckpt"));
  expect(await next.load()).toEqual(new Uint8Array([1]));
  expect((await readdir(dir)).sort()).toEqual(["aggregate.2.ckpt", "aggregate.2.claim"]);
});

test("a temp file with no checkpoint beside it still loads as nothing saved", async () => {
  const dir = freshDir();
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, ".aggregate.1.ckpt.tmp-crashed"), new Uint8Array([6]));
  expect(await new FileCheckpointStore(join(dir, "aggregate.ckpt")).load()).toEqual(undefined);
});

test("a checkpoint written before owner epochs (the bare path) is read, and taken over", async () => {
  const dir = freshDir();
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "aggregate.ckpt"), new Uint8Array([4, 2]));
  const store = new FileCheckpointStore(join(dir, "aggregate.ckpt"));
  expect(await store.load()).toEqual(new Uint8Array([4, 2]));
  expect((await readdir(dir)).sort()).toEqual(["aggregate.1.ckpt", "aggregate.1.claim"]);
  expect(newestCheckpointFile(join(dir, "aggregate.ckpt"))).toEqual(join(dir, "aggregate.1.ckpt"));
});

test("17.5 a worker that lost the partition cannot save over its new owner's checkpoint", async () => {
  const path = join(freshDir(), "partition-0.ckpt");
  const old = new FileCheckpointStore(path);
  expect(await old.load()).toEqual(undefined);
  await old.save(new Uint8Array([1]));
  // The group moves the partition: the new owner loads (claims) while the old one still runs.
  const next = new FileCheckpointStore(path);
  expect(await next.load()).toEqual(new Uint8Array([1]));
  // The old owner's checkpoint timer fires once more, with state it kept after the revoke.
  await expect(old.save(new Uint8Array([66]))).rejects.toBeInstanceOf(StateFencedError);
  await next.save(new Uint8Array([2]));
  await expect(old.save(new Uint8Array([67]))).rejects.toBeInstanceOf(StateFencedError);
  // Whoever owns the partition next resumes from the new owner's state.
  expect(await new FileCheckpointStore(path).load()).toEqual(new Uint8Array([2]));
});

test("17.5 two workers claiming one partition at once get different epochs; the later one's state wins", async () => {
  const path = join(freshDir(), "partition-0.ckpt");
  const first = new FileCheckpointStore(path);
  await first.save(new Uint8Array([1]));
  const [a, b] = [new FileCheckpointStore(path), new FileCheckpointStore(path)];
  const [bytesA, bytesB] = await Promise.all([a.load(), b.load()]);
  expect([bytesA, bytesB]).toEqual([new Uint8Array([1]), new Uint8Array([1])]);
  expect(new Set([a.epoch, b.epoch]).size).toBe(2);
  const [older, newer] = a.epoch! < b.epoch! ? [a, b] : [b, a];
  await expect(older.save(new Uint8Array([9]))).rejects.toBeInstanceOf(StateFencedError);
  await newer.save(new Uint8Array([3]));
  expect(await new FileCheckpointStore(path).load()).toEqual(new Uint8Array([3]));
});

test("17.s4 a checkpoint directory made on the first claim is fsynced into its parent", async () => {
  const parent = freshDir();
  await mkdir(parent, { recursive: true });
  const synced: string[] = [];
  const store = new FileCheckpointStore(join(parent, "group", "topic", "partition-0.ckpt"), { syncDirectory: async (dir) => void synced.push(dir) });
  await store.save(new Uint8Array([1]));
  expect(synced.slice(0, 2).sort()).toEqual([join(parent), join(parent, "group")]);
});
