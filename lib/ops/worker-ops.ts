/**
 * A worker's metrics and readiness, served: the worker builds its metric set and readiness rule
 * (`WorkerOps`), this samples its progress every second and serves both on the metrics port.
 */
import { type OpsServer, startOpsServer } from "./ops-server.ts";
import type { MetricsRegistry } from "./prometheus.ts";
import type { ReadinessCheck } from "./readiness.ts";

export interface WorkerOps {
  registry: MetricsRegistry;
  readiness: ReadinessCheck;
  /** Samples the worker's progress into `readiness`. */
  sample(): void;
  /** Stops the ops' own timers. */
  stop(): void;
}

export interface ServedOps extends OpsServer {
  /** Stops serving and sampling. */
  close(): Promise<void>;
}

export function serveWorkerOps(ops: WorkerOps, options: { port: number; hostname: string; now: () => number; log: (line: string) => void }): ServedOps {
  const server = startOpsServer({
    port: options.port,
    hostname: options.hostname,
    metrics: () => ops.registry.render(),
    readiness: () => {
      ops.sample();
      return ops.readiness.check(options.now());
    },
  });
  const timer = setInterval(() => ops.sample(), 1_000);
  timer.unref?.();
  options.log(`metrics at ${server.url}/metrics, health at /healthz and /readyz (not ready after ${ops.readiness.stallMs / 1000} s without progress)`);
  return {
    port: server.port,
    url: server.url,
    stop: server.stop,
    close: async () => {
      clearInterval(timer);
      ops.stop();
      await server.stop();
    },
  };
}
