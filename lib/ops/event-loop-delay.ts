/**
 * How late the event loop runs a timer: a worker busy in one long synchronous stretch (a big
 * flush, a garbage collection) answers nothing meanwhile — not Kafka's heartbeats, not a probe.
 * A timer every `intervalMs` measures how much later than due it ran; `maxMs()` is the largest
 * delay over the last `windowMs`.
 */
export class EventLoopDelay {
  readonly #intervalMs: number;
  readonly #windowMs: number;
  readonly #samples: { atMs: number; delayMs: number }[] = [];
  #timer: ReturnType<typeof setInterval>;

  constructor(options: { intervalMs?: number; windowMs?: number } = {}) {
    this.#intervalMs = options.intervalMs ?? 100;
    this.#windowMs = options.windowMs ?? 10_000;
    let due = performance.now() + this.#intervalMs;
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.#samples.push({ atMs: now, delayMs: Math.max(0, now - due) });
      due = now + this.#intervalMs;
      while (this.#samples.length > 0 && this.#samples[0]!.atMs < now - this.#windowMs) this.#samples.shift();
    }, this.#intervalMs);
    // Never what keeps a process alive.
    this.#timer.unref?.();
  }

  /** The largest delay in ms over the last window (0 before the first sample). */
  maxMs(): number {
    let max = 0;
    for (const s of this.#samples) if (s.delayMs > max) max = s.delayMs;
    return max;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
