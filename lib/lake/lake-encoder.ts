/**
 * The lake's Parquet encoder: row groups of {@link LakeColumns} in, one file out, for exactly one
 * schema (lib/lake/schema.ts's LAKE_SCHEMA). Knowing the schema, it does no type inference, no
 * value conversion and no encoding trials per value: it cuts pages out of the buffers the columns
 * already hold.
 *
 * - ids (event_id, order_id, user_id) PLAIN; every other string dictionary-encoded
 *   (RLE_DICTIONARY over a PLAIN dictionary page); created_at PLAIN; kafka_offset
 *   DELTA_BINARY_PACKED (hyparquet-writer's) while it fits 32 bits, else PLAIN; every other
 *   integer dictionary-encoded when at most a quarter of its values are distinct, else PLAIN;
 * - data pages v1 (levels RLE/bit-packed), every page ZSTD at level 1 (the runtime's zlib), or
 *   SNAPPY (lib/lake/snappy.ts) when asked; a row group of fewer than 64 rows UNCOMPRESSED;
 * - min/max and null counts for every column chunk, a page index (ColumnIndex and OffsetIndex)
 *   on created_at and kafka_offset;
 * - page headers, page indexes and footer by lib/lake/parquet-thrift.ts.
 *
 * It also returns what Delta's `add.stats` needs, so nobody walks the rows again for it.
 */
import { type FileMetaData, readOffsetIndex, type SchemaElement } from "hyparquet";
import { ByteWriter } from "hyparquet-writer";
import { deltaBinaryPack } from "hyparquet-writer/src/delta.js";
import { unconvertMinMax } from "hyparquet-writer/src/unconvert.js";
import { Bytes, type LakeColumns, type Numbers, PlainStrings, StringDictionary } from "./lake-columns.ts";
import {
  type ChunkMeta,
  Codec,
  CompactWriter,
  Encoding,
  PageType,
  PhysicalType,
  type RowGroupMeta,
  type SchemaNode,
  writeColumnIndex,
  writeFileMetaData,
  writeOffsetIndex,
  writePageHeader,
} from "./parquet-thrift.ts";
import { LAKE_SCHEMA } from "./schema.ts";
import { zstdCompress } from "./compressors.ts";
import { maxCompressedLength, snappyCompressInto } from "./snappy.ts";

export const LAKE_CREATED_BY = "orderpulse lake encoder 1";

type ColumnOf = (c: LakeColumns) => PlainStrings | StringDictionary | Numbers;

interface Leaf {
  path: string[];
  element: SchemaElement;
  pick: ColumnOf;
  /** A column of the items list: one value per item, repetition and definition levels. */
  nested: boolean;
  /** kafka_timestamp: definition levels, NaN is null. */
  optional: boolean;
  /** Integers: never dictionary-encoded (values nearly all distinct), else dictionary when it pays. */
  plain: boolean;
  /** DELTA_BINARY_PACKED where the values fit 32 bits (kafka_offset), else PLAIN. */
  delta: boolean;
  pageIndex: boolean;
}

function leaf(path: string[], pick: ColumnOf, options: Partial<Pick<Leaf, "nested" | "optional" | "plain" | "delta" | "pageIndex">> = {}): Leaf {
  const name = path[path.length - 1]!;
  const element = LAKE_SCHEMA.find((e) => e.name === name && e.type !== undefined)!;
  return { path, element: element as SchemaElement, pick, nested: false, optional: false, plain: false, delta: false, pageIndex: false, ...options };
}

