/**
 * Reading the lake's Delta table: the files of one snapshot (the newest, or a given version),
 * pruned by hour partition if asked, their rows decoded with hyparquet. The notebooks, the
 * benchmarks and the tests read the lake through it.
 *
 * A snapshot's files stay on storage until vacuum deletes them, which it does only past its
 * retention; a read of the newest version that still finds one gone (a read slower than the
 * retention, or a vacuum run with a short one) starts again from a newer snapshot. A read of a
 * given older version whose files are gone cannot be served, and says so.
 */
import { partitionOfOffsetsAppId } from "./writer.ts";
import { loadSnapshot } from "./delta-snapshot.ts";
import { dirOf } from "./layout.ts";
import { decodeLakeFile, type LakeRow } from "./schema.ts";
import type { LakeStore } from "./store.ts";

export interface LakeReadOptions {
  /** The version to read. Default: the newest. */
  version?: number;
  /** Only hour partitions this accepts (`dt=…/hour=…`) are read: partition pruning. Default: all. */
  hours?: (hourDir: string) => boolean;
  /** With the topic, the read reports each Kafka partition's committed next offset. */
  topic?: string;
  /** Give up after this many fresh starts (each one means a file vanished mid-read). Default 5. */
  maxAttempts?: number;
}

export interface LakeRead {
  version: number;
  /** The files read, sorted. */
  files: string[];
  rows: LakeRow[];
  /** Per Kafka partition of `topic`: the next offset after its last committed one. Empty without `topic`. */
  nextOffsets: Map<number, bigint>;
  /** Fresh starts taken because a file vanished. */
  retries: number;
}

export async function readLake(store: LakeStore, options: LakeReadOptions = {}): Promise<LakeRead> {
  const maxAttempts = options.maxAttempts ?? 5;
  for (let attempt = 0; ; attempt++) {
    const snapshot = await loadSnapshot(store, options.version);
    const files = [...snapshot.files.keys()].filter((path) => options.hours?.(dirOf(path)) ?? true).sort();
    const rows: LakeRow[] = [];
    let vanished: string | undefined;
    for (const path of files) {
      const bytes = await store.read(path);
      if (bytes === undefined) {
        vanished = path;
        break;
      }
      for (const row of await decodeLakeFile(bytes)) rows.push(row);
    }
    if (vanished === undefined) {
      const nextOffsets = new Map<number, bigint>();
      if (options.topic !== undefined) {
        for (const [appId, version] of snapshot.transactions) {
          const partition = partitionOfOffsetsAppId(options.topic, appId);
          if (partition !== undefined) nextOffsets.set(partition, version + 1n);
        }
      }
      return { version: snapshot.version, files, rows, nextOffsets, retries: attempt };
    }
    if (options.version !== undefined) {
      throw new Error(`version ${options.version} lists ${vanished}, which is no longer in storage (vacuumed): read a newer version`);
    }
    if (attempt + 1 >= maxAttempts) {
      throw new Error(`files of the table vanished during each of ${maxAttempts} reads (the last: ${vanished}); is vacuum running with a retention shorter than a read?`);
    }
  }
}
