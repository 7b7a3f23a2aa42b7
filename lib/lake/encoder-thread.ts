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
import { encodeLakeGroups, type LakeFileSummary } from "./lake-encoder.ts";
import type { LakeStore } from "./store.ts";

export interface WrittenLakeFile {
  size: number;
  summary: LakeFileSummary;
}

export interface LakeFileEncoder {
  /** Encodes `groups` (row groups, in order) into one file and writes it at `path` of `store`. */
  write(store: LakeStore, path: string, groups: readonly LakeColumns[]): Promise<WrittenLakeFile>;
  close(): void;
}

/** Encodes and writes on the calling thread. */
export const encodeInThread: LakeFileEncoder = {
  async write(store, path, groups) {
    const { bytes, summary } = encodeLakeGroups(groups);
    await store.writeAtomic(path, bytes);
    return { size: bytes.byteLength, summary };
  },
  close: () => {},
};

/** The encoder thread died holding row groups: their rows are gone from this process (not from Kafka). */
export class EncoderThreadLostError extends Error {
  override name = "EncoderThreadLostError";
}

type Reply = { id: number; groups: LakeColumnsParts[]; size?: number; bytes?: Uint8Array; summary?: LakeFileSummary; error?: { name: string; message: string; code?: string } };

export class EncoderThread implements LakeFileEncoder {
  #worker: Worker | undefined;
  #next = 0;
  readonly #pending = new Map<number, { groups: readonly LakeColumns[]; resolve: (reply: Reply) => void; reject: (error: Error) => void }>();

  async write(store: LakeStore, path: string, groups: readonly LakeColumns[]): Promise<WrittenLakeFile> {
    const sent = groups.filter((g) => g.rows > 0);
    const parts = sent.map(toParts);
    // A local lake (with its default fsyncs) is written by the thread; any other store from here.
    const root = store instanceof FileLakeStore && store.writableFromAnyThread ? store.root : undefined;
    const reply = await this.#call(sent, { groups: parts, ...(root === undefined ? {} : { root, path }) }, parts.flatMap(partsBuffers));
    if (reply.bytes) {
      await store.writeAtomic(path, reply.bytes);
      return { size: reply.bytes.byteLength, summary: reply.summary! };
    }
    return { size: reply.size!, summary: reply.summary! };
  }

  close(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    this.#fail(new EncoderThreadLostError("the lake encoder thread was closed"));
  }

  #call(groups: readonly LakeColumns[], message: object, transfer: ArrayBuffer[]): Promise<Reply> {
    const worker = this.#start();
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { groups, resolve, reject });
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
      reply.groups.forEach((parts, i) => adoptParts(pending.groups[i]!, parts));
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
