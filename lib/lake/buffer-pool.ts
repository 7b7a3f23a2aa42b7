/**
 * Large ArrayBuffers kept for reuse by the thread that made them: the lake writer's column
 * buffers (lib/lake/lake-columns.ts) and the encoder's file buffer grow to the same sizes flush
 * after flush. Bun's allocator hands a freed large buffer's pages back to the kernel within
 * milliseconds, so a fresh buffer of the same size faults every page in again: draining 2,000,000
 * records the writer took 610,000 page faults and 4 s of kernel time, 165,000 and 2 s when the
 * allocator kept its pages (bench/results/lake.md).
 *
 * Sizes are powers of two from 64 KiB; a smaller buffer is not worth keeping and is allocated as
 * usual. Each thread has its own pool (a module instance per thread), bounded at {@link POOL_LIMIT}
 * bytes: what does not fit is left to the garbage collector. A buffer taken from the pool holds
 * whatever its last user wrote: its taker reads only what it has written itself.
 */

/** The smallest buffer worth keeping. */
export const POOL_MIN = 64 * 1024;
/** The most bytes one thread's pool keeps. */
export const POOL_LIMIT = 128 * 1024 * 1024;

const free = new Map<number, ArrayBuffer[]>();
let kept = 0;

/** A buffer of at least `bytes` bytes: from the pool, or new (rounded up to a power of two from {@link POOL_MIN}). */
export function takeBuffer(bytes: number): ArrayBuffer {
  if (bytes < POOL_MIN) return new ArrayBuffer(bytes);
  const size = 2 ** Math.ceil(Math.log2(bytes));
  const buffer = free.get(size)?.pop();
  if (buffer === undefined) return new ArrayBuffer(size);
  kept -= size;
  return buffer;
}

/**
 * Gives `buffer` back for a later {@link takeBuffer}. The caller must hold no view of it any more.
 * A buffer of another size (not one this pool hands out), a detached one, or one past the pool's
 * limit is left to the garbage collector.
 */
export function giveBuffer(buffer: ArrayBufferLike): void {
  const size = buffer.byteLength;
  if (!(buffer instanceof ArrayBuffer) || size < POOL_MIN || !Number.isInteger(Math.log2(size)) || kept + size > POOL_LIMIT) return;
  let list = free.get(size);
  if (list === undefined) free.set(size, (list = []));
  // Given twice, it would be handed out twice.
  if (list.includes(buffer)) return;
  list.push(buffer);
  kept += size;
}

/** Bytes the pool keeps now. */
export function pooledBytes(): number {
  return kept;
}
