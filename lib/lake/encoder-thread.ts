/**
 * Lake files encoded — and, for a lake on a local disk, written — on a thread of their own
 * (lib/lake/encode-worker.ts): the lake writer's main thread fetches, validates and buffers while
 * the previous flush's files are encoded and made durable beside it, on the second core. The row
 * groups' buffers are moved to the thread, not copied, and come back with its answer (the writer
 * keeps its rows until their commit lands); a file for an object store comes back the same way
 * and is written from the main thread.
 *
 * A write error keeps its `code` (ENOSPC stays a full disk for the writer's retry). A thread that
 * dies (it should not) takes the row groups it held with it: the writes it had fail with
 * EncoderThreadLostError, which is not to be retried — the writer stops, and reads those records
 * from Kafka again at its next start.
 */
import { FileLakeStore } from "./file-store.ts";
import { adoptParts, type LakeColumns, type LakeColumnsParts, partsBuffers, toParts } from "./lake-columns.ts";
import { splitShared } from "./hour-batch.ts";
import { encodeLakeGroups, type LakeFileSummary } from "./lake-encoder.ts";
import type { LakeStore } from "./store.ts";

export interface WrittenLakeFile {
  size: number;
  summary: LakeFileSummary;
}

/**
 * A file to write: its path in the store and its row groups in order, after the rows of the
 * call's `shared` groups in its hour (lib/lake/hour-batch.ts) when it names one.
 */
export interface LakeFileToWrite {
  path: string;
  groups: readonly LakeColumns[];
  hourStartMs?: number;
}

export interface LakeFileEncoder {
  /**
   * Encodes each file's rows into one Parquet file and writes it at its path; all are durable
   * once it resolves. A file with an hour takes that hour's rows of `shared` first.
   */
  writeFiles(store: LakeStore, files: readonly LakeFileToWrite[], shared?: readonly LakeColumns[]): Promise<WrittenLakeFile[]>;
  close(): void;
}

/** Each file's row groups: its hour's rows of `shared` (one group), then its own. */
export function fileGroups(files: readonly LakeFileToWrite[], shared: readonly LakeColumns[]): LakeColumns[][] {
  const hours = new Set(files.flatMap((f) => (f.hourStartMs === undefined ? [] : [f.hourStartMs])));
  const split = shared.length === 0 ? new Map<number, LakeColumns>() : splitShared(shared, hours);
  return files.map((f) => {
    const first = f.hourStartMs === undefined ? undefined : split.get(f.hourStartMs);
    return first === undefined ? [...f.groups] : [first, ...f.groups];
  });
}

/** How many files are written to a store at once from this thread (their writes wait on the disk or the network, not on us). */
const WRITE_CONCURRENCY = 32;

/** Encodes and writes on the calling thread. */
export const encodeInThread: LakeFileEncoder = {
  async writeFiles(store, files, shared = []) {
    const groups = fileGroups(files, shared);
    return await inBatches(files, WRITE_CONCURRENCY, async ({ path }, i) => {
      const { bytes, summary } = encodeLakeGroups(groups[i]!);
      await store.writeAtomic(path, bytes);
      return { size: bytes.byteLength, summary };
    });
  },
  close: () => {},
};

/** The encoder thread died holding row groups: their rows are gone from this process (not from Kafka). */
export class EncoderThreadLostError extends Error {
  override name = "EncoderThreadLostError";
}

type Reply = {
  id: number;
  /** Each file's own row groups, then the shared ones, back from the thread. */
  groups: LakeColumnsParts[][];
  shared: LakeColumnsParts[];
  /** Each file as written (a local lake), or its bytes to write from here. */
  files?: WrittenLakeFile[];
  bytes?: { bytes: Uint8Array; summary: LakeFileSummary }[];
  error?: { name: string; message: string; code?: string };
};

export class EncoderThread implements LakeFileEncoder {
  #worker: Worker | undefined;
  #next = 0;
  readonly #pending = new Map<number, { files: readonly LakeColumns[][]; shared: readonly LakeColumns[]; resolve: (reply: Reply) => void; reject: (error: Error) => void }>();

  async writeFiles(store: LakeStore, files: readonly LakeFileToWrite[], shared: readonly LakeColumns[] = []): Promise<WrittenLakeFile[]> {
    const sent = files.map((f) => f.groups.filter((g) => g.rows > 0));
    const sentShared = shared.filter((g) => g.rows > 0);
    const parts = sent.map((groups) => groups.map(toParts));
    const sharedParts = sentShared.map(toParts);
    // A local lake (with its default fsyncs) is written by the thread, all files in one go; any other store from here.
    const root = store instanceof FileLakeStore && store.writableFromAnyThread ? store.root : undefined;
    const paths = files.map((f) => f.path);
    const hours = files.map((f) => f.hourStartMs ?? null);
    const message = { files: parts, shared: sharedParts, hours, ...(root === undefined ? {} : { root, paths }) };
    const reply = await this.#call(sent, sentShared, message, [...parts.flat(), ...sharedParts].flatMap(partsBuffers));
    if (reply.files) return reply.files;
    const encoded = reply.bytes!;
    return await inBatches(encoded, WRITE_CONCURRENCY, async ({ bytes, summary }, i) => {
      await store.writeAtomic(paths[i]!, bytes);
      return { size: bytes.byteLength, summary };
    });
  }

  close(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    this.#fail(new EncoderThreadLostError("the lake encoder thread was closed"));
  }

  #call(files: readonly LakeColumns[][], shared: readonly LakeColumns[], message: object, transfer: ArrayBuffer[]): Promise<Reply> {
    const worker = this.#start();
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { files, shared, resolve, reject });
      worker.postMessage({ id, ...message }, transfer);
    });
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL("./encode-worker.ts", import.meta.url).href);
    // The thread never keeps the process alive: the writer's own work does.
    worker.unref();
    worker.onmessage = (event: MessageEvent<Reply>) => {
      const reply = event.data;
      const pending = this.#pending.get(reply.id);
      if (!pending) return;
      this.#pending.delete(reply.id);
      reply.groups.forEach((file, i) => file.forEach((parts, j) => adoptParts(pending.files[i]![j]!, parts)));
      reply.shared.forEach((parts, i) => adoptParts(pending.shared[i]!, parts));
      if (reply.error) {
        const error = Object.assign(new Error(reply.error.message), { name: reply.error.name }, reply.error.code === undefined ? {} : { code: reply.error.code });
        pending.reject(error);
      } else pending.resolve(reply);
    };
    worker.onerror = (event) => {
      this.#worker = undefined;
      worker.terminate();
      this.#fail(new EncoderThreadLostError(`the lake encoder thread failed (${event.message}) holding the rows of its files; they are read from Kafka again at the next start`));
    };
    this.#worker = worker;
    return worker;
  }

  #fail(error: Error): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

/** `work(item, i)` for every item, at most `concurrency` at a time, results in item order; rejects with the first failure, after the started ones settle. */
async function inBatches<T, R>(items: readonly T[], concurrency: number, work: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (next < items.length && failure === undefined) {
      const i = next++;
      try {
        results[i] = await work(items[i]!, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  if (failure !== undefined) throw failure.error;
  return results;
}
