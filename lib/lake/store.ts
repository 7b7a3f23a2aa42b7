/**
 * The lake's storage, as the lake writer, the compactor and the reader need it: a handful of
 * operations on paths relative to the lake root (`/`-separated). `lib/lake/file-store.ts` is
 * the local file system; `MemoryLakeStore` below serves the unit tests.
 *
 * The guarantees everything else rests on: `writeAtomic` and `writeIfAbsent` make a file appear
 * under its name complete or not at all, and durable once the promise resolves; `writeIfAbsent`
 * also never replaces a file, so of two writers racing for one name exactly one wins (a Delta
 * commit, lib/lake/delta-log.ts). `lib/lake/s3-store.ts` is S3-compatible object storage.
 */
export interface LakeStore {
  /** Names (not paths) of the entries of a directory, files and directories alike; `[]` when it does not exist. */
  list(dir: string): Promise<string[]>;
  /** The file's bytes, or `undefined` when it does not exist. */
  read(path: string): Promise<Uint8Array | undefined>;
  /** The file's size in bytes, or `undefined` when it does not exist. */
  size(path: string): Promise<number | undefined>;
  /** When the file was last written (ms since the epoch, by the storage's clock), or `undefined` when it does not exist. */
  modifiedAt(path: string): Promise<number | undefined>;
  /** Writes a temporary file beside `path`, fsyncs it, renames it over `path` and fsyncs the directory. */
  writeAtomic(path: string, bytes: Uint8Array): Promise<void>;
  /**
   * Like `writeAtomic`, but only if nothing is at `path`: resolves true when this call created
   * the file, false when a file was already there (then nothing is written). Check and write are
   * one step: two callers can never both get true.
   */
  writeIfAbsent(path: string, bytes: Uint8Array): Promise<boolean>;
  /** Removes a file; a file that is already gone is not an error. */
  remove(path: string): Promise<void>;
}

/** A lake in memory: a map from path to bytes. Directories exist while a file lies under them. */
export class MemoryLakeStore implements LakeStore {
  readonly files = new Map<string, Uint8Array>();
  /** When each file was written (Date.now() then); tests may set it. */
  readonly modified = new Map<string, number>();

  list(dir: string): Promise<string[]> {
    const prefix = dir === "" ? "" : `${dir}/`;
    const names = new Set<string>();
    for (const path of this.files.keys()) {
      if (path.startsWith(prefix)) names.add(path.slice(prefix.length).split("/")[0]!);
    }
    return Promise.resolve([...names].sort());
  }

  read(path: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.files.get(path)?.slice());
  }

  size(path: string): Promise<number | undefined> {
    return Promise.resolve(this.files.get(path)?.byteLength);
  }

  modifiedAt(path: string): Promise<number | undefined> {
    return Promise.resolve(this.files.has(path) ? this.modified.get(path) : undefined);
  }

  writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
    this.files.set(path, bytes.slice());
    this.modified.set(path, Date.now());
    return Promise.resolve();
  }

  writeIfAbsent(path: string, bytes: Uint8Array): Promise<boolean> {
    if (this.files.has(path)) return Promise.resolve(false);
    this.files.set(path, bytes.slice());
    this.modified.set(path, Date.now());
    return Promise.resolve(true);
  }

  remove(path: string): Promise<void> {
    this.files.delete(path);
    this.modified.delete(path);
    return Promise.resolve();
  }
}
