/**
 * Merges lake files into one, the compactor's work, at about the speed of copying them: a row
 * group of at least `copyMinRows` rows is copied byte for byte (its pages, statistics and page
 * indexes, offsets moved); only the rows of smaller groups are decoded, sorted by event time and
 * lineage, and encoded again into full groups. Writers' files at a live rate are mostly large
 * groups (one per flush and hour); the small ones are the stragglers of far-off hours.
 *
 * A file not of the lake's layout (lib/lake/lake-encoder.ts's `hasLakeLayout`) has all its rows
 * decoded and encoded again.
 */
import { parquetMetadata, parquetReadObjects, type FileMetaData } from "hyparquet";
import { LAKE_COMPRESSORS } from "./compressors.ts";
import { LakeRowGroups } from "./lake-columns.ts";
import { hasLakeLayout, LakeFileBuilder } from "./lake-encoder.ts";
import type { LakeRow } from "./schema.ts";

export interface MergeOptions {
  /** Row groups of at least this many rows are copied as they are. Default 10,000. */
  copyMinRows?: number;
  /** Rows per row group of the rows encoded again. Default 131,072. */
  rowGroupRows?: number;
}

export interface MergedLakeFile {
  bytes: Uint8Array;
  rows: number;
  /** Row groups copied as they were. */
  copiedGroups: number;
  /** Rows decoded and encoded again. */
  rewrittenRows: number;
}

/** Output order of rewritten rows: by event time (tight created_at statistics), then lineage. */
export function byTimeThenLineage(a: LakeRow, b: LakeRow): number {
  return (
    a.created_at.getTime() - b.created_at.getTime() ||
    a.kafka_partition - b.kafka_partition ||
    (a.kafka_offset < b.kafka_offset ? -1 : a.kafka_offset > b.kafka_offset ? 1 : 0)
  );
}

/** One file holding every row of `files`, each once. */
export async function mergeLakeFiles(files: readonly Uint8Array[], options: MergeOptions = {}): Promise<MergedLakeFile> {
  const copyMinRows = options.copyMinRows ?? 10_000;
  const builder = new LakeFileBuilder();
  const rewrite: LakeRow[] = [];
  let copiedGroups = 0;
  for (const bytes of files) {
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const metadata = parquetMetadata(buffer) as FileMetaData;
    const copyable = hasLakeLayout(metadata);
    let firstRow = 0;
    // Consecutive small groups are decoded in one read.
    let smallFrom = -1;
    const decodeSmall = async (end: number) => {
      if (smallFrom < 0) return;
      const rows = (await parquetReadObjects({ file: buffer, rowStart: smallFrom, rowEnd: end, compressors: LAKE_COMPRESSORS })) as LakeRow[];
      for (const row of rows) {
        row.kafka_timestamp ??= null;
        rewrite.push(row);
      }
      smallFrom = -1;
    };
    for (const [index, group] of metadata.row_groups.entries()) {
      const rows = Number(group.num_rows);
      if (copyable && rows >= copyMinRows) {
        await decodeSmall(firstRow);
        builder.copyGroup(bytes, metadata, index);
        copiedGroups += 1;
      } else if (smallFrom < 0) {
        smallFrom = firstRow;
      }
      firstRow += rows;
    }
    await decodeSmall(firstRow);
  }
  rewrite.sort(byTimeThenLineage);
  const groups = new LakeRowGroups(options.rowGroupRows ?? 131_072);
  for (const row of rewrite) groups.current().appendRow(row);
  for (const group of groups.groups) builder.addGroup(group);
  const { bytes } = builder.finish();
  return { bytes, rows: builder.rows, copiedGroups, rewrittenRows: rewrite.length };
}
