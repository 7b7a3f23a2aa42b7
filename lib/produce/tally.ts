/**
 * What the producer has sent, by kind and fault, and the two ways it reports it: one progress
 * line and the final summary (a human block and a machine-readable object whose counts a test
 * reconciles against what a consumer reads back).
 */
import { MALFORMED_KINDS, type MalformedKind } from "../event/malformed.ts";
import type { Fault, RecordKind, SimRecord } from "../event/simulator.ts";

type KindFault = readonly [RecordKind, Fault | undefined];

/** Every (kind, fault) pair the simulator produces; chunks count their records by index in here. */
export const KIND_FAULTS: readonly KindFault[] = [
  ["valid", undefined],
  ["valid", "out_of_order"],
  ["late", "late_within_watermark"],
  ["late", "late_beyond_watermark"],
  ["duplicate", "duplicate"],
  ...MALFORMED_KINDS.map((k): KindFault => ["malformed", k]),
];

/** Fault → KIND_FAULTS index (every fault belongs to one kind); a clean record is index 0. */
const codeByFault = new Map<Fault, number>();
KIND_FAULTS.forEach(([, fault], i) => fault !== undefined && codeByFault.set(fault, i));

/** The KIND_FAULTS index of a record's kind and fault; throws a RangeError for a pair not in it. */
export function kindFaultCode(record: Pick<SimRecord, "kind" | "fault">): number {
  // Most records are clean: no lookup for them.
  const code = record.fault === undefined ? (record.kind === "valid" ? 0 : undefined) : codeByFault.get(record.fault);
  if (code === undefined || KIND_FAULTS[code]![0] !== record.kind) {
    throw new RangeError(`no code for kind ${record.kind} with fault ${String(record.fault)}`);
  }
  return code;
}

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
    const counts = new Uint32Array(KIND_FAULTS.length);
    for (const r of records) {
      counts[kindFaultCode(r)]!++;
      this.#span(r.emittedAtMs, r.emittedAtMs);
    }
    this.#addCounts(counts);
  }

  /**
   * Counts a chunk of records that is safely out, from its counts per KIND_FAULTS index and
   * the stream times of its first and last record.
   */
  addChunk(chunk: { counts: ArrayLike<number>; firstEmittedMs: number; lastEmittedMs: number; records: number }): void {
    if (chunk.records === 0) return;
    this.#span(chunk.firstEmittedMs, chunk.lastEmittedMs);
    this.#addCounts(chunk.counts);
  }

  #addCounts(counts: ArrayLike<number>): void {
    for (let code = 0; code < KIND_FAULTS.length; code++) {
      const n = counts[code] ?? 0;
      if (n === 0) continue;
      const [kind, fault] = KIND_FAULTS[code]!;
      this.kinds[kind] += n;
      this.sent += n;
      switch (kind) {
        case "valid":
          if (fault === "out_of_order") this.faults.out_of_order += n;
          else this.faults.on_time += n;
          break;
        case "late":
          if (fault === "late_beyond_watermark") this.faults.late_beyond_watermark += n;
          else this.faults.late_within_watermark += n;
          break;
        case "duplicate":
          this.faults.duplicate += n;
          break;
        case "malformed":
          this.faults.malformed += n;
          this.malformed[fault as MalformedKind] += n;
          break;
        default: {
          const unknown: never = kind;
          throw new RangeError(`unknown record kind ${String(unknown)}`);
        }
      }
    }
  }

  #span(firstMs: number, lastMs: number): void {
    if (this.#firstMs === undefined || firstMs < this.#firstMs) this.#firstMs = firstMs;
    if (this.#lastMs === undefined || lastMs > this.#lastMs) this.#lastMs = lastMs;
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

/** Process CPU figures for the summary's `cpu_ms`, as `process.cpuUsage()` gives them (µs). */
type CpuUsage = { user: number; system: number };

/**
 * The summary for machines (`--summary-json`): the counts, the run's context, and CPU over the
 * same span as elapsed_ms, for benchmarks on a machine that other work shares: the sending
 * thread's own, the generator thread's, and the whole process's.
 */
export function summaryJson(
  s: ProduceSummary,
  context: { seed: string; startMs: number; destination: string; stoppedBy: string; cpu: { sendingThread: CpuUsage; generatorThreadMs: number | undefined; process: CpuUsage } },
): Record<string, unknown> {
  const cpuMs = (u: CpuUsage) => Math.round((u.user + u.system) / 1000);
  return {
    ...s,
    seed: context.seed,
    start: new Date(context.startMs).toISOString(),
    destination: context.destination,
    stopped_by: context.stoppedBy,
    cpu_ms: {
      sending_thread: cpuMs(context.cpu.sendingThread),
      generator_thread: context.cpu.generatorThreadMs === undefined ? null : Math.round(context.cpu.generatorThreadMs),
      process: cpuMs(context.cpu.process),
    },
  };
}

/**
 * The line a run that leaves events not acknowledged ends with: how many, why, what that means
 * for the destination, and what to do. `timedOut`: the stop's deadline passed with them in flight.
 */
export function formatNotAcknowledged(failed: number, context: { destination: string; timedOut: boolean; shutdownTimeoutMs: number }): string {
  const why = context.timedOut ? `no answer within the ${context.shutdownTimeoutMs} ms shutdown timeout` : "the send was given up on";
  return `${n(failed)} events were not acknowledged (${why}): they may or may not be in ${context.destination}, and the summary's "sent" counts none of them. ` +
    (context.timedOut ? "Check that the broker is reachable, or give the stop more time with --shutdown-timeout." : "See the error above.");
}
