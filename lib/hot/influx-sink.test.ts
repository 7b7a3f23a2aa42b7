/**
 * The sink's retry contract at the HTTP level, with a tiny local endpoint that answers what a
 * loaded InfluxDB answers (429 with Retry-After). Writing to real servers, outages included, is
 * tested in test/influx-sink.test.ts.
 */
import { expect, test } from "bun:test";
import { gunzipSync } from "node:zlib";
import { InfluxSink } from "./influx-sink.ts";
import type { WindowResult } from "../window/window-aggregate.ts";

const result: WindowResult = {
  partition: 0,
  windowStartMs: 1_795_824_000_000,
  windowEndMs: 1_795_824_060_000,
  orders: 1,
  revenueUsdCents: 100n,
  items: 1,
  customers: 1,
  byCategory: {},
  byCountry: {},
  final: true,
  emittedAtMs: 1_795_824_200_000,
};

test("InfluxSink honours Retry-After on 429, then writes the same lines, and flush() waits for them", async () => {
  const requests: { atMs: number; body: string; auth: string | null }[] = [];
  using server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const body = gunzipSync(Buffer.from(await request.arrayBuffer())).toString("utf8");
      requests.push({ atMs: performance.now(), body, auth: request.headers.get("authorization") });
      return requests.length === 1 ? new Response("busy", { status: 429, headers: { "Retry-After": "1" } }) : new Response(null, { status: 204 });
    },
  });
  const logs: string[] = [];
  const sink = new InfluxSink(
    { api: "v1", url: `http://127.0.0.1:${server.port}`, db: "shop", user: "writer", password: "pw-123" },
    { window: "1m", log: (line) => logs.push(line) },
  );
  await sink.write([result]);
  await sink.flush();
  expect(requests.length).toBe(2);
  expect(requests[1]!.body).toBe(requests[0]!.body);
  expect(requests[1]!.atMs - requests[0]!.atMs).toBeGreaterThanOrEqual(950);
  expect(requests[0]!.auth).toBe(`Basic ${Buffer.from("writer:pw-123").toString("base64")}`);
  expect(sink.written).toBe(1);
  expect(logs.join("\n")).not.toContain("pw-123");
  expect(logs).toEqual([
    expect.stringContaining("cannot write to InfluxDB 1.x API at http://127.0.0.1"),
    expect.stringContaining("writing to InfluxDB 1.x API at http://127.0.0.1"),
  ]);
  await sink.close();
});

test("InfluxSink reports congestion once its buffer holds maxBufferedLines, and not after it drains", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  using server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch() {
      await gate;
      return new Response(null, { status: 204 });
    },
  });
  const sink = new InfluxSink({ api: "v1", url: `http://127.0.0.1:${server.port}`, db: "shop" }, { window: "1m", maxBufferedLines: 3 });
  await sink.write([result, { ...result, partition: 1 }, { ...result, partition: 2 }]);
  expect(sink.congested()).toBe(true);
  release();
  await sink.flush();
  expect(sink.congested()).toBe(false);
  await sink.close();
});
