/**
 * A small seeded pseudo-random generator (sfc32, by Chris Doty-Humphrey), so that a seed gives
 * the same stream on every run, runtime and machine. `Math.random` cannot be seeded.
 *
 * Not cryptographic: it only has to be fast, well mixed and reproducible.
 */

export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** `seed` is any 32-bit integer; different seeds give unrelated streams. */
  constructor(seed: number) {
    // splitmix32 spreads a small seed over the 128-bit state; sfc32 then needs a short warm-up
    // before its output stops resembling the seed.
    let s = seed | 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** A uniform unsigned 32-bit integer. */
  nextUint32(): number {
    const a = this.#a;
    const b = this.#b;
    const c = this.#c;
    const d = this.#d;
    const t = (((a + b) | 0) + d) | 0;
    this.#d = (d + 1) | 0;
    this.#a = b ^ (b >>> 9);
    this.#b = (c + (c << 3)) | 0;
    const rotated = (c << 21) | (c >>> 11);
    this.#c = (rotated + t) | 0;
    return t >>> 0;
  }

  /** A uniform float in [0, 1) with 32 bits of precision. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A uniform integer in [min, max] (both inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  /** An exponentially distributed float with the given mean. */
  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

/** A seed from text (e.g. `--seed checkout-42`) or a number, as a 32-bit integer (FNV-1a). */
export function seedFrom(text: string): number {
  if (/^-?\d+$/.test(text)) return Number(BigInt.asIntN(32, BigInt(text)));
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/**
 * Picks indexes with given weights in O(log n) per draw (binary search over the cumulative
 * weights). Built once for a catalog, drawn from millions of times.
 */
export class WeightedPicker {
  readonly #cumulative: Float64Array;
  readonly #total: number;

  constructor(weights: readonly number[]) {
    if (weights.length === 0) throw new RangeError("a weighted picker needs at least one weight");
    this.#cumulative = new Float64Array(weights.length);
    let sum = 0;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i] as number;
      if (!(w >= 0)) throw new RangeError(`weight ${i} must be a non-negative number: got ${w}`);
      sum += w;
      this.#cumulative[i] = sum;
    }
    if (sum <= 0) throw new RangeError("weights must not all be zero");
    this.#total = sum;
  }

  /** An index in [0, weights.length), with probability proportional to its weight. */
  pick(prng: Prng): number {
    const target = prng.next() * this.#total;
    const c = this.#cumulative;
    let lo = 0;
    let hi = c.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((c[mid] as number) > target) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
