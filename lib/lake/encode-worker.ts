/**
 * The lake encoder's thread (lib/lake/encoder-thread.ts starts it): a flush's files in, as row
 * groups (each file's own, and the groups its hour shares with others: lib/lake/hour-batch.ts),
 * Parquet files out, with their summaries. Given a local lake's root, it also writes them there,
 * all in one go, durably and with blocking calls (lib/lake/file-store.ts's writeAllAtomicSync):
 * this thread has nothing else to do meanwhile, the writer's main thread goes on reading, and a
 * blocking step costs one system call where an asynchronous one cost a thread-pool round trip
 * and a wake-up.
 */
import { giveBuffer } from "./buffer-pool.ts";
import { FileLakeStore } from "./file-store.ts";
import { fromParts, type LakeColumnsParts, partsBuffers } from "./lake-columns.ts";
import { fileGroups } from "./encoder-thread.ts";
import { encodeLakeGroups } from "./lake-encoder.ts";

declare const self: Worker;

const stores = new Map<string, FileLakeStore>();

self.onmessage = (event: MessageEvent<{ id: number; files: LakeColumnsParts[][]; shared: LakeColumnsParts[]; hours: (number | null)[]; root?: string; paths?: string[] }>) => {
  const { id, files, shared, hours, root, paths } = event.data;
  // The row groups' buffers go back with every answer: the writer keeps its rows until they are committed.
  const returned = [...files.flat(), ...shared].flatMap(partsBuffers);
  const answer = { id, groups: files, shared };
  try {
    const toWrite = files.map((groups, i) => ({ path: paths?.[i] ?? "", groups: groups.map(fromParts), ...(hours[i] === null ? {} : { hourStartMs: hours[i]! }) }));
    const encoded = fileGroups(toWrite, shared.map(fromParts)).map((groups) => encodeLakeGroups(groups));
    if (root !== undefined && paths !== undefined) {
      let store = stores.get(root);
      if (!store) stores.set(root, (store = new FileLakeStore(root)));
      store.writeAllAtomicSync(encoded.map(({ bytes }, i) => ({ path: paths[i]!, bytes })));
      // Written: the next files are built in the same buffers (lib/lake/buffer-pool.ts).
      for (const { bytes } of encoded) giveBuffer(bytes.buffer);
      self.postMessage({ ...answer, files: encoded.map(({ bytes, summary }) => ({ size: bytes.byteLength, summary })) }, returned);
      return;
    }
    const exact = encoded.map(({ bytes, summary }) => ({ bytes: bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice(), summary }));
    self.postMessage({ ...answer, bytes: exact }, [...returned, ...exact.map(({ bytes }) => bytes.buffer as ArrayBuffer)]);
  } catch (error) {
    const e = error as { name?: string; message?: string; code?: unknown };
    self.postMessage({ ...answer, error: { name: e.name ?? "Error", message: e.message ?? String(error), code: typeof e.code === "string" ? e.code : undefined } }, returned);
  }
};
