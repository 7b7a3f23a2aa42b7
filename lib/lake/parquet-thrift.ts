/**
 * The Thrift structures of a lake file (parquet-format's parquet.thrift) in the compact protocol:
 * page headers, page indexes and the footer, written field by field with their declared types.
 * A lake file has thousands of page headers and one footer of a few hundred fields; a generic
 * serializer that inspects every value and walks `Object.entries` cost more than the pages.
 *
 * Only what the lake writes is here: no key/value metadata, encoding stats, bloom filters or
 * size statistics.
 */
import type { Bytes } from "./lake-columns.ts";

/** Compact protocol type ids. */
const BOOL_TRUE = 1;
const BOOL_FALSE = 2;
const I32 = 5;
const I64 = 6;
const BINARY = 8;
const LIST = 9;
const STRUCT = 12;

/** parquet.thrift's enums, as numbers. */
export const PageType = { DATA_PAGE: 0, DICTIONARY_PAGE: 2 } as const;
export const Encoding = { PLAIN: 0, RLE: 3, DELTA_BINARY_PACKED: 5, RLE_DICTIONARY: 8 } as const;
export const PhysicalType = { BOOLEAN: 0, INT32: 1, INT64: 2, INT96: 3, FLOAT: 4, DOUBLE: 5, BYTE_ARRAY: 6, FIXED_LEN_BYTE_ARRAY: 7 } as const;
/** parquet.thrift's CompressionCodec, the ones the lake writes or copies. */
export const Codec = { UNCOMPRESSED: 0, SNAPPY: 1, ZSTD: 6 } as const;

export class CompactWriter {
  #fid = 0;
  readonly #stack: number[] = [];
  constructor(readonly out: Bytes) {}

  #field(id: number, type: number): void {
    const delta = id - this.#fid;
    if (delta > 0 && delta <= 15) this.out.u8((delta << 4) | type);
    else {
      this.out.u8(type);
      this.#varint(zigzag(id));
    }
    this.#fid = id;
  }

  #varint(value: number): void {
    while (value >= 0x80) {
      this.out.u8((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    this.out.u8(value);
  }

  i32(id: number, value: number): this {
    this.#field(id, I32);
    this.#varint(zigzag(value));
    return this;
  }

  /** An i64 field; values are exact below 2^53. */
  i64(id: number, value: number): this {
    this.#field(id, I64);
    this.#varint(zigzag(value));
    return this;
  }

  bool(id: number, value: boolean): this {
    this.#field(id, value ? BOOL_TRUE : BOOL_FALSE);
    return this;
  }

  binary(id: number, value: Uint8Array): this {
    this.#field(id, BINARY);
    this.#binary(value);
    return this;
  }

  string(id: number, value: string): this {
    return this.binary(id, utf8.encode(value));
  }

  #binary(value: Uint8Array): void {
    this.#varint(value.length);
    this.out.bytes(value);
  }

  /** Starts a struct field; end it with `end()`. */
  struct(id: number): this {
    this.#field(id, STRUCT);
    return this.begin();
  }

  /** Starts a struct without a field header (the top level, or a list element). */
  begin(): this {
    this.#stack.push(this.#fid);
    this.#fid = 0;
    return this;
  }

  end(): this {
    this.out.u8(0);
    this.#fid = this.#stack.pop()!;
    return this;
  }

  #list(id: number, type: number, size: number): void {
    this.#field(id, LIST);
    if (size < 15) this.out.u8((size << 4) | type);
    else {
      this.out.u8(0xf0 | type);
      this.#varint(size);
    }
  }

  i32List(id: number, values: readonly number[]): this {
    this.#list(id, I32, values.length);
    for (const v of values) this.#varint(zigzag(v));
    return this;
  }

  i64List(id: number, values: readonly number[]): this {
    this.#list(id, I64, values.length);
    for (const v of values) this.#varint(zigzag(v));
    return this;
  }

  boolList(id: number, values: readonly boolean[]): this {
    this.#list(id, BOOL_TRUE, values.length);
    for (const v of values) this.out.u8(v ? BOOL_TRUE : BOOL_FALSE);
    return this;
  }

  binaryList(id: number, values: readonly Uint8Array[]): this {
    this.#list(id, BINARY, values.length);
    for (const v of values) this.#binary(v);
    return this;
  }

  stringList(id: number, values: readonly string[]): this {
    return this.binaryList(
      id,
      values.map((v) => utf8.encode(v)),
    );
  }

  /** A list of `size` structs: write each with `begin()` … `end()`. */
  structList(id: number, size: number): this {
    this.#list(id, STRUCT, size);
    return this;
  }
}

const utf8 = new TextEncoder();

function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

/** A data page v1 or dictionary page header. */
export function writePageHeader(
  w: CompactWriter,
  page: { type: number; uncompressed: number; compressed: number; count: number; encoding: number },
): void {
  w.begin().i32(1, page.type).i32(2, page.uncompressed).i32(3, page.compressed);
  if (page.type === PageType.DATA_PAGE) {
    w.struct(5).i32(1, page.count).i32(2, page.encoding).i32(3, Encoding.RLE).i32(4, Encoding.RLE).end();
  } else {
    w.struct(7).i32(1, page.count).i32(2, page.encoding).end();
  }
  w.end();
}

