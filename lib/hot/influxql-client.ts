/**
 * Reading the hot path back: InfluxQL over HTTP `GET /query`, which InfluxDB 1.x serves natively
 * (database, optional retention policy, user and password) and InfluxDB 2.x serves through its
 * 1.x compatibility API (database = bucket, `Authorization: Token …`). The same
 * {@link InfluxTarget} the aggregator writes to (lib/hot/influx-config.ts reads it from the same
 * environment variables), so a notebook reads exactly where the aggregator wrote.
 *
 * Only `fetch`: runs in Bun, Deno (notebooks) and anything else with the Fetch API. Credentials
 * travel in the Authorization header, never in the URL, and never appear in errors.
 *
 * Integers past 2^53 come back exact, as bigint: InfluxDB writes an integer field's 64-bit value
 * with all its digits, and a plain `JSON.parse` would round it to a double (`revenue_cents` of a
 * large window, or a `sum()` of it). Every other value is what `JSON.parse` gives.
 */
import { unsafeIntegersAsBigInt } from "../runtime/json-integers.ts";
import type { InfluxTarget } from "./influx-sink.ts";

/**
 * One series of a result: `values` rows are in `columns` order, `time` in ms since the epoch; an
 * integer beyond Number.MAX_SAFE_INTEGER is a bigint.
 */
export interface InfluxqlSeries {
  name: string;
  tags: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

/** The server answered the query with an error, or the result was cut short. */
export class InfluxqlError extends Error {
  override name = "InfluxqlError";
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface QueryOptions {
  /** The HTTP client. Default: the global `fetch`. */
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/** The request for `query` against `target` (exported for tests): URL and headers. */
export function influxqlRequest(target: InfluxTarget, query: string): { url: string; headers: Record<string, string> } {
  const params = new URLSearchParams({ q: query, epoch: "ms" });
  const headers: Record<string, string> = { Accept: "application/json" };
  if (target.api === "v2") {
    params.set("db", target.bucket);
    headers.Authorization = `Token ${target.token}`;
  } else {
    params.set("db", target.db);
    if (target.retentionPolicy) params.set("rp", target.retentionPolicy);
    if (target.user) headers.Authorization = `Basic ${btoa(`${target.user}:${target.password ?? ""}`)}`;
  }
  return { url: `${target.url.replace(/\/+$/, "")}/query?${params}`, headers };
}

/**
 * Runs one InfluxQL statement and returns its series (empty when nothing matched). Throws an
 * {@link InfluxqlError} when the server reports an error or a partial (truncated) result —
 * a reconciliation must never compare against half an answer.
 */
export async function queryInfluxql(target: InfluxTarget, query: string, options: QueryOptions = {}): Promise<InfluxqlSeries[]> {
  const { url, headers } = influxqlRequest(target, query);
  const response = await (options.fetch ?? fetch)(url, { headers, ...(options.signal ? { signal: options.signal } : {}) });
  const text = await response.text();
  let body: { error?: string; results?: { error?: string; partial?: boolean; series?: Partial<InfluxqlSeries>[] }[] };
  try {
    body = JSON.parse(text, unsafeIntegersAsBigInt);
  } catch {
    throw new InfluxqlError(`InfluxQL query failed: HTTP ${response.status}: ${text.slice(0, 200)}`, response.status);
  }
  const result = body.results?.[0];
  const error = body.error ?? result?.error;
  if (!response.ok || error) throw new InfluxqlError(`InfluxQL query failed: HTTP ${response.status}: ${error ?? text.slice(0, 200)}`, response.status);
  if (result?.partial || (body as { partial?: boolean }).partial) {
    throw new InfluxqlError("InfluxQL result was truncated by the server's row limit: narrow the time range", response.status);
  }
  return (result?.series ?? []).map((s) => ({ name: s.name ?? "", tags: s.tags ?? {}, columns: s.columns ?? [], values: s.values ?? [] }));
}

/** The rows of a series as objects keyed by column name, with the series' tags merged in. */
export function seriesRows(series: readonly InfluxqlSeries[]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const s of series) {
    for (const values of s.values) {
      const row: Record<string, unknown> = { ...s.tags };
      s.columns.forEach((column, i) => (row[column] = values[i]));
      rows.push(row);
    }
  }
  return rows;
}
