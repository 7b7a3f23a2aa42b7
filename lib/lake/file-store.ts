/**
 * A {@link LakeStore} on the local file system (`node:fs`, which Bun and Deno both provide).
 *
 * `writeAtomic` never writes a lake file in place: it writes `.<name>.tmp-<uuid>` in the target
 * directory, fsyncs it, renames it over the target (atomic on POSIX within one file system) and
 * fsyncs the directory, so the rename survives a power cut. `writeIfAbsent` does the same but
 * hard-links the temporary to the target instead of renaming it: `link(2)` fails with EEXIST
 * when the name is taken, so check and write are one step. A directory the store creates (an
 * hour partition, `_delta_log`, the lake root) is fsynced into its parent before
 * anything is written in it, so a file that survives a power cut is never in a directory that
 * did not. A crash leaves at most a stray temporary file, which no reader looks at (its name
 * starts with `.` and does not end in `.parquet`), which vacuum and the log clean-up delete once
 * it is older than their retention (lib/lake/delta-vacuum.ts).
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { link, open, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { LakeStore } from "./store.ts";
import { isErrorCode, makeDirectoryDurable, makeDirectoryDurableSync, syncDirectory, syncDirectorySync } from "../runtime/durable-fs.ts";

export interface FileLakeStoreOptions {
  /** fsyncs a directory. Default: lib/runtime/durable-fs.ts's `syncDirectory`. */
  syncDirectory?: (dir: string) => Promise<void>;
}

export class FileLakeStore implements LakeStore {
  readonly #syncDirectory: (dir: string) => Promise<void>;
  /** True unless given its own `syncDirectory`: another thread's FileLakeStore of the same root writes exactly as this one. */
  readonly writableFromAnyThread: boolean;

  /** `root` is the lake's directory, e.g. `data/lake/orders`; created on the first write. */
  constructor(
    readonly root: string,
    options: FileLakeStoreOptions = {},
  ) {
    this.#syncDirectory = options.syncDirectory ?? syncDirectory;
    this.writableFromAnyThread = options.syncDirectory === undefined;
  }

  #abs(path: string): string {
    if (path.split("/").some((part) => part === "..")) throw new RangeError(`lake path must stay inside the lake: got ${JSON.stringify(path)}`);
    return path === "" ? this.root : join(this.root, ...path.split("/"));
  }

  async list(dir: string): Promise<string[]> {
    try {
      return (await readdir(this.#abs(dir))).sort();
    } catch (error) {
      if (isErrorCode(error, "ENOENT") || isErrorCode(error, "ENOTDIR")) return [];
      throw error;
    }
  }

  async read(path: string): Promise<Uint8Array | undefined> {
    try {
      const buffer = await readFile(this.#abs(path));
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    } catch (error) {
      if (isErrorCode(error, "ENOENT")) return undefined;
      throw error;
    }
  }

  async size(path: string): Promise<number | undefined> {
    try {
      return (await stat(this.#abs(path))).size;
    } catch (error) {
      if (isErrorCode(error, "ENOENT")) return undefined;
      throw error;
    }
  }

  async modifiedAt(path: string): Promise<number | undefined> {
    try {
      return (await stat(this.#abs(path))).mtimeMs;
    } catch (error) {
      if (isErrorCode(error, "ENOENT")) return undefined;
      throw error;
    }
  }

  async writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
    const { dir, target, temp } = this.#placeFor(path);
    await this.#ensureDirectory(dir);
    try {
      await writeSynced(temp, bytes);
      await rename(temp, target);
    } catch (error) {
      await unlink(temp).catch(() => {});
      throw error;
    }
    await this.#syncDirectory(dir);
  }

  /**
   * `writeAtomic` for many new files at once, with blocking calls: for lib/lake/encode-worker.ts's
   * thread, which has nothing else to do meanwhile. Every file is still fsynced before its rename
   * and every directory after it, but step by step across the files — all directories, all
   * writes, all fsyncs, all renames, all directory fsyncs — so the disk has every file's data
   * before the first fsync waits (101 files here: 60–78 ms, against 80–98 ms file by file). A
   * flush's files (one per event hour, most of them a few kilobytes) cost a few system calls
   * each, not a round trip through the runtime's thread pool per call. Only for a store with the default `syncDirectory`. On an error, the temporaries
   * of the files not yet in place are removed and the error is thrown as it is.
   */
  writeAllAtomicSync(files: readonly { path: string; bytes: Uint8Array }[]): void {
    if (!this.writableFromAnyThread) throw new Error("writeAllAtomicSync needs the default syncDirectory");
    const places = files.map((f) => ({ ...this.#placeFor(f.path), bytes: f.bytes }));
    const dirs = [...new Set(places.map((p) => p.dir))];
    for (const dir of dirs) makeDirectoryDurableSync(dir);
    // In chunks: each file's descriptor stays open from its write to its fsync.
    for (let from = 0; from < places.length; from += OPEN_AT_ONCE) {
      const chunk = places.slice(from, from + OPEN_AT_ONCE);
      const fds: number[] = [];
      let renamed = 0;
      try {
        for (const p of chunk) {
          fds.push(openSync(p.temp, "wx"));
          for (let at = 0; at < p.bytes.length; ) at += writeSync(fds.at(-1)!, p.bytes, at, p.bytes.length - at);
        }
        for (const fd of fds) fsyncSync(fd);
        for (const p of chunk) {
          renameSync(p.temp, p.target);
          renamed += 1;
        }
      } catch (error) {
        for (const p of chunk.slice(renamed, fds.length)) {
          try {
            unlinkSync(p.temp);
          } catch {}
        }
        throw error;
      } finally {
        for (const fd of fds) closeSync(fd);
      }
    }
    for (const dir of dirs) syncDirectorySync(dir);
  }

  async writeIfAbsent(path: string, bytes: Uint8Array): Promise<boolean> {
    const { dir, target, temp } = this.#placeFor(path);
    await this.#ensureDirectory(dir);
    let created = true;
    try {
      await writeSynced(temp, bytes);
      await link(temp, target);
    } catch (error) {
      if (!isErrorCode(error, "EEXIST")) {
        await unlink(temp).catch(() => {});
        throw error;
      }
      created = false;
    }
    // The target is in place (or was taken): a temporary left by a failed unlink is only litter.
    await unlink(temp).catch(() => {});
    if (created) await this.#syncDirectory(dir);
    return created;
  }

  #placeFor(path: string): { dir: string; target: string; temp: string } {
    const target = this.#abs(path);
    const slash = path.lastIndexOf("/");
    const dir = this.#abs(slash < 0 ? "" : path.slice(0, slash));
    return { dir, target, temp: join(dir, `.${path.slice(slash + 1)}.tmp-${crypto.randomUUID()}`) };
  }

  /** Creates `dir` and its missing parents durably (lib/runtime/durable-fs.ts). */
  #ensureDirectory(dir: string): Promise<void> {
    return makeDirectoryDurable(dir, this.#syncDirectory);
  }

  async remove(path: string): Promise<void> {
    try {
      await unlink(this.#abs(path));
    } catch (error) {
      if (!isErrorCode(error, "ENOENT")) throw error;
    }
  }
}

/** How many files writeAllAtomicSync holds open at once. */
const OPEN_AT_ONCE = 128;

/** Writes `bytes` to a new file at `path` and fsyncs it. */
async function writeSynced(path: string, bytes: Uint8Array): Promise<void> {
  const file = await open(path, "wx");
  try {
    await file.writeFile(bytes);
    await file.sync();
  } finally {
    await file.close();
  }
}
