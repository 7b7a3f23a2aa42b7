/**
 * A {@link CheckpointStore} on the local file system — the one module in lib/window that touches
 * the disk (through `node:fs`, which both Bun and Deno provide).
 *
 * Never in place: a save writes a temporary file in the same directory, fsyncs it, renames it
 * over its target (atomic on POSIX within one file system) and fsyncs the directory so the
 * rename itself survives a power cut. A crash at any point leaves either the previous checkpoint
 * or the new one, never a mix; at worst a stray temporary file, which nothing reads.
 *
 * Fenced by owner epoch. Each store instance is one ownership of the partition (the aggregator
 * makes one per assignment). Before it reads or writes anything it claims the next epoch E by
 * creating `<stem>.<E>.claim` exclusively (O_EXCL: of two workers racing for E, one wins, the
 * other claims E+1). It writes only its own file `<stem>.<E><ext>`, and a load reads the file of
 * the highest epoch below its own claim, then writes it again as its own (the takeover), so from
 * then on every later owner reads this owner's file or a newer one. A worker that lost the
 * partition can still finish a save — to its own, older epoch's file, which no later load
 * reads — and each save first checks that no newer claim exists, so it usually stops there
 * (StateFencedError). The old owner's temporary files are its own (the epoch is in their
 * names), so no cleanup removes another owner's file mid-save.
 *
 * What remains: if the new owner crashes between its claim and its takeover write, the next
 * owner reads the previous owner's file, which that owner may have saved once more meanwhile.
 * Its state is still consistent with what it emitted; the window is the few milliseconds of a
 * load.
 *
 * `<path>` itself (the name before epochs existed) is read as epoch 0.
 */
