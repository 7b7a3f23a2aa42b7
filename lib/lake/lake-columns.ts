/**
 * The lake's rows as columns while they wait to be written: one {@link LakeColumns} is one
 * future row group of lib/lake/schema.ts's table. Values go straight into the buffers the Parquet
 * pages are cut from — ids already in PLAIN's length-prefixed form, enum-like strings as
 * dictionary indices, numbers in a Float64Array — so a record costs no row object, no string of
 * its order_id or skus, and about 220 bytes of memory in use (290 allocated, with the buffers'
 * spare room; measured on 100,000 simulated rows).
 *
 * Three ways in, one result (lib/lake/lake-encoder.test.ts): `appendFacts` from the validator's
 * fast path (byte ranges of the record itself), `appendEvent` from its general path, `appendRow`
 * from a decoded {@link LakeRow}. `appendFrom` copies a row of another LakeColumns (to filter or
 * reorder). Numbers are exact below 2^53, which the validator's limits and Kafka's offsets keep.
 */
import type { CanonicalFacts } from "../event/parse-canonical-order.ts";
import type { OrderEvent } from "../event/order-event.ts";
import type { LakeRow } from "./schema.ts";
import { giveBuffer, takeBuffer } from "./buffer-pool.ts";

/** A growable byte buffer. */
export class Bytes {
  data: Uint8Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Uint8Array(takeBuffer(capacity));
  }
  ensure(extra: number): void {
    if (this.length + extra <= this.data.length) return;
    const next = new Uint8Array(takeBuffer(Math.max(64, this.data.length * 2, this.length + extra)));
    next.set(this.data.subarray(0, this.length));
    giveBuffer(this.data.buffer);
    this.data = next;
  }
  u8(value: number): void {
    this.ensure(1);
    this.data[this.length++] = value;
  }
  u32(value: number): void {
    this.ensure(4);
    const d = this.data;
    const at = this.length;
    d[at] = value & 0xff;
    d[at + 1] = (value >>> 8) & 0xff;
    d[at + 2] = (value >>> 16) & 0xff;
    d[at + 3] = (value >>> 24) & 0xff;
    this.length = at + 4;
  }
  varint(value: number): void {
    while (value >= 0x80) {
      this.u8((value & 0x7f) | 0x80);
      value >>>= 7;
    }
    this.u8(value);
  }
  bytes(source: Uint8Array, start = 0, end = source.length): void {
    const n = end - start;
    this.ensure(n);
    if (n <= 64) {
      // Ids and names: a loop beats making a view to copy from.
      const d = this.data;
      for (let i = 0; i < n; i++) d[this.length + i] = source[start + i]!;
    } else {
      this.data.set(source.subarray(start, end), this.length);
    }
    this.length += n;
  }
  view(): Uint8Array {
    return this.data.subarray(0, this.length);
  }
}

/** A growable array of numbers. */
export class Numbers {
  data: Float64Array;
  length = 0;
  constructor(capacity = 64) {
    this.data = new Float64Array(capacity);
  }
  push(value: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(takeBuffer(Math.max(64, this.data.length * 2) * 8));
      next.set(this.data);
      giveBuffer(this.data.buffer);
      this.data = next;
    }
    this.data[this.length++] = value;
  }
  view(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

/** A growable array of non-negative 32-bit integers. */
export class Indices {
  data: Int32Array;
  length = 0;
  constructor(capacity = 64) {
    this.data = new Int32Array(capacity);
  }
  push(value: number): void {
    if (this.length === this.data.length) {
      const next = new Int32Array(takeBuffer(Math.max(64, this.data.length * 2) * 4));
      next.set(this.data);
      giveBuffer(this.data.buffer);
      this.data = next;
    }
    this.data[this.length++] = value;
  }
  view(): Int32Array {
    return this.data.subarray(0, this.length);
  }
}

const utf8 = new TextEncoder();
/** Where a string that is not all ASCII is encoded before it is stored. */
let scratch = new Uint8Array(256);

function utf8Of(text: string): Uint8Array {
  if (scratch.length < text.length * 3) scratch = new Uint8Array(text.length * 3);
  const { written } = utf8.encodeInto(text, scratch);
  return scratch.subarray(0, written);
}

/** UTF-8 strings stored in PLAIN form: each value's 4-byte little-endian length, then its bytes. */
export class PlainStrings {
  readonly plain: Bytes;
  /** Where each value's length prefix starts in `plain`. */
  readonly starts = new Indices();

  constructor(capacity = 1024) {
    this.plain = new Bytes(capacity);
  }

  appendRange(source: Uint8Array, start: number, end: number): void {
    this.starts.push(this.plain.length);
    this.plain.u32(end - start);
    this.plain.bytes(source, start, end);
  }

  append(text: string): void {
    const n = text.length;
    this.plain.ensure(4 + n);
    const d = this.plain.data;
    const at = this.plain.length;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) {
        const bytes = utf8Of(text);
        return this.appendRange(bytes, 0, bytes.length);
      }
      d[at + 4 + i] = c;
    }
    this.starts.push(at);
    this.plain.u32(n);
    this.plain.length += n;
  }

  /** Value `i` as [start, end) of `plain.data`. */
  range(i: number): [number, number] {
    const at = this.starts.data[i]!;
    const d = this.plain.data;
    const n = d[at]! | (d[at + 1]! << 8) | (d[at + 2]! << 16) | (d[at + 3]! << 24);
    return [at + 4, at + 4 + n];
  }
}

