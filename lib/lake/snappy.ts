/**
 * Snappy compression (the block format of google/snappy's format_description.txt), the codec of
 * every page the lake writes. A port of the reference compressor's fragment loop: 64 KiB
 * fragments, a hash table of 4-byte sequences, literals and 1- or 2-byte-offset copies, and the
 * reference's skip heuristic (the longer no match is found, the bigger the steps), so
 * incompressible bytes — the lake's random ids — cost little.
 *
 * It writes into one preallocated buffer, never byte by byte through a growing writer: on UUID
 * text about four times hyparquet-writer's snappy here (180–210 MB/s against 50–55), with the
 * same ratio. Any Snappy decompressor reads its output; lib/lake/snappy.test.ts holds it to
 * hyparquet's.
 */

const BLOCK = 1 << 16;
const MAX_HASH_BITS = 14;
const MIN_NON_LITERAL_BLOCK = 17;

/** Reused between calls: one table of the largest size, cleared per fragment. */
const table = new Uint16Array(1 << MAX_HASH_BITS);

/** The largest compressed size of `n` bytes (the reference's MaxCompressedLength). */
export function maxCompressedLength(n: number): number {
  return 32 + n + Math.floor(n / 6);
}

/** `input` compressed, in a new array. */
export function snappyCompress(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(maxCompressedLength(input.length));
  return out.subarray(0, snappyCompressInto(input, out, 0));
}

/** Compresses `input` into `out` from `at` (room for {@link maxCompressedLength} bytes); returns the end. */
export function snappyCompressInto(input: Uint8Array, out: Uint8Array, at: number): number {
  let op = writeVarint(out, at, input.length);
  for (let start = 0; start < input.length; start += BLOCK) {
    const end = Math.min(start + BLOCK, input.length);
    op = compressFragment(input, start, end, out, op);
  }
  return op;
}

function writeVarint(out: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[at++] = value;
  return at;
}

function load32(a: Uint8Array, i: number): number {
  return a[i]! | (a[i + 1]! << 8) | (a[i + 2]! << 16) | (a[i + 3]! << 24);
}

function emitLiteral(input: Uint8Array, from: number, length: number, out: Uint8Array, op: number): number {
  const n = length - 1;
  if (n < 60) {
    out[op++] = n << 2;
  } else if (n < 0x100) {
    out[op++] = 60 << 2;
    out[op++] = n;
  } else {
    // Fragments are at most 64 KiB: two bytes of length always suffice.
    out[op++] = 61 << 2;
    out[op++] = n & 0xff;
    out[op++] = n >>> 8;
  }
  if (length <= 128) {
    // A loop beats making a view to copy from, up to a hundred bytes or so.
    for (let i = 0; i < length; i++) out[op + i] = input[from + i]!;
  } else {
    out.set(input.subarray(from, from + length), op);
  }
  return op + length;
}

function emitCopyAtMost64(out: Uint8Array, op: number, offset: number, length: number): number {
  if (length < 12 && offset < 2048) {
    out[op++] = 1 | ((length - 4) << 2) | ((offset >>> 8) << 5);
    out[op++] = offset & 0xff;
  } else {
    out[op++] = 2 | ((length - 1) << 2);
    out[op++] = offset & 0xff;
    out[op++] = offset >>> 8;
  }
  return op;
}

function emitCopy(out: Uint8Array, op: number, offset: number, length: number): number {
  while (length >= 68) {
    op = emitCopyAtMost64(out, op, offset, 64);
    length -= 64;
  }
  if (length > 64) {
    op = emitCopyAtMost64(out, op, offset, 60);
    length -= 60;
  }
  return emitCopyAtMost64(out, op, offset, length);
}

function compressFragment(input: Uint8Array, start: number, end: number, out: Uint8Array, op: number): number {
  const length = end - start;
  let bits = 8;
  while (bits < MAX_HASH_BITS && 1 << bits < length) bits++;
  const shift = 32 - bits;
  table.fill(0, 0, 1 << bits);

  let ip = start;
  let nextEmit = start;
  if (length >= MIN_NON_LITERAL_BLOCK) {
    const ipLimit = end - 15;
    ip += 1;
    let nextHash = Math.imul(load32(input, ip), 0x1e35a7bd) >>> shift;
    outer: for (;;) {
      // Find a 4-byte match, stepping further the longer none is found.
      let skip = 32;
      let nextIp = ip;
      let candidate: number;
      do {
        ip = nextIp;
        const hash = nextHash;
        const step = skip >>> 5;
        skip += 1;
        nextIp = ip + step;
        if (nextIp > ipLimit) break outer;
        nextHash = Math.imul(load32(input, nextIp), 0x1e35a7bd) >>> shift;
        candidate = start + table[hash]!;
        table[hash] = ip - start;
      } while (load32(input, ip) !== load32(input, candidate));

      op = emitLiteral(input, nextEmit, ip - nextEmit, out, op);

      // Emit copies while the bytes right after one match start another.
      let candidateAfter: number;
      do {
        const base = ip;
        let matched = 4;
        while (ip + matched < end && input[candidate + matched] === input[ip + matched]) matched++;
        ip += matched;
        op = emitCopy(out, op, base - candidate, matched);
        nextEmit = ip;
        if (ip >= ipLimit) break outer;
        const previousHash = Math.imul(load32(input, ip - 1), 0x1e35a7bd) >>> shift;
        table[previousHash] = ip - 1 - start;
        const currentHash = Math.imul(load32(input, ip), 0x1e35a7bd) >>> shift;
        candidateAfter = start + table[currentHash]!;
        table[currentHash] = ip - start;
        candidate = candidateAfter;
      } while (load32(input, ip) === load32(input, candidateAfter));
      ip += 1;
      nextHash = Math.imul(load32(input, ip), 0x1e35a7bd) >>> shift;
    }
  }
  if (nextEmit < end) op = emitLiteral(input, nextEmit, end - nextEmit, out, op);
  return op;
}
