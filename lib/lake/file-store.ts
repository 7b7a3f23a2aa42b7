/**
 * A {@link LakeStore} on the local file system (`node:fs`, which Bun and Deno both provide).
 *
 * `writeAtomic` never writes a lake file in place: it writes `.<name>.tmp-<uuid>` in the target
 * directory, fsyncs it, renames it over the target (atomic on POSIX within one file system) and
 * fsyncs the directory, so the rename survives a power cut. A crash leaves at most a stray
 * temporary file, which no reader looks at (its name starts with `.` and does not end in
 * `.parquet`); `removeTemps` clears them.
 */
import { mkdir, open, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { LakeStore } from "./store.ts";
import { isErrorCode, syncDirectory } from "../runtime/durable-fs.ts";

export class FileLakeStore implements LakeStore {
  /** `root` is the lake's directory, e.g. `data/lake/orders`; created on the first write. */
  constructor(readonly root: string) {}

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

  async writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
    const target = this.#abs(path);
    const slash = path.lastIndexOf("/");
    const dir = this.#abs(slash < 0 ? "" : path.slice(0, slash));
    const name = path.slice(slash + 1);
    await mkdir(dir, { recursive: true });
    const temp = join(dir, `.${name}.tmp-${crypto.randomUUID()}`);
    try {
      const file = await open(temp, "w");
      try {
        await file.writeFile(bytes);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, target);
    } catch (error) {
      await unlink(temp).catch(() => {});
      throw error;
    }
    await syncDirectory(dir);
  }

  async remove(path: string): Promise<void> {
    try {
      await unlink(this.#abs(path));
    } catch (error) {
      if (!isErrorCode(error, "ENOENT")) throw error;
    }
  }

  /** Removes temporary files left in `dir` by a crash mid-write whose names start with `.${prefix}`. */
  async removeTemps(dir: string, prefix = ""): Promise<number> {
    let removed = 0;
    for (const name of await this.list(dir)) {
      if (name.startsWith(`.${prefix}`) && name.includes(".tmp-")) {
        await this.remove(dir === "" ? name : `${dir}/${name}`);
        removed += 1;
      }
    }
    return removed;
  }
}