/**
 * Distinct UTF-8 strings, each with its dictionary index (order of first appearance), kept in
 * PLAIN form — the bytes of a Parquet dictionary page as they stand. Looked up by the bytes
 * themselves (FNV-1a, open addressing), so a value read from a record needs no string.
 */
export class StringDictionary {
  readonly entries = new PlainStrings(128);
  #slots = new Int32Array(64).fill(-1);
  #hashes: number[] = [];
  /**
   * Index by the string itself, for string input: the validator hands the same interned string
   * for each repeat of a value, and a string's hash is computed once, so this is one Map lookup.
   */
  readonly #byString = new Map<string, number>();
  /** Index of each value appended to the column. */
  readonly indices = new Indices();

  get size(): number {
    return this.entries.starts.length;
  }

  appendRange(source: Uint8Array, start: number, end: number): void {
    this.indices.push(this.#intern(source, start, end));
  }

  append(text: string): void {
    let index = this.#byString.get(text);
    if (index === undefined) {
      const bytes = utf8Of(text);
      index = this.#intern(bytes, 0, bytes.length);
      // Bounded: a column of ever new values (skus of a huge catalog) stops caching, not growing.
      if (this.#byString.size < 65_536) this.#byString.set(text, index);
    }
    this.indices.push(index);
  }

  #intern(source: Uint8Array, start: number, end: number): number {
    let hash = 0x811c9dc5;
    for (let i = start; i < end; i++) hash = Math.imul(hash ^ source[i]!, 0x01000193);
    hash >>>= 0;
    const mask = this.#slots.length - 1;
    const d = this.entries.plain.data;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const index = this.#slots[slot]!;
      if (index < 0) {
        const added = this.size;
        this.entries.appendRange(source, start, end);
        this.#hashes.push(hash);
        this.#slots[slot] = added;
        if (added * 2 >= mask) this.#grow();
        return added;
      }
      if (this.#hashes[index] !== hash) continue;
      const at = this.entries.starts.data[index]!;
      const n = d[at]! | (d[at + 1]! << 8) | (d[at + 2]! << 16) | (d[at + 3]! << 24);
      if (n !== end - start) continue;
      let same = true;
      for (let i = 0; i < n; i++) {
        if (d[at + 4 + i] !== source[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return index;
    }
  }

  #grow(): void {
    const slots = new Int32Array(this.#slots.length * 2).fill(-1);
    const mask = slots.length - 1;
    this.#hashes.forEach((hash, index) => {
      let slot = hash & mask;
      while (slots[slot]! >= 0) slot = (slot + 1) & mask;
      slots[slot] = index;
    });
    this.#slots = slots;
  }
}

/**
 * One row group's worth of lake rows, column by column, in the order of lib/lake/schema.ts's
 * LAKE_SCHEMA. Item columns hold one value per item; `itemStarts` says where each row's begin.
 */
export class LakeColumns {
  rows = 0;
  readonly event_id = new PlainStrings();
  readonly order_id = new PlainStrings();
  readonly user_id = new PlainStrings();
  readonly created_at = new Numbers();
  readonly currency = new StringDictionary();
  readonly total_minor = new Numbers();
  readonly discount_minor = new Numbers();
  readonly total_usd_cents = new Numbers();
  readonly country = new StringDictionary();
  readonly payment_method = new StringDictionary();
  readonly channel = new StringDictionary();
  readonly status = new StringDictionary();
  readonly item_count = new Numbers();
  readonly sku = new StringDictionary();
  readonly category = new StringDictionary();
  readonly qty = new Numbers();
  readonly unit_price_minor = new Numbers();
  readonly schema_version = new Numbers();
  readonly kafka_partition = new Numbers();
  readonly kafka_offset = new Numbers();
  /** NaN where the row has no Kafka timestamp (null). */
  readonly kafka_timestamp = new Numbers();
  /** Index of each row's first item; one more entry than rows. */
  readonly itemStarts = new Indices();

  constructor() {
    this.itemStarts.push(0);
  }

  get items(): number {
    return this.qty.length;
  }

  /**
   * A valid event from the validator's fast path: `facts` scanned from `bytes` (its order_id,
   * created_at and skus are ranges of `bytes`), with its event time and lineage. Reads both during the call only.
   */
  appendFacts(bytes: Uint8Array, facts: CanonicalFacts, eventTimeMs: number, partition: number, offset: number, timestampMs: number | null): void {
    this.event_id.appendRange(bytes, facts.eventIdStart, facts.eventIdEnd);
    this.order_id.appendRange(bytes, facts.orderIdStart, facts.orderIdEnd);
    this.user_id.appendRange(bytes, facts.userIdStart, facts.userIdEnd);
    this.created_at.push(eventTimeMs);
    this.currency.append(facts.currency);
    this.total_minor.push(facts.amount_minor);
    this.discount_minor.push(facts.discount_minor);
    this.total_usd_cents.push(facts.total_usd_cents);
    this.country.append(facts.country);
    this.payment_method.append(facts.payment_method);
    this.channel.append(facts.channel);
    this.status.append(facts.status);
    const items = facts.items;
    this.item_count.push(items.length);
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      this.sku.appendRange(bytes, item.skuStart, item.skuEnd);
      this.category.append(item.category);
      this.qty.push(item.qty);
      this.unit_price_minor.push(item.unit_price_minor);
    }
    this.#endRow(1, partition, offset, timestampMs);
  }

  /** A valid event from the validator's general path. */
  appendEvent(event: OrderEvent, eventTimeMs: number, partition: number, offset: number, timestampMs: number | null): void {
    this.event_id.append(event.event_id);
    this.order_id.append(event.order_id);
    this.user_id.append(event.user_id);
    this.created_at.push(eventTimeMs);
    this.currency.append(event.total.currency);
    this.total_minor.push(event.total.amount_minor);
    this.discount_minor.push(event.discount_minor);
    this.total_usd_cents.push(event.total_usd_cents);
    this.country.append(event.country);
    this.payment_method.append(event.payment_method);
    this.channel.append(event.channel);
    this.status.append(event.status);
    this.item_count.push(event.items.length);
    for (const item of event.items) {
      this.sku.append(item.sku);
      this.category.append(item.category);
      this.qty.push(item.qty);
      this.unit_price_minor.push(item.unit_price_minor);
    }
    this.#endRow(event.schema_version, partition, offset, timestampMs);
  }

  /** A row as lib/lake/schema.ts's decodeLakeFile gives it. */
  appendRow(row: LakeRow): void {
    this.event_id.append(row.event_id);
    this.order_id.append(row.order_id);
    this.user_id.append(row.user_id);
    this.created_at.push(row.created_at.getTime());
    this.currency.append(row.currency);
    this.total_minor.push(exact(row.total_minor));
    this.discount_minor.push(exact(row.discount_minor));
    this.total_usd_cents.push(exact(row.total_usd_cents));
    this.country.append(row.country);
    this.payment_method.append(row.payment_method);
    this.channel.append(row.channel);
    this.status.append(row.status);
    this.item_count.push(row.item_count);
    for (const item of row.items) {
      this.sku.append(item.sku);
      this.category.append(item.category);
      this.qty.push(item.qty);
      this.unit_price_minor.push(exact(item.unit_price_minor));
    }
    const ts = row.kafka_timestamp;
    this.#endRow(row.schema_version, row.kafka_partition, exact(row.kafka_offset), ts === null || ts === undefined ? null : ts.getTime());
  }

  /** Row `i` of `from`, appended as it is. */
  appendFrom(from: LakeColumns, i: number): void {
    copyString(from.event_id, i, this.event_id);
    copyString(from.order_id, i, this.order_id);
    copyString(from.user_id, i, this.user_id);
    this.created_at.push(from.created_at.data[i]!);
    copyDictionary(from.currency, i, this.currency);
    this.total_minor.push(from.total_minor.data[i]!);
    this.discount_minor.push(from.discount_minor.data[i]!);
    this.total_usd_cents.push(from.total_usd_cents.data[i]!);
    copyDictionary(from.country, i, this.country);
    copyDictionary(from.payment_method, i, this.payment_method);
    copyDictionary(from.channel, i, this.channel);
    copyDictionary(from.status, i, this.status);
    this.item_count.push(from.item_count.data[i]!);
    const first = from.itemStarts.data[i]!;
    const end = from.itemStarts.data[i + 1]!;
    for (let j = first; j < end; j++) {
      copyDictionary(from.sku, j, this.sku);
      copyDictionary(from.category, j, this.category);
      this.qty.push(from.qty.data[j]!);
      this.unit_price_minor.push(from.unit_price_minor.data[j]!);
    }
    const ts = from.kafka_timestamp.data[i]!;
    this.#endRow(from.schema_version.data[i]!, from.kafka_partition.data[i]!, from.kafka_offset.data[i]!, Number.isNaN(ts) ? null : ts);
  }

  partitionOf(i: number): number {
    return this.kafka_partition.data[i]!;
  }

  offsetOf(i: number): number {
    return this.kafka_offset.data[i]!;
  }

  createdAtOf(i: number): number {
    return this.created_at.data[i]!;
  }

  /**
   * Gives the columns' buffers to the thread's pool (lib/lake/buffer-pool.ts) for the rows read
   * next. Only for a group done with — its file written and committed, no view of it kept — and
   * the group is not used again (it is left with no rows; its dictionaries keep their values).
   */
  release(): void {
    for (const name of STRING_COLUMNS) {
      releaseArray(this[name].plain);
      releaseArray(this[name].starts);
    }
    for (const name of DICTIONARY_COLUMNS) releaseArray(this[name].indices);
    for (const name of NUMBER_COLUMNS) releaseArray(this[name]);
    releaseArray(this.itemStarts);
    this.rows = 0;
  }

  #endRow(schemaVersion: number, partition: number, offset: number, timestampMs: number | null): void {
    this.schema_version.push(schemaVersion);
    this.kafka_partition.push(partition);
    this.kafka_offset.push(offset);
    this.kafka_timestamp.push(timestampMs ?? Number.NaN);
    this.itemStarts.push(this.qty.length);
    this.rows += 1;
  }
}

