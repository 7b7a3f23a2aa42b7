/**
 * Tumbling event-time windows: `[windowStartMs, windowStartMs + windowSizeMs)`.
 *
 * `Math.floor` (not `%` or truncation) so negative event times land in the window that
 * contains them: -1 with a 60 s window starts at -60_000, not at 0. An event exactly on a
 * window's end belongs to the later window, because the interval is half-open.
 */
export function assignWindow(eventTimeMs: number, windowSizeMs: number): number {
  return Math.floor(eventTimeMs / windowSizeMs) * windowSizeMs;
}
