import { expect, test } from "bun:test";
import { connect } from "node:net";
import { startOpsServer } from "./ops-server.ts";
import type { Readiness } from "./readiness.ts";

function serve(readiness: Readiness) {
  return startOpsServer({ port: 0, metrics: () => "# HELP x X.\n# TYPE x counter\nx 1\n", readiness: () => readiness });
}

/** The status line of a bare HTTP/1.0 request, as a shell probe sends it (no Host header). */
function rawStatusLine(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.end(`GET ${path} HTTP/1.0\r\n\r\n`));
    let text = "";
    socket.on("data", (chunk) => (text += chunk));
    socket.on("end", () => resolve(text.split("\r\n")[0]!));
    socket.on("error", reject);
  });
}

test("startOpsServer() serves the metrics text with the exposition format's content type", async () => {
  const server = serve({ ready: true, reason: "ok" });
  try {
    const response = await fetch(`${server.url}/metrics`);
    expect({ status: response.status, type: response.headers.get("content-type"), body: await response.text() }).toEqual({
      status: 200,
      type: "text/plain; version=0.0.4; charset=utf-8",
      body: "# HELP x X.\n# TYPE x counter\nx 1\n",
    });
  } finally {
    await server.stop();
  }
});

test("startOpsServer() answers /readyz 200 or 503 with the reason, and /healthz 200", async () => {
  const ready = serve({ ready: true, reason: "3 partitions assigned, lag 0" });
  const notReady = serve({ ready: false, reason: "no partitions assigned" });
  try {
    const get = async (url: string) => {
      const r = await fetch(url);
      return { status: r.status, body: await r.json() };
    };
    expect(await get(`${ready.url}/readyz`)).toEqual({ status: 200, body: { status: "ready", reason: "3 partitions assigned, lag 0" } });
    expect(await get(`${notReady.url}/readyz`)).toEqual({ status: 503, body: { status: "not ready", reason: "no partitions assigned" } });
    expect(await get(`${notReady.url}/healthz`)).toEqual({ status: 200, body: { status: "alive" } });
  } finally {
    await ready.stop();
    await notReady.stop();
  }
});

test("startOpsServer() answers a bare HTTP/1.0 request without a Host header, as a shell probe sends it", async () => {
  const server = serve({ ready: false, reason: "no partitions assigned" });
  try {
    expect(await rawStatusLine(server.port, "/healthz")).toBe("HTTP/1.1 200 OK");
    expect(await rawStatusLine(server.port, "/readyz")).toBe("HTTP/1.1 503 Service Unavailable");
  } finally {
    await server.stop();
  }
});

test("startOpsServer() answers 404 for another path and 405 for another method, naming the endpoints", async () => {
  const server = serve({ ready: true, reason: "ok" });
  try {
    const notFound = await fetch(`${server.url}/stats`);
    const post = await fetch(`${server.url}/metrics`, { method: "POST" });
    expect([notFound.status, post.status]).toEqual([404, 405]);
    expect(await notFound.text()).toContain("GET /metrics");
  } finally {
    await server.stop();
  }
});

test("startOpsServer() on a port in use says which and what to do", async () => {
  const first = serve({ ready: true, reason: "ok" });
  try {
    expect(() => startOpsServer({ port: first.port, metrics: () => "", readiness: () => ({ ready: true, reason: "" }) })).toThrow(/METRICS_PORT or --metrics-port/);
  } finally {
    await first.stop();
  }
});
