import { expect, test } from "bun:test";
import { InfluxqlError, influxqlRequest, queryInfluxql, seriesRows } from "./influxql-client.ts";
import type { InfluxTarget } from "./influx-sink.ts";

const v1: InfluxTarget = { api: "v1", url: "http://influx.test:8086/", db: "orderpulse", retentionPolicy: "autogen", user: "reader", password: "s3cret" };
const v2: InfluxTarget = { api: "v2", url: "http://influx.test:8086", org: "orderpulse", bucket: "orders", token: "tok" };

/** A fetch that records its request and answers with `status` and `body`. */
function fakeFetch(status: number, body: unknown) {
  const calls: { url: string; headers: Record<string, string> }[] = [];
  const fn = (async (url: string, init?: RequestInit) => {
    calls.push({ url, headers: init?.headers as Record<string, string> });
    return new Response(typeof body === "string" ? body : JSON.stringify(body), { status });
  }) as unknown as typeof fetch;
  return { fn, calls };
}

test("influxqlRequest() uses db, rp and Basic auth for the 1.x API, never the password in the URL", () => {
  const { url, headers } = influxqlRequest(v1, "SELECT 1");
  const parsed = new URL(url);
  expect(`${parsed.origin}${parsed.pathname}`).toBe("http://influx.test:8086/query");
  expect(Object.fromEntries(parsed.searchParams)).toEqual({ q: "SELECT 1", epoch: "ms", db: "orderpulse", rp: "autogen" });
  expect(headers).toEqual({ Accept: "application/json", Authorization: `Basic ${btoa("reader:s3cret")}` });
  expect(url).not.toContain("s3cret");
});

test("influxqlRequest() sends no Authorization header to a 1.x server without a user", () => {
  const { headers } = influxqlRequest({ api: "v1", url: "http://h:1", db: "d" }, "SELECT 1");
  expect(headers).toEqual({ Accept: "application/json" });
});

test("influxqlRequest() uses the bucket as db and a Token header for the 2.x compatibility API", () => {
  const { url, headers } = influxqlRequest(v2, "SELECT 1");
  expect(Object.fromEntries(new URL(url).searchParams)).toEqual({ q: "SELECT 1", epoch: "ms", db: "orders" });
  expect(headers).toEqual({ Accept: "application/json", Authorization: "Token tok" });
});

test("queryInfluxql() returns the first result's series with tags defaulted to {}", async () => {
  const { fn } = fakeFetch(200, {
    results: [{ statement_id: 0, series: [{ name: "order_window", columns: ["time", "orders"], values: [[60000, 3]] }] }],
  });
  expect(await queryInfluxql(v2, "SELECT orders FROM order_window", { fetch: fn })).toEqual([
    { name: "order_window", tags: {}, columns: ["time", "orders"], values: [[60000, 3]] },
  ]);
});

test("queryInfluxql() returns [] when nothing matched", async () => {
  const { fn } = fakeFetch(200, { results: [{ statement_id: 0 }] });
  expect(await queryInfluxql(v1, "SELECT * FROM nothing", { fetch: fn })).toEqual([]);
});

test("queryInfluxql() throws the server's error message from a statement error", async () => {
  const { fn } = fakeFetch(200, { results: [{ statement_id: 0, error: "database not found: nope" }] });
  const error = await queryInfluxql(v1, "SELECT 1", { fetch: fn }).catch((e) => e);
  expect(error).toBeInstanceOf(InfluxqlError);
  expect(error.message).toBe("InfluxQL query failed: HTTP 200: database not found: nope");
});

test("queryInfluxql() throws on an HTTP error without a JSON body", async () => {
  const { fn } = fakeFetch(401, "unauthorized access");
  const error = await queryInfluxql(v2, "SELECT 1", { fetch: fn }).catch((e) => e);
  expect({ status: error.status, message: error.message }).toEqual({ status: 401, message: "InfluxQL query failed: HTTP 401: unauthorized access" });
});

test("queryInfluxql() refuses a partial result", async () => {
  const { fn } = fakeFetch(200, { results: [{ statement_id: 0, partial: true, series: [] }] });
  expect(queryInfluxql(v1, "SELECT 1", { fetch: fn })).rejects.toThrow("truncated");
});

test("seriesRows() merges each series' tags into its rows", () => {
  expect(
    seriesRows([
      { name: "m", tags: { partition: "0" }, columns: ["time", "orders"], values: [[1, 2], [3, 4]] },
      { name: "m", tags: { partition: "1" }, columns: ["time", "orders"], values: [[1, 5]] },
    ]),
  ).toEqual([
    { partition: "0", time: 1, orders: 2 },
    { partition: "0", time: 3, orders: 4 },
    { partition: "1", time: 1, orders: 5 },
  ]);
});

test("17.6 queryInfluxql() returns an integer past 2^53 exactly, as a bigint, and every other value as JSON.parse does", async () => {
  // InfluxDB writes an int64 field with all its digits; JSON.parse alone would round it to 9007199254740992.
  const body = '{"results":[{"statement_id":0,"series":[{"name":"order_window","columns":["time","revenue_cents","revenue","orders"],"values":[[60000,9007199254740993,90071992547409.92,3],[120000,-9007199254740993,1.5,9007199254740991]]}]}]}';
  const { fn } = fakeFetch(200, body);
  const [series] = await queryInfluxql(v1, "SELECT 1", { fetch: fn });
  expect(series!.values).toEqual([
    [60_000, 9007199254740993n, 90071992547409.92, 3],
    [120_000, -9007199254740993n, 1.5, 9007199254740991],
  ]);
});
