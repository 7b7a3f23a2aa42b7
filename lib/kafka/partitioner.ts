/**
 * Kafka's default partitioner for keyed records, as the Java client computes it:
 * `toPositive(murmur2(keyBytes)) % numPartitions`. Assigning partitions here (rather than in
 * the client) keeps key → partition the standard mapping every Kafka tool agrees on, and is far
 * cheaper than @platformatic/kafka's BigInt murmur2 (whose default partitioner also uses
 * `>>> 0` instead of Java's `& 0x7fffffff`, so it spreads keys differently).
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's murmur2 of `bytes` as a signed 32-bit integer (same value as `Utils.murmur2` in Java). */
export function murmur2(bytes: Uint8Array): number {
  const length = bytes.length;
  let h = SEED ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const rest = length & 3;
  if (rest > 0) {
    if (rest === 3) h ^= bytes[whole + 2]! << 16;
    if (rest >= 2) h ^= bytes[whole + 1]! << 8;
    h ^= bytes[whole]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

const encoder = new TextEncoder();

/** The partition Kafka's Java client picks for a record with this key. */
export function partitionForKey(key: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new RangeError(`partitions must be a positive whole number: got ${partitions}`);
  }
  return (murmur2(encoder.encode(key)) & 0x7fffffff) % partitions;
}
