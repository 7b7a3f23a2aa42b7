/** The process's own metrics, which every worker serves alike. */
import type { EventLoopDelay } from "./event-loop-delay.ts";
import { peakRssBytes } from "../runtime/worker-runtime.ts";
import type { MetricsRegistry } from "./prometheus.ts";

/** Memory and event-loop delay, which every worker reports alike. */
export function processMetrics(registry: MetricsRegistry, eventLoop: EventLoopDelay): void {
  registry.gauge("orderpulse_process_resident_memory_bytes", "Resident memory of the process.", () => process.memoryUsage.rss());
  registry.gauge("orderpulse_process_peak_resident_memory_bytes", "Largest resident memory of the process since it started.", () => peakRssBytes());
  registry.gauge("orderpulse_event_loop_delay_seconds", "Largest delay of a 100 ms timer over the last 10 s: how long the worker answered nothing.", () => eventLoop.maxMs() / 1000);
}