export interface ChunkStatistics {
  min?: Uint8Array;
  max?: Uint8Array;
  nullCount: number;
}

/** One column chunk's metadata, file offsets included. */
export interface ChunkMeta {
  type: number;
  encodings: number[];
  path: string[];
  codec: number;
  numValues: number;
  uncompressed: number;
  compressed: number;
  dataPageOffset: number;
  dictionaryPageOffset?: number;
  statistics: ChunkStatistics;
  columnIndex?: { offset: number; length: number };
  offsetIndex?: { offset: number; length: number };
}

export interface RowGroupMeta {
  columns: ChunkMeta[];
  totalByteSize: number;
  numRows: number;
  fileOffset: number;
  totalCompressed: number;
}

/** A ColumnIndex: per page, null or not, min and max (PLAIN bytes), nulls. */
export function writeColumnIndex(w: CompactWriter, index: { nullPages: boolean[]; min: Uint8Array[]; max: Uint8Array[]; nullCounts: number[] }): void {
  w.begin().boolList(1, index.nullPages).binaryList(2, index.min).binaryList(3, index.max).i32(4, 0 /* UNORDERED */).i64List(5, index.nullCounts).end();
}

/** An OffsetIndex: per page, where it is, its size and its first row. */
export function writeOffsetIndex(w: CompactWriter, pages: readonly { offset: number; size: number; firstRow: number }[]): void {
  w.begin().structList(1, pages.length);
  for (const p of pages) w.begin().i64(1, p.offset).i32(2, p.size).i64(3, p.firstRow).end();
  w.end();
}

/** A schema element as lib/lake/schema.ts declares them. */
export interface SchemaNode {
  name: string;
  type?: keyof typeof PhysicalType;
  repetition_type?: "REQUIRED" | "OPTIONAL" | "REPEATED";
  num_children?: number;
  converted_type?: "UTF8" | "LIST" | "TIMESTAMP_MILLIS";
  logical_type?: { type: "LIST" } | { type: "TIMESTAMP"; isAdjustedToUTC: boolean; unit: "MILLIS" };
}

const REPETITION = { REQUIRED: 0, OPTIONAL: 1, REPEATED: 2 } as const;
const CONVERTED = { UTF8: 0, LIST: 3, TIMESTAMP_MILLIS: 9 } as const;

/** The footer: FileMetaData (version 2) of `schema` and `rowGroups`. */
export function writeFileMetaData(w: CompactWriter, schema: readonly SchemaNode[], rowGroups: readonly RowGroupMeta[], createdBy: string): void {
  let rows = 0;
  for (const g of rowGroups) rows += g.numRows;
  w.begin().i32(1, 2).structList(2, schema.length);
  for (const e of schema) {
    w.begin();
    if (e.type !== undefined) w.i32(1, PhysicalType[e.type]);
    if (e.repetition_type !== undefined) w.i32(3, REPETITION[e.repetition_type]);
    w.string(4, e.name);
    if (e.num_children !== undefined) w.i32(5, e.num_children);
    if (e.converted_type !== undefined) w.i32(6, CONVERTED[e.converted_type]);
    if (e.logical_type?.type === "LIST") w.struct(10).struct(3).end().end();
    else if (e.logical_type?.type === "TIMESTAMP") {
      w.struct(10).struct(8).bool(1, e.logical_type.isAdjustedToUTC).struct(2).struct(1).end().end().end().end();
    }
    w.end();
  }
  w.i64(3, rows).structList(4, rowGroups.length);
  for (const g of rowGroups) {
    w.begin().structList(1, g.columns.length);
    for (const c of g.columns) {
      w.begin().i64(2, c.dictionaryPageOffset ?? c.dataPageOffset);
      w.struct(3)
        .i32(1, c.type)
        .i32List(2, c.encodings)
        .stringList(3, c.path)
        .i32(4, c.codec)
        .i64(5, c.numValues)
        .i64(6, c.uncompressed)
        .i64(7, c.compressed)
        .i64(9, c.dataPageOffset);
      if (c.dictionaryPageOffset !== undefined) w.i64(11, c.dictionaryPageOffset);
      w.struct(12).i64(3, c.statistics.nullCount);
      if (c.statistics.max !== undefined) w.binary(5, c.statistics.max);
      if (c.statistics.min !== undefined) w.binary(6, c.statistics.min);
      w.end().end();
      if (c.offsetIndex) w.i64(4, c.offsetIndex.offset).i32(5, c.offsetIndex.length);
      if (c.columnIndex) w.i64(6, c.columnIndex.offset).i32(7, c.columnIndex.length);
      w.end();
    }
    w.i64(2, g.totalByteSize).i64(3, g.numRows).i64(5, g.fileOffset).i64(6, g.totalCompressed).end();
  }
  w.string(6, createdBy);
  // column_orders: TYPE_ORDER for every leaf (min/max compare as the logical type says).
  const leaves = schema.filter((e) => e.type !== undefined).length;
  w.structList(7, leaves);
  for (let i = 0; i < leaves; i++) w.begin().struct(1).end().end();
  w.end();
}
