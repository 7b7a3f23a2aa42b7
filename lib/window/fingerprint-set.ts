/**
 * Sets of 96-bit fingerprints in typed arrays: the aggregator's de-duplication ids and distinct
 * customers, at about 19 bytes per member instead of a JS string's 60 to 100 in a Map or Set.
 *
 * A member is the 96-bit hash of a string (three 32-bit lanes, {@link fingerprintOf}). Members are
 * kept in insertion order in fixed blocks (12 bytes each, no growth by copying), with an
 * open-addressing index (Fibonacci hashing of lane 0, linear probing, 4 bytes a slot, at most 3/4
 * full) over them. Insertion
 * order makes a checkpoint incremental: what was added since the last one is `entries(from)`.
 *
 * Exactness: two different strings share a fingerprint with probability 2^-96 per pair. The
 * aggregator compares each new event id with every id held in its partition's open windows, and
 * each customer with the window's others; see docs/state.md for the bound this gives a year at
 * 200,000 events/s (far below one wrong count in a billion years). The hash is not keyed: ids
 * crafted to collide are not defended against.
 */

/** Members per block: 4096 × 12 bytes = 48 KiB, so a window's last block wastes little. */
const BLOCK_MEMBERS = 4096;
const MIN_SLOTS = 64;
const TAG_BITS = 6;
const TAG_MASK = (1 << TAG_BITS) - 1;
/** Member indexes take the index slot's other 26 bits: 67 million members a set (a window of one partition). */
const MAX_MEMBERS = 2 ** (32 - TAG_BITS) - 2;
/** 2^32 / φ: Fibonacci hashing spreads any bit pattern of lane 0 over the index. */
const GOLDEN = 0x9e3779b1;

/**
 * A fixed run of fingerprints, 3 × u32 each, in insertion order: a set's members as they were
 * when {@link FingerprintSet.view} was taken (later additions are not in it), or decoded bytes.
 */
export interface Fingerprints {
  readonly count: number;
  /** Members `from` to `to` (exclusive; default all), copied. */
  entries(from?: number, to?: number): Uint32Array;
}

/** {@link Fingerprints} over an array of 3 × u32 entries (not copied). */
export function fingerprintsOf(entries: Uint32Array): Fingerprints {
  if (entries.length % 3 !== 0) throw new RangeError(`fingerprint entries come in threes: got ${entries.length} numbers`);
  const count = entries.length / 3;
  return {
    count,
    entries(from = 0, to = count) {
      if (!(from >= 0 && from <= to && to <= count)) throw new RangeError(`entries(${from}, ${to}) is outside 0..${count}`);
      return entries.slice(from * 3, to * 3);
    },
  };
}

/** Where {@link fingerprintOf} writes its result: lanes 0, 1, 2. Read them before the next call. */
export const FINGERPRINT = new Uint32Array(3);

/**
 * The 96-bit fingerprint of `text` (its UTF-16 code units) into {@link FINGERPRINT}: three
 * MurmurHash3-style lanes with distinct seeds, two code units per 32-bit block, each finalised
 * with fmix32 over the lane and the length.
 */
