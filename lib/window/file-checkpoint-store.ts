/**
 * A {@link CheckpointStore} on the local file system — the one module in lib/ that touches
 * the disk (through `node:fs`, which both Bun and Deno provide).
 *
 * `save()` never writes the checkpoint in place: it writes a temporary file in the same
 * directory, fsyncs it, renames it over the target (atomic on POSIX within one file system)
 * and fsyncs the directory so the rename itself survives a power cut. A crash at any point
 * leaves either the previous checkpoint or the new one, never a mix; at worst a stray temporary
 * file, which `load()` never reads and the next successful `save()` removes.
 */
import { mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { CheckpointStore } from "./checkpoint-store.ts";
import { isErrorCode, syncDirectory } from "../runtime/durable-fs.ts";

export class FileCheckpointStore implements CheckpointStore {
  private readonly dir: string;
  private readonly tempPrefix: string;
  private saves = 0;

  /** `path` is the checkpoint file; its directory is created on the first save. */
  constructor(readonly path: string) {
    this.dir = dirname(path);
    this.tempPrefix = `.${basename(path)}.tmp-`;
  }

  async load(): Promise<Uint8Array | undefined> {
    try {
      const buffer = await readFile(this.path);
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    } catch (error) {
      if (isErrorCode(error, "ENOENT")) return undefined;
      throw error;
    }
  }

  async save(bytes: Uint8Array): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // Unique per store and per save, so two overlapping saves never share a temp file.
    const temp = join(this.dir, `${this.tempPrefix}${crypto.randomUUID()}-${this.saves++}`);
    try {
      const file = await open(temp, "w");
      try {
        await file.writeFile(bytes);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, this.path);
    } catch (error) {
      await unlink(temp).catch(() => {});
      throw error;
    }
    await syncDirectory(this.dir);
    await this.removeStrayTemps(basename(temp));
  }

  /** Temp files left by a crash mid-save; harmless, but they would pile up. */
  private async removeStrayTemps(justUsed: string): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const name of names) {
      if (name.startsWith(this.tempPrefix) && name !== justUsed) await unlink(join(this.dir, name)).catch(() => {});
    }
  }
}
