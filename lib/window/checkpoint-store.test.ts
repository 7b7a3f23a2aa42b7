import { expect, test } from "bun:test";
import { MemoryCheckpointStore } from "./checkpoint-store.ts";

test("MemoryCheckpointStore.load() returns undefined before anything was saved", async () => {
  expect(await new MemoryCheckpointStore().load()).toEqual(undefined);
});

test("MemoryCheckpointStore keeps its own copy of the saved bytes", async () => {
  const store = new MemoryCheckpointStore();
  const bytes = new Uint8Array([1, 2]);
  await store.save(bytes);
  bytes[0] = 9;
  expect(await store.load()).toEqual(new Uint8Array([1, 2]));
});