function releaseArray(array: Bytes | Numbers | Indices): void {
  giveBuffer(array.data.buffer);
  // An empty array of its own: no view of the given buffer stays here to be given twice.
  array.data = new (array.data.constructor as new (n: number) => typeof array.data)(0);
  array.length = 0;
}

function copyString(from: PlainStrings, i: number, to: PlainStrings): void {
  const [start, end] = from.range(i);
  to.appendRange(from.plain.data, start, end);
}

function copyDictionary(from: StringDictionary, i: number, to: StringDictionary): void {
  const [start, end] = from.entries.range(from.indices.data[i]!);
  to.appendRange(from.entries.plain.data, start, end);
}

/** An INT64 value as a number, refusing one that would not be exact. */
function exact(value: bigint | number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`a lake value must be an integer below 2^53: got ${value}`);
  return n;
}

/**
 * Rows of `columns` appended in batches that roll over at `rowGroupRows`: the row groups of one
 * file. The last group is the one being filled.
 */
export class LakeRowGroups {
  readonly groups: LakeColumns[] = [new LakeColumns()];
  constructor(readonly rowGroupRows = 131_072) {}

  /** The group to append the next row to. */
  current(): LakeColumns {
    let last = this.groups[this.groups.length - 1]!;
    if (last.rows >= this.rowGroupRows) {
      last = new LakeColumns();
      this.groups.push(last);
    }
    return last;
  }

