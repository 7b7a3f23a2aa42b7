/**
 * The producer's Prometheus metrics and readiness: records acknowledged by the broker (by kind),
 * send errors, records in flight; ready while acknowledgements keep coming.
 */
import { EventLoopDelay } from "../ops/event-loop-delay.ts";
import { MetricsRegistry, type Sample } from "../ops/prometheus.ts";
import { processMetrics } from "../ops/process-metrics.ts";
import { ProgressRule } from "../ops/readiness.ts";
import type { WorkerOps } from "../ops/worker-ops.ts";
import type { ProduceTally } from "./tally.ts";

export function producerOps(tally: ProduceTally, inFlight: () => number, options: { stallMs: number; now: () => number }): WorkerOps {
  const registry = new MetricsRegistry();
  const eventLoop = new EventLoopDelay();
  registry.counter("orderpulse_produced_records_total", "Records the broker acknowledged, by kind: valid, late, duplicate, malformed.", (): Sample[] =>
    Object.entries(tally.kinds).map(([kind, value]) => ({ labels: { kind }, value })),
  );
  registry.counter("orderpulse_produce_failed_records_total", "Records given up on: not acknowledged before the stop's deadline.", () => tally.failed);
  registry.counter("orderpulse_produce_errors_total", "Sends that failed and were retried.", () => tally.errors);
  registry.gauge("orderpulse_produce_in_flight_records", "Records sent and not yet acknowledged.", () => inFlight());
  processMetrics(registry, eventLoop);
  const readiness = new ProgressRule(options.stallMs, options.now(), "record acknowledged");
  return { registry, readiness, sample: () => readiness.observe(tally.sent, options.now()), stop: () => eventLoop.stop() };
}