/** The leaf columns in file order (LAKE_SCHEMA's depth-first order); built on first use (schema.ts imports this module). */
let leaves: readonly Leaf[] | undefined;
function lakeLeaves(): readonly Leaf[] {
  return (leaves ??= [
  leaf(["event_id"], (c) => c.event_id),
  leaf(["order_id"], (c) => c.order_id),
  leaf(["user_id"], (c) => c.user_id),
  leaf(["created_at"], (c) => c.created_at, { plain: true, pageIndex: true }),
  leaf(["currency"], (c) => c.currency),
  leaf(["total_minor"], (c) => c.total_minor),
  leaf(["discount_minor"], (c) => c.discount_minor),
  leaf(["total_usd_cents"], (c) => c.total_usd_cents),
  leaf(["country"], (c) => c.country),
  leaf(["payment_method"], (c) => c.payment_method),
  leaf(["channel"], (c) => c.channel),
  leaf(["status"], (c) => c.status),
  leaf(["item_count"], (c) => c.item_count),
  leaf(["items", "list", "element", "sku"], (c) => c.sku, { nested: true }),
  leaf(["items", "list", "element", "category"], (c) => c.category, { nested: true }),
  leaf(["items", "list", "element", "qty"], (c) => c.qty, { nested: true }),
  leaf(["items", "list", "element", "unit_price_minor"], (c) => c.unit_price_minor, { nested: true }),
  leaf(["schema_version"], (c) => c.schema_version),
  leaf(["kafka_partition"], (c) => c.kafka_partition),
  leaf(["kafka_offset"], (c) => c.kafka_offset, { plain: true, delta: true, pageIndex: true }),
  leaf(["kafka_timestamp"], (c) => c.kafka_timestamp, { optional: true }),
  ]);
}

export interface LakeEncodeOptions {
  /** Target uncompressed bytes of a data page. Default 256 KiB. */
  pageBytes?: number;
  /**
   * The pages' compression. Default ZSTD (level 1): on the lake's rows about half SNAPPY's size
   * at twice the speed of lib/lake/snappy.ts (bench/results/lake.md). Every reader of the lake
   * has it (DuckDB, pyarrow, delta-rs, Spark; hyparquet through lib/lake/compressors.ts).
   */
  codec?: "ZSTD" | "SNAPPY";
}

/** What a Delta `add` records of a file: its row count and, per top-level column, min, max and nulls. */
export interface LakeFileSummary {
  rows: number;
  /** By column name; numbers (timestamps as ms), strings as UTF-8 bytes. Absent: the column is all null. */
  min: Record<string, number | Uint8Array>;
  max: Record<string, number | Uint8Array>;
  nulls: Record<string, number>;
}

export interface EncodedLakeFile {
  bytes: Uint8Array;
  summary: LakeFileSummary;
}

interface ChunkResult {
  chunk: ChunkMeta;
  /** The page index, for a column that has one and more than one page. */
  pageIndex?: { nullPages: boolean[]; min: Uint8Array[]; max: Uint8Array[]; nullCounts: number[]; pages: { offset: number; size: number; firstRow: number }[] };
  min?: number | Uint8Array;
  max?: number | Uint8Array;
  nulls: number;
}

/** Reused scratch: one page's uncompressed body, its compressed form, one page header. */
const body = new Bytes(1 << 16);
let compressed = new Uint8Array(1 << 16);
const header = new Bytes(256);
const delta = new ByteWriter(1 << 16);
const headerWriter = new CompactWriter(header);

/** One Parquet file holding `groups` (one row group each, in order). Throws a RangeError for no rows. */
export function encodeLakeGroups(groups: readonly LakeColumns[], options: LakeEncodeOptions = {}): EncodedLakeFile {
  const file = new LakeFileBuilder(options);
  for (const group of groups) if (group.rows > 0) file.addGroup(group);
  return file.finish();
}

/** A column chunk's page index, written after the row groups. */
interface PendingIndex {
  chunk: ChunkMeta;
  /** The ColumnIndex, serialized (it holds no file offsets). */
  columnIndex: Uint8Array;
  /** The OffsetIndex's page locations, at their offsets in this file. */
  pages: { offset: number; size: number; firstRow: number }[];
}

/**
 * A lake file built row group by row group: groups encoded from columns (`addGroup`) and groups
 * copied byte for byte from another lake file (`copyGroup`, the compactor's way to merge files
 * without decoding them), then `finish()` writes the page indexes and the footer.
 */
export class LakeFileBuilder {
  readonly #out = new Bytes(1 << 16);
  readonly #rowGroups: RowGroupMeta[] = [];
  readonly #indexes: PendingIndex[] = [];
  readonly #pageBytes: number;
  readonly #codec: number;
  readonly summary: LakeFileSummary = { rows: 0, min: {}, max: {}, nulls: {} };

  constructor(options: LakeEncodeOptions = {}) {
    this.#pageBytes = options.pageBytes ?? 256 * 1024;
    this.#codec = Codec[options.codec ?? "ZSTD"];
    this.#out.bytes(MAGIC);
  }

  get rows(): number {
    return this.summary.rows;
  }

