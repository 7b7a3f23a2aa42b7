/**
 * Split an integer total over weights so the parts are integers that sum exactly to the total
 * (the largest-remainder, or Hamilton, method).
 *
 * Each part first gets `floor(total × weight / sum(weights))`; the units left over go one each
 * to the parts with the largest remainders. Ties go to the lower index, so a caller that wants
 * "ties by name ascending" passes its weights sorted by name. All arithmetic is integer: the
 * products stay in doubles while they are safe integers and fall back to `bigint` past 2^53
 * (a JPY order total times a JPY line amount can get there), so the result never depends on
 * floating-point rounding.
 *
 * Edge cases, chosen so the hot path never throws on odd data:
 * - all weights 0 (or no positive weight): the whole total goes to index 0;
 * - negative weights count as 0;
 * - a negative total is split as its absolute value and negated, so parts still sum to it;
 * - no weights: an empty array (the total has nowhere to go; callers always pass at least one).
 *
 * `total` and the weights must be integers (minor units); `out`, when given, is reused.
 */
// Reused between calls (the function is synchronous): this runs once per multi-category order.
const scratchRemainders: number[] = [];
const scratchTaken: boolean[] = [];

export function allocateLargestRemainder(total: number, weights: readonly number[], out: number[] = []): number[] {
  const n = weights.length;
  out.length = n;
  if (n === 0) return out;
  const sign = total < 0 ? -1 : 1;
  const magnitude = total * sign;
  let weightSum = 0;
  for (let i = 0; i < n; i++) weightSum += Math.max(0, weights[i]!);
  if (n === 1 || weightSum === 0) {
    out.fill(0);
    out[0] = total;
    return out;
  }
  if (!Number.isSafeInteger(magnitude * weightSum)) return allocateBig(magnitude, weights, weightSum, sign, out);

  // remainders[i] is the numerator of part i's fractional remainder over weightSum.
  const remainders = scratchRemainders;
  remainders.length = n;
  let allocated = 0;
  for (let i = 0; i < n; i++) {
    const product = magnitude * Math.max(0, weights[i]!);
    const remainder = product % weightSum;
    const part = (product - remainder) / weightSum;
    out[i] = part;
    remainders[i] = remainder;
    allocated += part;
  }
  distributeLeftover(magnitude - allocated, remainders, out);
  if (sign < 0) for (let i = 0; i < n; i++) out[i] = -out[i]! || 0;
  return out;
}

function allocateBig(magnitude: number, weights: readonly number[], weightSum: number, sign: number, out: number[]): number[] {
  const n = weights.length;
  const bigTotal = BigInt(magnitude);
  const bigSum = BigInt(weightSum);
  const remainders = new Array<bigint>(n);
  let allocated = 0;
  for (let i = 0; i < n; i++) {
    const product = bigTotal * BigInt(Math.max(0, weights[i]!));
    const part = Number(product / bigSum);
    out[i] = part;
    remainders[i] = product % bigSum;
    allocated += part;
  }
  distributeLeftover(magnitude - allocated, remainders, out);
  if (sign < 0) for (let i = 0; i < n; i++) out[i] = -out[i]! || 0;
  return out;
}

/** Give one unit each to the `leftover` largest remainders, ties to the lower index. */
function distributeLeftover<R extends number | bigint>(leftover: number, remainders: R[], out: number[]): void {
  // leftover < n, and n is the handful of categories in one order: a selection pass per unit is cheaper than sorting.
  const taken = scratchTaken;
  taken.length = remainders.length;
  taken.fill(false);
  for (let unit = 0; unit < leftover; unit++) {
    let best = -1;
    for (let i = 0; i < remainders.length; i++) {
      if (taken[i]) continue;
      if (best === -1 || remainders[i]! > remainders[best]!) best = i;
    }
    taken[best] = true;
    out[best]! += 1;
  }
}
