/**
 * ZSTD for the lake's Parquet files — data files and the Delta log's checkpoints — from the
 * runtime's own zlib (Bun, Deno 2 and Node 22 have it), so no codec is bundled.
 *
 * - `zstdCompress`: level 1, what the lake writes (lib/lake/lake-encoder.ts's pages; the
 *   checkpoints through hyparquet-writer's `compressors`).
 * - `LAKE_COMPRESSORS`: hyparquet's `compressors` for reading them. SNAPPY, the codec of older
 *   lake files and checkpoints, is hyparquet's own. Pass it to every hyparquet read of a lake
 *   file: `parquetReadObjects({ file, compressors: LAKE_COMPRESSORS })`.
 */
import { constants, zstdCompressSync, zstdDecompressSync } from "node:zlib";

const LEVEL_1 = { params: { [constants.ZSTD_c_compressionLevel]: 1 } };

/** `input` compressed with ZSTD at level 1 (one frame). */
export function zstdCompress(input: Uint8Array): Uint8Array {
  return zstdCompressSync(input, LEVEL_1);
}

export const LAKE_COMPRESSORS = {
  ZSTD: (input: Uint8Array): Uint8Array => zstdDecompressSync(input),
};