  addGroup(group: LakeColumns): void {
    if (group.rows === 0) return;
    const out = this.#out;
    const groupStart = out.length;
    const columns: ChunkMeta[] = [];
    let uncompressed = 0;
    // A group of a few rows is stored as it is: its pages are a few bytes, and compressing each
    // one (and decompressing it in every reader) costs a call per page for nothing.
    const codec = group.rows < COMPRESS_FROM_ROWS ? Codec.UNCOMPRESSED : this.#codec;
    for (const column of lakeLeaves()) {
      const result = encodeChunk(out, group, column, this.#pageBytes, codec);
      columns.push(result.chunk);
      uncompressed += result.chunk.uncompressed;
      if (result.pageIndex) {
        const bytes = new Bytes(1024);
        writeColumnIndex(new CompactWriter(bytes), result.pageIndex);
        this.#indexes.push({ chunk: result.chunk, columnIndex: bytes.view(), pages: result.pageIndex.pages });
      }
      if (!column.nested) mergeSummary(this.summary, column.path[0]!, result);
    }
    this.summary.rows += group.rows;
    this.#rowGroups.push({ columns, totalByteSize: uncompressed, numRows: group.rows, fileOffset: groupStart, totalCompressed: out.length - groupStart });
  }

  /**
   * Row group `index` of the lake file `file` (its footer `metadata`, as hyparquet reads it),
   * copied as it is: its column chunks' bytes, statistics and page indexes, offsets moved to
   * where it lands. Only for a file of this layout ({@link hasLakeLayout}); the summary is the
   * caller's to merge. Key/value metadata, encoding stats and bloom filters are not copied.
   */
  copyGroup(file: Uint8Array, metadata: FileMetaData, index: number): void {
    const group = metadata.row_groups[index]!;
    let start = Number.POSITIVE_INFINITY;
    let end = 0;
    for (const c of group.columns) {
      const m = c.meta_data!;
      const first = Number(m.dictionary_page_offset ?? m.data_page_offset);
      start = Math.min(start, first, Number(m.data_page_offset));
      end = Math.max(end, first + Number(m.total_compressed_size));
    }
    const out = this.#out;
    const shift = out.length - start;
    out.bytes(file, start, end);
    const reader = { view: new DataView(file.buffer, file.byteOffset, file.byteLength), offset: 0 };
    const leaves = lakeLeaves();
    const columns = group.columns.map((c, i): ChunkMeta => {
      const m = c.meta_data!;
      const element = leaves[i]!.element;
      const stats = m.statistics;
      const chunk: ChunkMeta = {
        type: PhysicalType[m.type],
        encodings: m.encodings.map((e) => ENCODING_IDS.indexOf(e)),
        path: m.path_in_schema,
        codec: Codec[m.codec as keyof typeof Codec] ?? unsupportedCodec(m.codec),
        numValues: Number(m.num_values),
        uncompressed: Number(m.total_uncompressed_size),
        compressed: Number(m.total_compressed_size),
        dataPageOffset: Number(m.data_page_offset) + shift,
        dictionaryPageOffset: m.dictionary_page_offset === undefined ? undefined : Number(m.dictionary_page_offset) + shift,
        statistics: {
          nullCount: Number(stats?.null_count ?? 0n),
          min: unconvertMinMax((stats?.min_value ?? undefined) as never, element as never, false, 64),
          max: unconvertMinMax((stats?.max_value ?? undefined) as never, element as never, true, 64),
        },
      };
      if (c.offset_index_offset !== undefined && c.offset_index_length !== undefined && c.column_index_offset !== undefined && c.column_index_length !== undefined) {
        reader.offset = Number(c.offset_index_offset);
        const offsets = readOffsetIndex(reader as never);
        const at = Number(c.column_index_offset);
        this.#indexes.push({
          chunk,
          columnIndex: file.slice(at, at + c.column_index_length),
          pages: offsets.page_locations.map((p) => ({ offset: Number(p.offset) + shift, size: p.compressed_page_size, firstRow: Number(p.first_row_index) })),
        });
      }
      return chunk;
    });
    this.summary.rows += Number(group.num_rows);
    this.#rowGroups.push({ columns, totalByteSize: Number(group.total_byte_size), numRows: Number(group.num_rows), fileOffset: start + shift, totalCompressed: end - start });
  }

  /** The file: page indexes (column indexes, then offset indexes), footer, magic. Throws a RangeError for no rows. */
  finish(): EncodedLakeFile {
    if (this.#rowGroups.length === 0) throw new RangeError("a lake file needs at least one row: got 0");
    const out = this.#out;
    for (const index of this.#indexes) {
      index.chunk.columnIndex = { offset: out.length, length: index.columnIndex.length };
      out.bytes(index.columnIndex);
    }
    const w = new CompactWriter(out);
    for (const index of this.#indexes) {
      const at = out.length;
      writeOffsetIndex(w, index.pages);
      index.chunk.offsetIndex = { offset: at, length: out.length - at };
    }
    const footerAt = out.length;
    writeFileMetaData(w, LAKE_SCHEMA as SchemaNode[], this.#rowGroups, LAKE_CREATED_BY);
    out.u32(out.length - footerAt);
    out.bytes(MAGIC);
    return { bytes: out.view(), summary: this.summary };
  }
}

/** parquet.thrift's Encoding enum, by position (as hyparquet names them). */
const ENCODING_IDS = ["PLAIN", "GROUP_VAR_INT", "PLAIN_DICTIONARY", "RLE", "BIT_PACKED", "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY", "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"];

/** Whether `metadata` is a file of the lake's schema: the same leaf columns, in order, of the same types. */
export function hasLakeLayout(metadata: FileMetaData): boolean {
  const expected = lakeLeaves();
  return metadata.row_groups.every(
    (g) =>
      g.columns.length === expected.length &&
      g.columns.every((c, i) => c.meta_data !== undefined && c.meta_data.type === expected[i]!.element.type && c.meta_data.path_in_schema.join(".") === expected[i]!.path.join(".")),
  );
}

const MAGIC = new TextEncoder().encode("PAR1");

function unsupportedCodec(codec: string): never {
  throw new RangeError(`a lake file's column chunk is compressed with ${codec}: only ZSTD, SNAPPY and UNCOMPRESSED chunks can be copied`);
}

function mergeSummary(summary: LakeFileSummary, name: string, result: ChunkResult): void {
  summary.nulls[name] = (summary.nulls[name] ?? 0) + result.nulls;
  if (result.min === undefined || result.max === undefined) return;
  const min = summary.min[name];
  const max = summary.max[name];
  if (min === undefined || compare(result.min, min) < 0) summary.min[name] = result.min;
  if (max === undefined || compare(result.max, max) > 0) summary.max[name] = result.max;
}

function compare(a: number | Uint8Array, b: number | Uint8Array): number {
  if (typeof a === "number") return a - (b as number);
  return compareBytes(a, 0, a.length, b as Uint8Array, 0, (b as Uint8Array).length);
}

function compareBytes(a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number): number {
  const n = Math.min(aEnd - aStart, bEnd - bStart);
  for (let i = 0; i < n; i++) {
    const d = a[aStart + i]! - b[bStart + i]!;
    if (d !== 0) return d;
  }
  return aEnd - aStart - (bEnd - bStart);
}

/** Row ranges of the pages of one column chunk: about `pageBytes` uncompressed each. */
function pageRows(rows: number, bytesPerRow: number, pageBytes: number): number {
  return Math.max(1, Math.min(rows, Math.floor(pageBytes / Math.max(1, bytesPerRow))));
}

function encodeChunk(out: Bytes, group: LakeColumns, column: Leaf, pageBytes: number, codec: number): ChunkResult {
  const data = column.pick(group);
  const rows = group.rows;
  const values = column.nested ? group.items : rows;
  const chunkStart = out.length;
  let uncompressed = 0;
  let dictionaryOffset: number | undefined;
  const type = column.element.type!;
  const int64 = type === "INT64";

  // Dictionary, when the column has one: strings always, integers when few are distinct.
  let indices: Int32Array | undefined;
  let dictionarySize = 0;
  let numberDictionary: number[] | undefined;
  if (data instanceof StringDictionary) {
    indices = data.indices.view();
    dictionarySize = data.size;
    dictionaryOffset = out.length;
    uncompressed += writePage(out, data.entries.plain.view(), PageType.DICTIONARY_PAGE, dictionarySize, Encoding.PLAIN, codec);
  } else if (!(data instanceof PlainStrings) && !column.plain) {
    const found = numberIndices(data.view(), column.optional);
    if (found) {
      indices = found.indices;
      numberDictionary = found.dictionary;
      dictionarySize = numberDictionary.length;
      body.length = 0;
      for (const v of numberDictionary) writeInteger(body, v, int64);
      dictionaryOffset = out.length;
      uncompressed += writePage(out, body.view(), PageType.DICTIONARY_PAGE, dictionarySize, Encoding.PLAIN, codec);
    }
  }
  const bitWidth = Math.max(1, Math.ceil(Math.log2(Math.max(1, dictionarySize))));

  // Bytes per row, for the page size.
  let bytesPerRow: number;
  if (data instanceof PlainStrings) bytesPerRow = data.plain.length / Math.max(1, values);
  else if (indices) bytesPerRow = bitWidth / 8;
  else bytesPerRow = int64 ? 8 : 4;
  if (column.nested) bytesPerRow *= values / Math.max(1, rows);
  const perPage = pageRows(rows, bytesPerRow, pageBytes);

  const dataPageOffset = out.length;
  const pageIndex: ChunkResult["pageIndex"] = column.pageIndex && rows > perPage ? { nullPages: [], min: [], max: [], nullCounts: [], pages: [] } : undefined;
  let min: number | Uint8Array | undefined;
  let max: number | Uint8Array | undefined;
  let nulls = 0;
  let levelCount = 0;
  let usedDelta = false;

  for (let firstRow = 0; firstRow < rows; firstRow += perPage) {
    const endRow = Math.min(rows, firstRow + perPage);
    const from = column.nested ? group.itemStarts.data[firstRow]! : firstRow;
    const to = column.nested ? group.itemStarts.data[endRow]! : endRow;
    body.length = 0;
    let pageLevels = to - from;
    // Levels: repetition (items), then definition (items, kafka_timestamp).
    if (column.nested) {
      // At most one level per item, or one for a row without items.
      const rep = levelScratch(0, to - from + (endRow - firstRow));
      const def = levelScratch(1, to - from + (endRow - firstRow));
      const n = itemLevels(group.itemStarts.data, firstRow, endRow, rep, def);
      pageLevels = n;
      writeLevels(body, rep, n, 1);
      writeLevels(body, def, n, 1);
    }
    let pageNulls = 0;
    let pageEncoding: number = Encoding.PLAIN;
    let pageMin = Number.POSITIVE_INFINITY;
    let pageMax = Number.NEGATIVE_INFINITY;
    if (column.optional) {
      const def = levelScratch(0, to - from);
      pageNulls = presenceLevels((data as Numbers).data, from, to, def);
      writeLevels(body, def, to - from, 1);
    }
    // Values.
    if (data instanceof PlainStrings) {
      const start = data.starts.data[from]!;
      const end = to < data.starts.length ? data.starts.data[to]! : data.plain.length;
      body.bytes(data.plain.data, start, end);
      const range = stringsMinMax(data, from, to, min as Uint8Array | undefined, max as Uint8Array | undefined);
      min = range.min;
      max = range.max;
    } else if (indices) {
      body.u8(bitWidth);
      if (column.optional) {
        const present = levelScratch(1, to - from);
        writeHybrid(body, present, presentIndices((data as Numbers).data, indices, from, to, present), bitWidth);
      } else {
        writeHybrid(body, indices.subarray(from, to), to - from, bitWidth);
      }
      if (!(data instanceof StringDictionary)) {
        numbersMinMax((data as Numbers).data, from, to);
        pageMin = rangeMin;
        pageMax = rangeMax;
      }
    } else {
      const nums = (data as Numbers).data;
      numbersMinMax(nums, from, to);
      pageMin = rangeMin;
      pageMax = rangeMax;
      pageEncoding = column.delta && !column.optional && pageMin >= -2_147_483_648 && pageMax <= 2_147_483_647 ? Encoding.DELTA_BINARY_PACKED : Encoding.PLAIN;
      if (pageEncoding === Encoding.DELTA_BINARY_PACKED) {
        // Offsets rise by one within a partition's run: a few bits a row instead of eight bytes.
        delta.offset = 0;
        delta.index = 0;
        deltaBinaryPack(delta, nums.subarray(from, to), "INT64");
        body.bytes(delta.getBytes());
        usedDelta = true;
      } else {
        writePlainIntegers(body, nums, from, to, int64);
      }
    }
    if (!(data instanceof PlainStrings) && !(data instanceof StringDictionary) && pageMin <= pageMax) {
      if (min === undefined || pageMin < (min as number)) min = pageMin;
      if (max === undefined || pageMax > (max as number)) max = pageMax;
    }
    nulls += pageNulls;
    levelCount += pageLevels;
    const pageOffset = out.length;
    uncompressed += writePage(out, body.view(), PageType.DATA_PAGE, pageLevels, indices ? Encoding.RLE_DICTIONARY : pageEncoding, codec);
    if (pageIndex) {
      const nullPage = pageNulls === to - from;
      pageIndex.nullPages.push(nullPage);
      pageIndex.min.push(nullPage ? new Uint8Array() : integerBytes(pageMin, int64));
      pageIndex.max.push(nullPage ? new Uint8Array() : integerBytes(pageMax, int64));
      pageIndex.nullCounts.push(pageNulls);
      pageIndex.pages.push({ offset: pageOffset, size: out.length - pageOffset, firstRow });
    }
  }

  if (data instanceof StringDictionary) {
    // Every entry of a group's dictionary is used by the group.
    const range = stringsMinMax(data.entries, 0, data.size, undefined, undefined);
    min = range.min;
    max = range.max;
  }

  const chunk: ChunkMeta = {
    type: PhysicalType[type],
    encodings: indices ? [Encoding.PLAIN, Encoding.RLE, Encoding.RLE_DICTIONARY] : usedDelta ? [Encoding.PLAIN, Encoding.RLE, Encoding.DELTA_BINARY_PACKED] : [Encoding.PLAIN, Encoding.RLE],
    path: column.path,
    codec,
    numValues: levelCount,
    uncompressed,
    compressed: out.length - chunkStart,
    dataPageOffset,
    dictionaryPageOffset: dictionaryOffset,
    statistics: {
      nullCount: nulls,
      min: min === undefined ? undefined : typeof min === "number" ? integerBytes(min, int64) : min,
      max: max === undefined ? undefined : typeof max === "number" ? integerBytes(max, int64) : max,
    },
  };
  return pageIndex ? { chunk, pageIndex, min, max, nulls } : { chunk, min, max, nulls };
}

/*
 * The per-value loops of encodeChunk, each in a function of its own: small loops the JIT
 * optimizes in a few milliseconds, where encodeChunk holding them all (every column kind's
 * branches) was optimized again and again, over a second of compile time per 2,000,000 rows.
 */

/** Repetition and definition levels of rows [firstRow, endRow) of a list column, into `rep` and `def`; returns how many. */
function itemLevels(itemStarts: Int32Array, firstRow: number, endRow: number, rep: Int32Array, def: Int32Array): number {
  let n = 0;
  for (let r = firstRow; r < endRow; r++) {
    const a = itemStarts[r]!;
    const b = itemStarts[r + 1]!;
    if (a === b) {
      rep[n] = 0;
      def[n++] = 0;
      continue;
    }
    for (let j = a; j < b; j++) {
      rep[n] = j === a ? 0 : 1;
      def[n++] = 1;
    }
  }
  return n;
}

/** Definition levels of an optional column's values [from, to) into `def` (0 for NaN, a null); returns the nulls. */
function presenceLevels(nums: Float64Array, from: number, to: number, def: Int32Array): number {
  let nulls = 0;
  for (let i = from; i < to; i++) {
    const isNull = Number.isNaN(nums[i]!);
    def[i - from] = isNull ? 0 : 1;
    if (isNull) nulls += 1;
  }
  return nulls;
}

/** The dictionary indices of the non-null values [from, to) into `out`; returns how many. */
function presentIndices(nums: Float64Array, indices: Int32Array, from: number, to: number, out: Int32Array): number {
  let n = 0;
  for (let i = from; i < to; i++) if (!Number.isNaN(nums[i]!)) out[n++] = indices[i]!;
  return n;
}

/** numbersMinMax's result: +Infinity/-Infinity when every value was NaN. */
let rangeMin = 0;
let rangeMax = 0;

/** The least and greatest non-NaN value of [from, to), into rangeMin and rangeMax. */
function numbersMinMax(nums: Float64Array, from: number, to: number): void {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = from; i < to; i++) {
    const v = nums[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  rangeMin = lo;
  rangeMax = hi;
}

/** The byte-wise least and greatest of values [from, to) of `strings`, starting from `min`/`max` (copies). */
function stringsMinMax(strings: PlainStrings, from: number, to: number, min: Uint8Array | undefined, max: Uint8Array | undefined): { min: Uint8Array | undefined; max: Uint8Array | undefined } {
  const d = strings.plain.data;
  const starts = strings.starts.data;
  for (let i = from; i < to; i++) {
    const lengthAt = starts[i]!;
    const s = lengthAt + 4;
    const e = s + (d[lengthAt]! | (d[lengthAt + 1]! << 8) | (d[lengthAt + 2]! << 16) | (d[lengthAt + 3]! << 24));
    if (min === undefined || compareBytes(d, s, e, min, 0, min.length) < 0) min = d.slice(s, e);
    if (max === undefined || compareBytes(d, s, e, max, 0, max.length) > 0) max = d.slice(s, e);
  }
  return { min, max };
}

/** Values [from, to) that are not NaN, PLAIN. */
function writePlainIntegers(body: Bytes, nums: Float64Array, from: number, to: number, int64: boolean): void {
  body.ensure((to - from) * 8);
  for (let i = from; i < to; i++) {
    const v = nums[i]!;
    if (!Number.isNaN(v)) writeInteger(body, v, int64);
  }
}

let indexScratch = new Int32Array(0);
/** Two scratch arrays for a page's levels (or its present indices), reused page after page. */
const levelScratches = [new Int32Array(0), new Int32Array(0)];

/** Scratch array `which` (0 or 1), with room for `n` values; what it held is not kept. */
function levelScratch(which: 0 | 1, n: number): Int32Array {
  if (levelScratches[which]!.length < n) levelScratches[which] = new Int32Array(Math.max(n, 2 * levelScratches[which]!.length));
  return levelScratches[which]!;
}

/** Dictionary indices of `values` when at most a quarter are distinct (NaN, a null, gets none); else undefined. */
function numberIndices(values: Float64Array, optional: boolean): { indices: Int32Array; dictionary: number[] } | undefined {
  const limit = Math.max(1, values.length >>> 2);
  const dictionary: number[] = [];
  // Scratch reused by every chunk (each chunk's pages are written before the next is encoded).
  if (indexScratch.length < values.length) indexScratch = new Int32Array(Math.max(values.length, 2 * indexScratch.length));
  const indices = indexScratch.subarray(0, values.length);
  // Values seen, by open addressing: a table at least twice the limit, cleared for this chunk.
  const bits = Math.max(6, Math.ceil(Math.log2(limit + 1)) + 1);
  const mask = (1 << bits) - 1;
  if (seenSlots.length <= mask) {
    seenSlots = new Int32Array(mask + 1);
    seenValues = new Float64Array(mask + 1);
  }
  seenSlots.fill(0, 0, mask + 1);
  let last = Number.NaN;
  let lastIndex = -1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v === last) {
      indices[i] = lastIndex;
      continue;
    }
    if (optional && Number.isNaN(v)) {
      indices[i] = 0;
      continue;
    }
    // Integers below 2^53: both 32-bit halves in the hash.
    let slot = Math.imul((v | 0) ^ ((v / 4294967296) | 0), 0x9e3779b1) >>> (32 - bits);
    let index: number;
    for (;;) {
      const held = seenSlots[slot]!;
      if (held === 0) {
        index = dictionary.length;
        if (index >= limit) return undefined;
        dictionary.push(v);
        seenSlots[slot] = index + 1;
        seenValues[slot] = v;
        break;
      }
      if (seenValues[slot] === v) {
        index = held - 1;
        break;
      }
      slot = (slot + 1) & mask;
    }
    indices[i] = index;
    last = v;
    lastIndex = index;
  }
  return { indices, dictionary };
}