import { readdirSync } from "node:fs";
import { open, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import type { CheckpointStore } from "./checkpoint-store.ts";
import { isDiskFullError, isErrorCode, makeDirectoryDurable, syncDirectory } from "../runtime/durable-fs.ts";
import { StateFencedError, StateWriteError } from "./state-store.ts";

interface Found {
  /** Epochs with a claim file. */
  claims: number[];
  /** Data files by epoch (0: the legacy `<path>`). */
  data: Map<number, string>;
}

export class FileCheckpointStore implements CheckpointStore {
  readonly #dir: string;
  readonly #name: string;
  readonly #stem: string;
  readonly #ext: string;
  #epoch: number | undefined;
  #claiming: Promise<number> | undefined;
  #saves = 0;

  readonly #syncDirectory: (dir: string) => Promise<void>;

  /**
   * `path` names the checkpoint (its epochs' files sit beside it); its directory is created on
   * the first claim. `syncDirectory` is for tests that watch which directories are fsynced.
   */
  constructor(
    readonly path: string,
    options: { syncDirectory?: (dir: string) => Promise<void> } = {},
  ) {
    this.#syncDirectory = options.syncDirectory ?? syncDirectory;
    this.#dir = dirname(path);
    this.#name = basename(path);
    this.#ext = extname(this.#name);
    this.#stem = this.#name.slice(0, this.#name.length - this.#ext.length);
  }

  /** This store's epoch, once claimed. */
  get epoch(): number | undefined {
    return this.#epoch;
  }

  async load(): Promise<Uint8Array | undefined> {
    const epoch = await this.#claim();
    for (let attempt = 0; ; attempt++) {
      const { data } = await this.#scan();
      const newest = [...data.keys()].filter((e) => e <= epoch).sort((a, b) => b - a)[0];
      if (newest === undefined) return undefined;
      try {
        const buffer = await readFile(join(this.#dir, data.get(newest)!));
        const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
        if (newest < epoch) {
          // The takeover: from now on every later owner reads this copy or a newer file. Fenced
          // already (another worker claimed after this one, mid-rebalance): this store's saves
          // will be refused, and the group will take the partition away; the state still loads.
          try {
            await this.save(bytes);
            await this.#removeOlder(epoch);
          } catch (error) {
            if (!(error instanceof StateFencedError)) throw error;
          }
        }
        return bytes;
      } catch (error) {
        // Removed by a newer owner's cleanup between the scan and the read: look again.
        if (!isErrorCode(error, "ENOENT") || attempt >= 10) throw error;
      }
    }
  }

  async save(bytes: Uint8Array): Promise<void> {
    const epoch = await this.#claim();
    await this.#checkFence(epoch);
    const target = join(this.#dir, this.#dataName(epoch));
    // Unique per store and per save, and named after this epoch: no other owner's cleanup touches it.
    const temp = join(this.#dir, `${this.#tempPrefix(epoch)}${crypto.randomUUID()}-${this.#saves++}`);
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
      await this.#checkFence(epoch);
      if (isDiskFullError(error)) {
        // Retried at the next checkpoint (a StateWriteError): the previous checkpoint stays.
        throw new StateWriteError(
          `no space left for the checkpoint ${target}: free space on that disk (CHECKPOINT_DIR); the previous checkpoint stays, so a restart resumes from it`,
          { cause: error },
        );
      }
      throw error;
    }
    await this.#syncDirectory(this.#dir);
  }

  #dataName(epoch: number): string {
    return epoch === 0 ? this.#name : `${this.#stem}.${epoch}${this.#ext}`;
  }

  #claimName(epoch: number): string {
    return `${this.#stem}.${epoch}.claim`;
  }

  #tempPrefix(epoch: number): string {
    return `.${this.#stem}.${epoch}${this.#ext}.tmp-`;
  }

  /** Throws {@link StateFencedError} when an owner after `epoch` has claimed the partition. */
  async #checkFence(epoch: number): Promise<void> {
    const newer = await stat(join(this.#dir, this.#claimName(epoch + 1))).then(
      () => true,
      (error) => (isErrorCode(error, "ENOENT") ? false : Promise.reject(error)),
    );
    if (newer) throw new StateFencedError(`${this.path}: another worker has claimed this partition since epoch ${epoch}; not saved`);
  }

  /** Claims the next epoch once per store. */
  #claim(): Promise<number> {
    this.#claiming ??= this.#claimNext().then((epoch) => (this.#epoch = epoch));
    return this.#claiming;
  }

  async #claimNext(): Promise<number> {
    await makeDirectoryDurable(this.#dir, this.#syncDirectory);
    for (let attempt = 0; attempt < 100; attempt++) {
      const { claims, data } = await this.#scan();
      const epoch = Math.max(0, ...claims, ...data.keys()) + 1;
      try {
        const file = await open(join(this.#dir, this.#claimName(epoch)), "wx");
        await file.close();
        await this.#syncDirectory(this.#dir);
        return epoch;
      } catch (error) {
        if (!isErrorCode(error, "EEXIST")) throw error;
        // Another worker claimed this epoch first: claim after it.
      }
    }
    throw new Error(`${this.path}: could not claim the partition's checkpoint after 100 attempts (other workers keep claiming it)`);
  }

  async #scan(): Promise<Found> {
    const found: Found = { claims: [], data: new Map() };
    const names = await readdir(this.#dir).catch((error) => (isErrorCode(error, "ENOENT") ? [] : Promise.reject(error)));
    const prefix = `${this.#stem}.`;
    for (const name of names) {
      if (name === this.#name) {
        found.data.set(0, name);
        continue;
      }
      if (!name.startsWith(prefix)) continue;
      const rest = name.slice(prefix.length);
      const claim = /^(\d+)\.claim$/.exec(rest);
      if (claim) {
        found.claims.push(Number(claim[1]));
        continue;
      }
      if (!rest.endsWith(this.#ext)) continue;
      const epoch = rest.slice(0, rest.length - this.#ext.length);
      if (/^\d+$/.test(epoch)) found.data.set(Number(epoch), name);
    }
    return found;
  }

  /** Removes the files and claims of epochs before `epoch`, and temporary files of those epochs (left by crashes). */
  async #removeOlder(epoch: number): Promise<void> {
    const { claims, data } = await this.#scan();
    const names: string[] = [];
    for (const [e, name] of data) if (e < epoch) names.push(name);
    for (const e of claims) if (e < epoch) names.push(this.#claimName(e));
    for (const name of await readdir(this.#dir)) {
      const temp = /^\.(.*)\.tmp-/.exec(name);
      if (!temp) continue;
      const owner = temp[1]!;
      // A legacy temp (`.<name>.tmp-…`) or one of an older epoch.
      const m = owner.startsWith(`${this.#stem}.`) ? /^(\d+)/.exec(owner.slice(this.#stem.length + 1)) : null;
      if (owner === this.#name || (m && Number(m[1]) < epoch)) names.push(name);
    }
    for (const name of names) await unlink(join(this.#dir, name)).catch(() => {});
    if (names.length > 0) await this.#syncDirectory(this.#dir);
  }
}

/** The file holding `path`'s newest checkpoint (highest epoch), or undefined: for tools and tests. */
export function newestCheckpointFile(path: string): string | undefined {
  const name = basename(path);
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  let best: [number, string] | undefined;
  let entries: string[] = [];
  try {
    entries = readdirSync(dirname(path));
  } catch {
    // no directory: no checkpoint
  }
  for (const entry of entries) {
    let epoch: number | undefined;
    if (entry === name) epoch = 0;
    else if (entry.startsWith(`${stem}.`) && entry.endsWith(ext)) {
      const middle = entry.slice(stem.length + 1, entry.length - ext.length);
      if (/^\d+$/.test(middle)) epoch = Number(middle);
    }
    if (epoch !== undefined && (!best || epoch > best[0])) best = [epoch, entry];
  }
  return best && join(dirname(path), best[1]);
}
