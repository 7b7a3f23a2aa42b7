/**
 * hyparquet's `compressors` for the lake's files: ZSTD (the pages' codec since issue 20, see
 * lib/lake/lake-encoder.ts) from the runtime's own zlib — Bun, Deno 2 and Node 22 have it — so
 * no decoder is bundled; SNAPPY, the codec of older lake files, is hyparquet's own. Pass it to
 * every hyparquet read of a lake file: `parquetReadObjects({ file, compressors: LAKE_COMPRESSORS })`.
 */
import { zstdDecompressSync } from "node:zlib";

export const LAKE_COMPRESSORS = {
  ZSTD: (input: Uint8Array): Uint8Array => zstdDecompressSync(input),
};