/** numberIndices' table: dictionary index + 1 by slot (0: empty), and the value in each slot. */
let seenSlots = new Int32Array(0);
let seenValues = new Float64Array(0);

function writeInteger(to: Bytes, v: number, int64: boolean): void {
  if (!int64) return to.u32(v | 0);
  const hi = Math.floor(v / 4294967296);
  to.u32(v - hi * 4294967296);
  to.u32(hi | 0);
}

/** `v` as PLAIN bytes (a statistic): 4 or 8 bytes, little-endian, in a Uint8Array of its own. */
function integerBytes(v: number, int64: boolean): Uint8Array {
  const b = new Uint8Array(int64 ? 8 : 4);
  const hi = int64 ? Math.floor(v / 4294967296) : 0;
  const lo = int64 ? v - hi * 4294967296 : v | 0;
  b[0] = lo & 0xff;
  b[1] = (lo >>> 8) & 0xff;
  b[2] = (lo >>> 16) & 0xff;
  b[3] = (lo >>> 24) & 0xff;
  if (int64) {
    b[4] = hi & 0xff;
    b[5] = (hi >>> 8) & 0xff;
    b[6] = (hi >>> 16) & 0xff;
    b[7] = (hi >>> 24) & 0xff;
  }
  return b;
}

/** A page: header then its body compressed with `codec`. Returns its uncompressed size, header included. */
function writePage(out: Bytes, page: Uint8Array, type: number, count: number, encoding: number, codec: number): number {
  let body: Uint8Array;
  if (codec === Codec.UNCOMPRESSED) {
    body = page;
  } else if (codec === Codec.ZSTD) {
    body = zstdCompress(page);
  } else {
    const room = maxCompressedLength(page.length);
    if (compressed.length < room) compressed = new Uint8Array(room);
    body = compressed.subarray(0, snappyCompressInto(page, compressed, 0));
  }
  header.length = 0;
  writePageHeader(headerWriter, { type, uncompressed: page.length, compressed: body.length, count, encoding });
  out.bytes(header.data, 0, header.length);
  out.bytes(body);
  return header.length + page.length;
}