  get rows(): number {
    let n = 0;
    for (const g of this.groups) n += g.rows;
    return n;
  }
}

/** A LakeColumns as plain arrays, to post to another thread (each array its own buffer, to transfer). */
export interface LakeColumnsParts {
  rows: number;
  strings: Record<string, { plain: Uint8Array; starts: Int32Array }>;
  dictionaries: Record<string, { plain: Uint8Array; starts: Int32Array; indices: Int32Array }>;
  numbers: Record<string, Float64Array>;
  itemStarts: Int32Array;
}

const STRING_COLUMNS = ["event_id", "order_id", "user_id"] as const;
const DICTIONARY_COLUMNS = ["currency", "country", "payment_method", "channel", "status", "sku", "category"] as const;
const NUMBER_COLUMNS = [
  "created_at",
  "total_minor",
  "discount_minor",
  "total_usd_cents",
  "item_count",
  "qty",
  "unit_price_minor",
  "schema_version",
  "kafka_partition",
  "kafka_offset",
  "kafka_timestamp",
] as const;

/**
 * `columns` as parts: views of exactly the values in use, over the columns' own buffers. Posted
 * with {@link partsBuffers} transferred, they leave `columns` empty until {@link adoptParts} takes
 * them back (the encoder thread returns them with the file).
 */
