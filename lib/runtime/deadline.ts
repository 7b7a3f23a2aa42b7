/**
 * A wait bounded by a deadline on `performance.now()`'s clock: how a stopping worker waits for a
 * server that may be away, or may hang without closing its connections.
 */

/** What {@link beforeDeadline} gives when the deadline passed first. */
export const TIMED_OUT = Symbol("timed out");

/**
 * `promise`'s outcome, or TIMED_OUT once `deadlineMs` (a `performance.now()` time) passes,
 * whichever comes first; a deadline already passed still lets a promise settled by now win.
 * The timer is cleared either way; a promise that lost is left to settle unheard.
 */
export function beforeDeadline<T>(promise: Promise<T>, deadlineMs: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, deadlineMs - performance.now()))));
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
