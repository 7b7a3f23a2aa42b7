/**
 * LZ4 frame decompression (the format Kafka's lz4 codec uses for a batch's records), in plain
 * TypeScript, into a buffer the caller reuses.
 *
 * Why not the Kafka client's WASM lz4: it copies the input into WASM memory and the output out of
 * it into a fresh Buffer per batch — at the aggregator's rates a Buffer allocation and two copies
 * of every byte, more than the decompression itself. Here the output goes straight into `into`
 * (grown when too small), which the record batch reader reuses from one batch to the next.
 *
 * Frame: magic 0x184D2204; FLG (version 01, block independence, block checksum, content size,
 * content checksum, dictionary id), BD (block max size), optional 8-byte content size, optional
 * 4-byte dictionary id, header checksum; then blocks (4-byte little-endian size, high bit: stored
 * uncompressed; 0 ends the frame), each optionally followed by a 4-byte checksum; then an
 * optional 4-byte content checksum. The xxHash32 checksums are not verified: the batch's CRC-32C
 * already covers these bytes. Dependent blocks work: every block lands after the previous one in
 * one output, so a match may reach back into earlier blocks.
 *
 * Throws a RangeError on anything malformed (no read or write outside the bounds checked).
 */

const MAGIC = 0x184d2204;

/** The output of the last call: `buffer[0, length)`. */
export interface Lz4Output {
  buffer: Uint8Array;
  length: number;
}

/**
 * Decompresses the LZ4 frame in `input` into `into.buffer` (replaced by a larger one when it
 * does not fit) and sets `into.length`.
 */
export function decompressLz4Frame(input: Uint8Array, into: Lz4Output): void {
  const end = input.length;
  if (end < 7 || readUint32LE(input, 0) !== MAGIC) throw new RangeError("lz4: not an LZ4 frame (bad magic number)");
  const flg = input[4]!;
  if (flg >> 6 !== 1) throw new RangeError(`lz4: frame version ${flg >> 6}; only 1 is defined`);
  const hasBlockChecksum = (flg & 0x10) !== 0;
  const hasContentSize = (flg & 0x08) !== 0;
  const hasContentChecksum = (flg & 0x04) !== 0;
  const hasDictionary = (flg & 0x01) !== 0;
  if (hasDictionary) throw new RangeError("lz4: frames with a dictionary id are not supported");
  const blockMaxSize = 1 << (2 * ((input[5]! >> 4) & 0x7) + 8);
  let p = 6 + (hasContentSize ? 8 : 0) + 1; // descriptor, content size, header checksum
  let out = into.buffer;
  let o = 0;
  for (;;) {
    if (p + 4 > end) throw new RangeError("lz4: frame ends inside a block header");
    const word = readUint32LE(input, p);
    p += 4;
    if (word === 0) break; // end mark
    const size = word & 0x7fffffff;
    if (p + size > end) throw new RangeError("lz4: block runs past the end of the frame");
    // Room for the largest possible block, so the copy loops below need no check per byte.
    if (o + blockMaxSize > out.length) {
      const larger = new Uint8Array(Math.max(o + blockMaxSize, out.length * 2));
      larger.set(out.subarray(0, o));
      out = larger;
    }
    if (word & 0x80000000) {
      if (size > blockMaxSize) throw new RangeError("lz4: stored block larger than the frame's block size");
      out.set(input.subarray(p, p + size), o);
      o += size;
    } else {
      o = decompressBlock(input, p, p + size, out, o, o + blockMaxSize);
    }
    p += size + (hasBlockChecksum ? 4 : 0);
  }
  if (hasContentChecksum && p + 4 > end) throw new RangeError("lz4: frame ends before its content checksum");
  into.buffer = out;
  into.length = o;
}

/** One LZ4 block from `input[p, end)` to `out` at `o` (at most up to `limit`); returns the new end of output. */
function decompressBlock(input: Uint8Array, p: number, end: number, out: Uint8Array, o: number, limit: number): number {
  // Short copies go 8 bytes a step, as two unaligned Uint32 reads and writes through DataViews,
  // and may run up to 7 bytes past their end: only where `out` and `input` have those bytes, and
  // what lands past the end in `out` is overwritten by the next copy (output is sequential).
  const inView = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const outView = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const inputLength = input.length;
  const outLength = out.length;
  while (p < end) {
    const token = input[p++]!;
    let literals = token >>> 4;
    if (literals === 15) {
      ip = p;
      literals = extendLength(input, end, literals, "literal");
      p = ip;
    }
    if (p + literals > end || o + literals > limit) throw new RangeError("lz4: literals run past the block");
    if (literals > 64) {
      out.set(input.subarray(p, p + literals), o);
    } else if (p + literals + 8 <= inputLength && o + literals + 8 <= outLength) {
      for (let i = 0; i < literals; i += 8) {
        outView.setUint32(o + i, inView.getUint32(p + i));
        outView.setUint32(o + i + 4, inView.getUint32(p + i + 4));
      }
    } else {
      for (let i = 0; i < literals; i++) out[o + i] = input[p + i]!;
    }
    p += literals;
    o += literals;
    if (p === end) break; // the last sequence has literals only
    if (p + 2 > end) throw new RangeError("lz4: match offset runs past the block");
    const offset = input[p]! | (input[p + 1]! << 8);
    p += 2;
    if (offset === 0 || offset > o) throw new RangeError(`lz4: match offset ${offset} points before the output`);
    let length = (token & 15) + 4;
    if ((token & 15) === 15) {
      ip = p;
      length = extendLength(input, end, length, "match");
      p = ip;
    }
    if (o + length > limit) throw new RangeError("lz4: match runs past the block size");
    let from = o - offset;
    if (offset >= length && length > 64) {
      out.copyWithin(o, from, from + length); // no overlap: one memmove
      o += length;
    } else if (offset >= 4 && o + length + 8 <= outLength) {
      // Every 4-byte read ends at or before the bytes written so far (offset >= 4), so a match
      // overlapping its own output repeats its pattern correctly here too.
      for (let i = 0; i < length; i += 8) {
        outView.setUint32(o + i, outView.getUint32(from + i));
        outView.setUint32(o + i + 4, outView.getUint32(from + i + 4));
      }
      o += length;
    } else {
      // Byte by byte: a match overlapping its own output (offset < length) repeats a pattern.
      for (let i = 0; i < length; i++) out[o++] = out[from++]!;
    }
  }
  return o;
}

/** Read position of extendLength, module-level so it needs no result object. */
let ip = 0;

/** `length` plus an LZ4 length extension at `ip`: bytes added up until one is not 255. */
function extendLength(input: Uint8Array, end: number, length: number, what: string): number {
  let byte: number;
  do {
    if (ip >= end) throw new RangeError(`lz4: ${what} length runs past the block`);
    byte = input[ip++]!;
    length += byte;
  } while (byte === 255);
  return length;
}

function readUint32LE(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}