export function toParts(columns: LakeColumns): LakeColumnsParts {
  const parts: LakeColumnsParts = { rows: columns.rows, strings: {}, dictionaries: {}, numbers: {}, itemStarts: columns.itemStarts.view() };
  for (const name of STRING_COLUMNS) {
    const c = columns[name];
    parts.strings[name] = { plain: c.plain.view(), starts: c.starts.view() };
  }
  for (const name of DICTIONARY_COLUMNS) {
    const c = columns[name];
    parts.dictionaries[name] = { plain: c.entries.plain.view(), starts: c.entries.starts.view(), indices: c.indices.view() };
  }
  for (const name of NUMBER_COLUMNS) parts.numbers[name] = columns[name].view();
  return parts;
}

/** Gives `columns` back the buffers of its parts (as {@link toParts} made them, after a round trip to another thread). */
export function adoptParts(columns: LakeColumns, parts: LakeColumnsParts): void {
  columns.itemStarts.data = new Int32Array(parts.itemStarts.buffer);
  for (const name of STRING_COLUMNS) {
    const c = columns[name];
    c.plain.data = new Uint8Array(parts.strings[name]!.plain.buffer);
    c.starts.data = new Int32Array(parts.strings[name]!.starts.buffer);
  }
  for (const name of DICTIONARY_COLUMNS) {
    const c = columns[name];
    const p = parts.dictionaries[name]!;
    c.entries.plain.data = new Uint8Array(p.plain.buffer);
    c.entries.starts.data = new Int32Array(p.starts.buffer);
    c.indices.data = new Int32Array(p.indices.buffer);
  }
  for (const name of NUMBER_COLUMNS) columns[name].data = new Float64Array(parts.numbers[name]!.buffer);
}

/** The buffers of `parts`, to transfer with them. */
export function partsBuffers(parts: LakeColumnsParts): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [parts.itemStarts.buffer as ArrayBuffer];
  for (const s of Object.values(parts.strings)) buffers.push(s.plain.buffer as ArrayBuffer, s.starts.buffer as ArrayBuffer);
  for (const d of Object.values(parts.dictionaries)) buffers.push(d.plain.buffer as ArrayBuffer, d.starts.buffer as ArrayBuffer, d.indices.buffer as ArrayBuffer);
  for (const n of Object.values(parts.numbers)) buffers.push(n.buffer as ArrayBuffer);
  return buffers;
}

/** A LakeColumns reading `parts` in place (for encoding: its dictionaries take no new values). */
export function fromParts(parts: LakeColumnsParts): LakeColumns {
  const columns = new LakeColumns();
  columns.rows = parts.rows;
  adopt(columns.itemStarts, parts.itemStarts);
  for (const name of STRING_COLUMNS) {
    const c = columns[name];
    const p = parts.strings[name]!;
    adopt(c.plain, p.plain);
    adopt(c.starts, p.starts);
  }
  for (const name of DICTIONARY_COLUMNS) {
    const c = columns[name];
    const p = parts.dictionaries[name]!;
    adopt(c.entries.plain, p.plain);
    adopt(c.entries.starts, p.starts);
    adopt(c.indices, p.indices);
  }
  for (const name of NUMBER_COLUMNS) adopt(columns[name], parts.numbers[name]!);
  return columns;
}

/** `into` reads `view` (its own buffer from offset 0, as toParts made it) with its length. */
function adopt<T extends Uint8Array | Int32Array | Float64Array>(into: { data: T; length: number }, view: T): void {
  into.data = view;
  into.length = view.length;
}
