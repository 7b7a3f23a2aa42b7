/**
 * What the producer has sent, by kind and fault, and the two ways it reports it: one progress
 * line and the final summary (a human block and a machine-readable object whose counts a test
 * reconciles against what a consumer reads back).
 */
import { MALFORMED_KINDS, type MalformedKind } from "./malformed.ts";
import type { RecordKind, SimRecord } from "./simulator.ts";

export interface ProduceSummary {
  /** Records the broker acknowledged (or, with --stdout, that were written). */
  sent: number;
  /** Records handed to Kafka but never acknowledged (only when a flush timed out). */
  failed: number;
  /** Failed send attempts that were retried (each counts once per attempt). */
  errors: number;
  elapsed_ms: number;
  /** sent / elapsed, rounded. */
  events_per_s: number;
  kinds: Record<RecordKind, number>;
  /** valid = on_time + out_of_order; late = late_within_watermark + late_beyond_watermark. */
  faults: {
    on_time: number;
    out_of_order: number;
    late_within_watermark: number;
    late_beyond_watermark: number;
    duplicate: number;
    malformed: number;
  };
  malformed: Record<MalformedKind, number>;
  /** Stream time of the first and last record sent, ISO-8601; null when nothing was sent. */
  first_emitted_at: string | null;
  last_emitted_at: string | null;
}

export class ProduceTally {
  sent = 0;
  failed = 0;
  errors = 0;
  readonly kinds: Record<RecordKind, number> = { valid: 0, late: 0, duplicate: 0, malformed: 0 };
  readonly faults: ProduceSummary["faults"] = {
    on_time: 0,
    out_of_order: 0,
    late_within_watermark: 0,
    late_beyond_watermark: 0,
    duplicate: 0,
    malformed: 0,
  };
  readonly malformed = Object.fromEntries(MALFORMED_KINDS.map((k) => [k, 0])) as Record<MalformedKind, number>;
  #firstMs: number | undefined;
  #lastMs: number | undefined;

  /** Counts records once they are safely out (acknowledged or written). */
  add(records: readonly Pick<SimRecord, "kind" | "fault" | "emittedAtMs">[]): void {
    for (const r of records) {
      this.kinds[r.kind]++;
      switch (r.kind) {
        case "valid":
          if (r.fault === "out_of_order") this.faults.out_of_order++;
          else this.faults.on_time++;
          break;
        case "late":
          if (r.fault === "late_beyond_watermark") this.faults.late_beyond_watermark++;
          else this.faults.late_within_watermark++;
          break;
        case "duplicate":
          this.faults.duplicate++;
          break;
        case "malformed":
          this.faults.malformed++;
          this.malformed[r.fault as MalformedKind]++;
          break;
        default: {
          const unknown: never = r.kind;
          throw new RangeError(`unknown record kind ${String(unknown)}`);
        }
      }
      if (this.#firstMs === undefined || r.emittedAtMs < this.#firstMs) this.#firstMs = r.emittedAtMs;
      if (this.#lastMs === undefined || r.emittedAtMs > this.#lastMs) this.#lastMs = r.emittedAtMs;
    }
    this.sent += records.length;
  }

  summary(elapsedMs: number): ProduceSummary {
    return {
      sent: this.sent,
      failed: this.failed,
      errors: this.errors,
      elapsed_ms: Math.round(elapsedMs),
      events_per_s: elapsedMs > 0 ? Math.round((this.sent * 1000) / elapsedMs) : 0,
      kinds: { ...this.kinds },
      faults: { ...this.faults },
      malformed: { ...this.malformed },
      first_emitted_at: this.#firstMs === undefined ? null : new Date(this.#firstMs).toISOString(),
      last_emitted_at: this.#lastMs === undefined ? null : new Date(this.#lastMs).toISOString(),
    };
  }
}

const n = (value: number) => value.toLocaleString("en-US");

/** One progress line: totals, the rate over the last interval, errors. */
export function formatProgress(p: { sent: number; errors: number; inFlight: number; elapsedMs: number; rateNowPerS: number }): string {
  return `sent ${n(p.sent)} | ${n(Math.round(p.rateNowPerS))}/s now, ${n(p.elapsedMs > 0 ? Math.round((p.sent * 1000) / p.elapsedMs) : 0)}/s average | ` +
    `in flight ${n(p.inFlight)} | errors ${n(p.errors)} | ${(p.elapsedMs / 1000).toFixed(1)} s`;
}

/** A bar for a terminal: `[#####.....]  50%` when the total is known, a spinner-free count otherwise. */
export function formatBar(done: number, total: number | undefined, width = 30): string {
  if (total === undefined || total <= 0) return `[${n(done)} sent]`;
  const share = Math.min(1, done / total);
  const filled = Math.round(share * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(Math.floor(share * 100)).padStart(3)}%`;
}

/** The final summary for a person to read. */
export function formatSummary(s: ProduceSummary, context: { destination: string; seed: string; stoppedBy: string }): string {
  const rows: [string, number][] = [
    ["on time", s.faults.on_time],
    ["out of order (jittered)", s.faults.out_of_order],
    ["late, within watermark", s.faults.late_within_watermark],
    ["late, beyond watermark", s.faults.late_beyond_watermark],
    ["duplicates (re-sent)", s.faults.duplicate],
    ["malformed", s.faults.malformed],
    ...MALFORMED_KINDS.map((k): [string, number] => [`  ${k}`, s.malformed[k]]),
  ];
  return [
    `produce summary (${context.destination}, seed ${context.seed}, stopped by ${context.stoppedBy})`,
    `  sent ${n(s.sent)} in ${(s.elapsed_ms / 1000).toFixed(2)} s = ${n(s.events_per_s)} events/s; errors ${n(s.errors)}; failed ${n(s.failed)}`,
    `  stream time ${s.first_emitted_at ?? "-"} .. ${s.last_emitted_at ?? "-"}`,
    ...rows.map(([label, count]) => `  ${label.padEnd(26)} ${n(count).padStart(12)}`),
  ].join("\n");
}
