/**
 * The HTTP endpoints operators point their tools at, on one port of a worker:
 * - `GET /metrics`: the Prometheus text format (lib/ops/prometheus.ts);
 * - `GET /healthz`: 200 while the process answers (liveness);
 * - `GET /readyz`: 200 when the worker is ready, 503 when not, with the reason as JSON
 *   (lib/ops/readiness.ts).
 *
 * It runs on the worker's own event loop, on purpose: a worker whose loop is blocked, or a process
 * that is stopped, does not answer at all, and a probe's timeout counts that as a failure, as
 * compose's and Kubernetes' health checks do.
 */
import type { Readiness } from "./readiness.ts";
import { PROMETHEUS_CONTENT_TYPE } from "./prometheus.ts";

export interface OpsServerOptions {
  /** TCP port; 0 picks a free one (see `port` on the result). */
  port: number;
  /** Address to listen on (default 127.0.0.1; 0.0.0.0 for scrapers and probes from other hosts). */
  hostname?: string;
  /** The metrics text, rendered at each scrape. */
  metrics: () => string;
  /** The readiness now. */
  readiness: () => Readiness;
}

export interface OpsServer {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

const ENDPOINTS = "GET /metrics (Prometheus text format), /healthz (liveness), /readyz (readiness)";

export function startOpsServer(options: OpsServerOptions): OpsServer {
  const hostname = options.hostname ?? "127.0.0.1";
  const json = (body: unknown, status: number) =>
    new Response(JSON.stringify(body) + "\n", { status, headers: { "content-type": "application/json", "cache-control": "no-store" } });
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      port: options.port,
      hostname,
      fetch(request) {
        // An HTTP/1.0 probe without a Host header (bash's /dev/tcp, in compose) gets a bare path here.
        const { pathname } = new URL(request.url, "http://localhost");
        if (request.method !== "GET" && request.method !== "HEAD") return new Response(`only GET: ${ENDPOINTS}\n`, { status: 405, headers: { allow: "GET, HEAD" } });
        switch (pathname) {
          case "/metrics":
            return new Response(options.metrics(), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" } });
          case "/healthz":
            return json({ status: "alive" }, 200);
          case "/readyz": {
            const readiness = options.readiness();
            return json({ status: readiness.ready ? "ready" : "not ready", reason: readiness.reason }, readiness.ready ? 200 : 503);
          }
          default:
            return new Response(`not found: ${ENDPOINTS}\n`, { status: 404 });
        }
      },
    });
  } catch (error) {
    throw new Error(
      `cannot serve metrics and health on ${hostname}:${options.port} (${(error as Error).message}); ` +
        "choose another port with METRICS_PORT or --metrics-port, or 0 for any free one",
    );
  }
  const port = server.port!;
  return {
    port,
    url: `http://${hostname === "0.0.0.0" ? "127.0.0.1" : hostname}:${port}`,
    stop: () => server.stop(true),
  };
}