/** Row groups with fewer rows are written UNCOMPRESSED. */
const COMPRESS_FROM_ROWS = 64;

/** Levels `levels[0, count)` of a v1 data page: their byte length (4 bytes), then the RLE/bit-packed hybrid. */
function writeLevels(to: Bytes, levels: ArrayLike<number>, count: number, bitWidth: number): void {
  const lengthAt = to.length;
  to.u32(0);
  writeHybrid(to, levels, count, bitWidth);
  const n = to.length - lengthAt - 4;
  to.data[lengthAt] = n & 0xff;
  to.data[lengthAt + 1] = (n >>> 8) & 0xff;
  to.data[lengthAt + 2] = (n >>> 16) & 0xff;
  to.data[lengthAt + 3] = (n >>> 24) & 0xff;
}

/** The RLE/bit-packed hybrid encoding of `values[0, n)`: runs of 8 or more as RLE, the rest bit-packed in groups of 8. */
export function writeHybrid(to: Bytes, values: ArrayLike<number>, n: number, bitWidth: number): void {
  const byteWidth = (bitWidth + 7) >>> 3;
  let i = 0;
  let packedStart = -1;
  let packedGroups = 0;
  while (i < n) {
    const v = values[i]!;
    let run = 1;
    while (i + run < n && values[i + run] === v) run++;
    if (run >= 8) {
      if (packedGroups > 0) {
        writePacked(to, values, n, packedStart, packedGroups, bitWidth);
        packedGroups = 0;
      }
      to.varint(run << 1);
      for (let b = 0; b < byteWidth; b++) to.u8((v >>> (8 * b)) & 0xff);
      i += run;
    } else {
      if (packedGroups === 0) packedStart = i;
      packedGroups += 1;
      i += 8;
      // A bit-packed run is at most 63 groups in one header byte; longer ones just take more headers.
    }
  }
  if (packedGroups > 0) writePacked(to, values, n, packedStart, packedGroups, bitWidth);
}

function writePacked(to: Bytes, values: ArrayLike<number>, n: number, start: number, groups: number, bitWidth: number): void {
  to.varint((groups << 1) | 1);
  to.ensure(groups * bitWidth + 8);
  const d = to.data;
  let at = to.length;
  let buffer = 0;
  let bits = 0;
  const end = start + groups * 8;
  for (let i = start; i < end; i++) {
    const v = i < n ? values[i]! : 0;
    buffer |= v << bits;
    bits += bitWidth;
    while (bits >= 8) {
      d[at++] = buffer & 0xff;
      buffer >>>= 8;
      bits -= 8;
    }
  }
  if (bits > 0) d[at++] = buffer & 0xff;
  to.length = at;
}
