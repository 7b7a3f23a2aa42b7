/**
 * The lake encoder's thread (lib/lake/encoder-thread.ts starts it): row groups in, one Parquet
 * file out, with its summary. Given a local lake's root, it also writes the file there
 * (lib/lake/file-store.ts's writeAtomic): the steps of a durable write (open, write, fsync,
 * rename, fsync the directory) each wait for a turn of an event loop, and this thread's loop is
 * free, where the writer's main thread is busy validating a fetch for tens of milliseconds.
 */
import { FileLakeStore } from "./file-store.ts";
import { fromParts, type LakeColumnsParts, partsBuffers } from "./lake-columns.ts";
import { encodeLakeGroups } from "./lake-encoder.ts";

declare const self: Worker;

const stores = new Map<string, FileLakeStore>();

self.onmessage = async (event: MessageEvent<{ id: number; groups: LakeColumnsParts[]; root?: string; path?: string }>) => {
  const { id, groups, root, path } = event.data;
  // The row groups' buffers go back with every answer: the writer keeps its rows until they are committed.
  const returned = groups.flatMap(partsBuffers);
  try {
    const { bytes, summary } = encodeLakeGroups(groups.map(fromParts));
    if (root !== undefined && path !== undefined) {
      let store = stores.get(root);
      if (!store) stores.set(root, (store = new FileLakeStore(root)));
      await store.writeAtomic(path, bytes);
      self.postMessage({ id, groups, size: bytes.byteLength, summary }, returned);
      return;
    }
    const exact = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    self.postMessage({ id, groups, bytes: exact, summary }, [...returned, exact.buffer as ArrayBuffer]);
  } catch (error) {
    const e = error as { name?: string; message?: string; code?: unknown };
    self.postMessage({ id, groups, error: { name: e.name ?? "Error", message: e.message ?? String(error), code: typeof e.code === "string" ? e.code : undefined } }, returned);
  }
};
