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
import { link, open, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { LakeStore } from "./store.ts";
import { isErrorCode, makeDirectoryDurable, syncDirectory } from "../runtime/durable-fs.ts";

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