export function fingerprintOf(text: string): void {
  let h0 = 0x9747b28c;
  let h1 = 0x5bd1e995;
  let h2 = 0x1b873593;
  const n = text.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    let k = text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h0 ^= k;
    h0 = (h0 << 13) | (h0 >>> 19);
    h0 = (Math.imul(h0, 5) + 0xe6546b64) | 0;
    h1 ^= Math.imul(k ^ (k >>> 16), 0x85ebca6b);
    h1 = (h1 << 17) | (h1 >>> 15);
    h1 = (Math.imul(h1, 9) + 0x38b34ae5) | 0;
    h2 ^= Math.imul(k ^ (k >>> 13), 0xc2b2ae35);
    h2 = (h2 << 11) | (h2 >>> 21);
    h2 = (Math.imul(h2, 3) + 0x52dce729) | 0;
  }
  if (i < n) {
    let k = text.charCodeAt(i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h0 ^= k;
    h1 ^= Math.imul(k ^ (k >>> 16), 0x85ebca6b);
    h2 ^= Math.imul(k ^ (k >>> 13), 0xc2b2ae35);
  }
  FINGERPRINT[0] = fmix32(h0 ^ n);
  FINGERPRINT[1] = fmix32(h1 ^ Math.imul(n, 0x27d4eb2f));
  FINGERPRINT[2] = fmix32(h2 ^ Math.imul(n, 0x165667b1));
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class FingerprintSet {
  #blocks: Uint32Array[] = [];
  #size = 0;
  /**
   * Slot → (member index + 1) × 64 + a 6-bit tag of the member (lane 1's low bits); 0 is an empty
   * slot. The tag settles most probes without reading the member's block: looking up a
   * fingerprint that is not there (most events, in most windows) touches only the index.
   */
  #index = new Uint32Array(MIN_SLOTS);
  #mask = MIN_SLOTS - 1;
  /** 32 − log2(slots): a member's home slot is the top bits of lane 0 times the golden ratio. */
  #shift = 32 - Math.log2(MIN_SLOTS);

  /** Members, in insertion order. */
  get size(): number {
    return this.#size;
  }

  /** Whether the fingerprint `a, b, c` (each a u32) is a member. */
  has(a: number, b: number, c: number): boolean {
    return this.#probe(a >>> 0, b >>> 0, c >>> 0) < 0;
  }

  /** Adds the fingerprint `a, b, c` (each a u32); false when it was already a member. */
  add(a: number, b: number, c: number): boolean {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    const slot = this.#probe(a, b, c);
    if (slot < 0) return false;
    const index = this.#index;
    const tag = b & TAG_MASK;
    if (this.#size >= MAX_MEMBERS) throw new RangeError(`a fingerprint set holds at most ${MAX_MEMBERS} members`);
    this.#append(a, b, c);
    index[slot] = ((this.#size << TAG_BITS) | tag) >>> 0;
    if (this.#size * 4 > index.length * 3) this.#grow();
    return true;
  }

  /** Adds {@link FINGERPRINT}'s value. */
  addCurrent(): boolean {
    return this.add(FINGERPRINT[0]!, FINGERPRINT[1]!, FINGERPRINT[2]!);
  }

  /**
   * Members `from` to `to` (exclusive, default all) in insertion order, 3 × u32 each, copied
   * into a new array: the bytes a checkpoint stores.
   */
  entries(from = 0, to = this.#size): Uint32Array {
    if (!(from >= 0 && from <= to && to <= this.#size)) throw new RangeError(`entries(${from}, ${to}) is outside 0..${this.#size}`);
    const out = new Uint32Array((to - from) * 3);
    let written = 0;
    for (let m = from; m < to; ) {
      const block = this.#blocks[Math.floor(m / BLOCK_MEMBERS)]!;
      const inBlock = m % BLOCK_MEMBERS;
      const take = Math.min(to - m, BLOCK_MEMBERS - inBlock);
      out.set(block.subarray(inBlock * 3, (inBlock + take) * 3), written);
      written += take * 3;
      m += take;
    }
    return out;
  }

  /**
   * The members as they are now. Members are never removed and their blocks never move, so the
   * view stays valid (and unchanged) while the set goes on growing: a checkpoint can take it
   * synchronously and copy out of it later.
   */
  view(): Fingerprints {
    const count = this.#size;
    return {
      count,
      entries: (from = 0, to = count) => {
        if (to > count) throw new RangeError(`entries(${from}, ${to}) is outside 0..${count}`);
        return this.entries(from, to);
      },
    };
  }

  /**
   * Adds every fingerprint of `entries` (3 × u32 each, as {@link entries} gives them) in order.
   * Returns how many were new.
   */
  addAll(entries: Uint32Array): number {
    if (entries.length % 3 !== 0) throw new RangeError(`fingerprint entries come in threes: got ${entries.length} numbers`);
    let added = 0;
    for (let i = 0; i < entries.length; i += 3) if (this.add(entries[i]!, entries[i + 1]!, entries[i + 2]!)) added++;
    return added;
  }

  /** Bytes held in typed arrays: the blocks and the index. */
  get byteLength(): number {
    return this.#blocks.length * BLOCK_MEMBERS * 12 + this.#index.byteLength;
  }

  /** The empty slot where the fingerprint would go, or -1 when it is a member. */
  #probe(a: number, b: number, c: number): number {
    const index = this.#index;
    const mask = this.#mask;
    const tag = b & TAG_MASK;
    for (let slot = Math.imul(a, GOLDEN) >>> this.#shift; ; slot = (slot + 1) & mask) {
      const at = index[slot]!;
      if (at === 0) return slot;
      if ((at & TAG_MASK) === tag && this.#equals((at >>> TAG_BITS) - 1, a, b, c)) return -1;
    }
  }

  #equals(member: number, a: number, b: number, c: number): boolean {
    const block = this.#blocks[Math.floor(member / BLOCK_MEMBERS)]!;
    const at = (member % BLOCK_MEMBERS) * 3;
    return block[at] === a && block[at + 1] === b && block[at + 2] === c;
  }

  #append(a: number, b: number, c: number): void {
    const inBlock = this.#size % BLOCK_MEMBERS;
    if (inBlock === 0) this.#blocks.push(new Uint32Array(BLOCK_MEMBERS * 3));
    const block = this.#blocks[this.#blocks.length - 1]!;
    block[inBlock * 3] = a;
    block[inBlock * 3 + 1] = b;
    block[inBlock * 3 + 2] = c;
    this.#size += 1;
  }

  #grow(): void {
    const slots = this.#index.length * 2;
    const index = new Uint32Array(slots);
    const mask = slots - 1;
    const shift = this.#shift - 1;
    for (let m = 0; m < this.#size; m++) {
      const block = this.#blocks[Math.floor(m / BLOCK_MEMBERS)]!;
      const at = (m % BLOCK_MEMBERS) * 3;
      let slot = Math.imul(block[at]!, GOLDEN) >>> shift;
      while (index[slot] !== 0) slot = (slot + 1) & mask;
      index[slot] = (((m + 1) << TAG_BITS) | (block[at + 1]! & TAG_MASK)) >>> 0;
    }
    this.#index = index;
    this.#mask = mask;
    this.#shift = shift;
  }
}
