/**
 * What a consumer can see of the producer's injected faults, from the messages alone: each
 * message is validated against its own `emitted_at_ms` header (the stream time it went out at),
 * a repeated event_id is a duplicate, and how far created_at lies behind the stream time says
 * whether it is jittered, late within the 2-minute watermark, or beyond it.
 *
 * The counts have the shape of the producer's summary (`faults`, `malformed`), so a test can
 * reconcile the two category by category. Memory grows with the number of distinct event ids.
 */
import { MALFORMED_KINDS, type MalformedKind } from "../event/malformed.ts";
import type { ProduceSummary } from "./tally.ts";
import { LATENESS_MS } from "../event/simulator.ts";
import { type RejectReason, validateOrder } from "../event/validate-order.ts";

export interface CensusCounts {
  messages: number;
  faults: ProduceSummary["faults"];
  /** Rejections by reason; reasons the producer never injects are counted here too, as a red flag. */
  malformed: Record<MalformedKind, number> & Partial<Record<RejectReason, number>>;
  /** Valid events whose lateness fits none of the producer's ranges (should stay 0). */
  unexplained: number;
}

export class FaultCensus {
  readonly #seen = new Set<string>();
  readonly counts: CensusCounts = {
    messages: 0,
    faults: { on_time: 0, out_of_order: 0, late_within_watermark: 0, late_beyond_watermark: 0, duplicate: 0, malformed: 0 },
    malformed: Object.fromEntries(MALFORMED_KINDS.map((k) => [k, 0])) as CensusCounts["malformed"],
    unexplained: 0,
  };

  /** One consumed message: its value bytes and the stream time from its `emitted_at_ms` header. */
  observe(value: Uint8Array, emittedAtMs: number): void {
    const c = this.counts;
    c.messages++;
    const result = validateOrder(value, { nowMs: emittedAtMs });
    if (!result.ok) {
      c.faults.malformed++;
      c.malformed[result.reason] = (c.malformed[result.reason] ?? 0) + 1;
      return;
    }
    if (this.#seen.has(result.event.event_id)) {
      c.faults.duplicate++;
      return;
    }
    this.#seen.add(result.event.event_id);
    const behindMs = emittedAtMs - result.eventTimeMs;
    if (behindMs === 0) c.faults.on_time++;
    else if (behindMs > 0 && behindMs < LATENESS_MS.withinWatermark.min) c.faults.out_of_order++;
    else if (behindMs >= LATENESS_MS.withinWatermark.min && behindMs <= LATENESS_MS.withinWatermark.max) c.faults.late_within_watermark++;
    else if (behindMs >= LATENESS_MS.beyondWatermark.min && behindMs <= LATENESS_MS.beyondWatermark.max) c.faults.late_beyond_watermark++;
    else c.unexplained++;
  }
}
