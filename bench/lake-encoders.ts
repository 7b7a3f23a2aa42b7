/**
 * The Parquet engines the lake could write with, on the same rows: issue 20's comparison.
 *
 *   bun run bench/lake-encoders.ts [--rows 200000] [--runs 3]
 *
 * Rows: simulated events (seeded, the producer's canonical encoding), validated as the lake
 * writer does, in one hour's file. For each engine: encoding only (no disk), events/s (best of
 * --runs), bytes per event of the file, and the RSS growth the encoding added.
 *
 * - hyparquet-writer 0.17 as the lake used it before issue 20 (row objects → columns, dictionary
 *   trials, statistics, SNAPPY, the same page index);
 * - orderpulse's encoder (lib/lake/lake-encoder.ts) from decoded rows (appendRow), and from the
 *   validator's byte ranges as the writer feeds it (appendFacts: no row objects at all);
 * - DuckDB (@duckdb/node-api): its appender, then COPY … TO parquet (SNAPPY) — its C++ writer on
 *   every core, fed one value per call from JavaScript.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DuckDBInstance, listValue, structValue, timestampTZValue } from "@duckdb/node-api";
import { ByteWriter, parquetWrite } from "hyparquet-writer";
import { Simulator } from "../lib/event/simulator.ts";
import { LakeColumns } from "../lib/lake/lake-columns.ts";
import { encodeLakeGroups } from "../lib/lake/lake-encoder.ts";
import { decodeLakeFile, LAKE_COLUMNS, LAKE_SCHEMA, type LakeRow, toLakeRow, validateLakeEvent, validateLakeRecord } from "../lib/lake/schema.ts";

const { values } = parseArgs({ args: process.argv.slice(2), options: { rows: { type: "string", default: "200000" }, runs: { type: "string", default: "3" } } });
const count = Number(values.rows);
const runs = Number(values.runs);

const sim = new Simulator({ seed: 1, startMs: Date.UTC(2026, 11, 1, 10), ratePerS: 50, malformedFraction: 0 });
const records = Array.from({ length: count }, () => sim.next());
const rows: LakeRow[] = [];
records.forEach((r, offset) => {
  const v = validateLakeEvent(r.value);
  if (v.ok) rows.push(toLakeRow(v.event, v.eventTimeMs, offset % 12, BigInt(offset), r.emittedAtMs));
});

/** The lake's encoder before issue 20 (lib/lake/schema.ts at e4a763c). */
function hyparquetWriter(list: readonly LakeRow[]): Uint8Array {
  const writer = new ByteWriter();
  parquetWrite({
    writer,
    schema: LAKE_SCHEMA,
    columnData: LAKE_COLUMNS.map((name) => ({ name, data: list.map((r) => r[name] ?? null) as unknown[], columnIndex: name === "created_at" || name === "kafka_offset" })) as never,
    codec: "SNAPPY",
    statistics: true,
    rowGroupSize: 131_072,
    pageSize: 256 * 1024,
  });
  return writer.getBytes();
}

function fromRows(list: readonly LakeRow[]): Uint8Array {
  const columns = new LakeColumns();
  for (const row of list) columns.appendRow(row);
  return encodeLakeGroups([columns]).bytes;
}

function fromFacts(): Uint8Array {
  const columns = new LakeColumns();
  records.forEach((r, offset) => {
    const v = validateLakeRecord(r.value, 0, r.value.length);
    if (v.ok && "orderIdStart" in v.event) columns.appendFacts(r.value, v.event as never, v.eventTimeMs, offset % 12, offset, r.emittedAtMs);
  });
  return encodeLakeGroups([columns]).bytes;
}

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-bench-encoders-"));
const duck = await (await DuckDBInstance.create(":memory:")).connect();
await duck.run(`CREATE TABLE orders (
  event_id VARCHAR NOT NULL, order_id VARCHAR NOT NULL, user_id VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL,
  currency VARCHAR NOT NULL, total_minor BIGINT NOT NULL, discount_minor BIGINT NOT NULL, total_usd_cents BIGINT NOT NULL,
  country VARCHAR NOT NULL, payment_method VARCHAR NOT NULL, channel VARCHAR NOT NULL, status VARCHAR NOT NULL, item_count INTEGER NOT NULL,
  items STRUCT(sku VARCHAR, category VARCHAR, qty INTEGER, unit_price_minor BIGINT)[] NOT NULL,
  schema_version INTEGER NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset BIGINT NOT NULL, kafka_timestamp TIMESTAMPTZ)`);
let duckRun = 0;
async function duckdb(list: readonly LakeRow[]): Promise<Uint8Array> {
  await duck.run("DELETE FROM orders");
  const appender = await duck.createAppender("orders");
  for (const r of list) {
    appender.appendVarchar(r.event_id);
    appender.appendVarchar(r.order_id);
    appender.appendVarchar(r.user_id);
    appender.appendTimestampTZ(timestampTZValue(BigInt(r.created_at.getTime()) * 1000n));
    appender.appendVarchar(r.currency);
    appender.appendBigInt(r.total_minor);
    appender.appendBigInt(r.discount_minor);
    appender.appendBigInt(r.total_usd_cents);
    appender.appendVarchar(r.country);
    appender.appendVarchar(r.payment_method);
    appender.appendVarchar(r.channel);
    appender.appendVarchar(r.status);
    appender.appendInteger(r.item_count);
    appender.appendValue(listValue(r.items.map((i) => structValue({ sku: i.sku, category: i.category, qty: i.qty, unit_price_minor: i.unit_price_minor }))));
    appender.appendInteger(r.schema_version);
    appender.appendInteger(r.kafka_partition);
    appender.appendBigInt(r.kafka_offset);
    if (r.kafka_timestamp) appender.appendTimestampTZ(timestampTZValue(BigInt(r.kafka_timestamp.getTime()) * 1000n));
    else appender.appendNull();
    appender.endRow();
  }
  appender.closeSync();
  const path = join(scratch, `duck-${duckRun++}.parquet`);
  await duck.run(`COPY orders TO '${path}' (FORMAT parquet, COMPRESSION snappy)`);
  return new Uint8Array(readFileSync(path));
}

const engines: [string, () => Uint8Array | Promise<Uint8Array>][] = [
  ["hyparquet-writer 0.17 (the lake's before issue 20), from rows", () => hyparquetWriter(rows)],
  ["orderpulse lake encoder, from rows", () => fromRows(rows)],
  ["orderpulse lake encoder, from the validator's byte ranges (incl. validation)", fromFacts],
  ["DuckDB 1.5 appender + COPY TO parquet, from rows", () => duckdb(rows)],
];

console.log(`${rows.length.toLocaleString("en-US")} rows (one hour, 12 partitions), best of ${runs} runs; ${cpus().length} cores (${cpus()[0]?.model ?? "?"})`);
console.log("| engine | events/s | bytes/event | RSS growth | reads back equal |");
console.log("| --- | ---: | ---: | ---: | --- |");
try {
  for (const [name, encode] of engines) {
    Bun.gc(true);
    const rssBefore = process.memoryUsage.rss();
    let best = Number.POSITIVE_INFINITY;
    let bytes: Uint8Array = new Uint8Array();
    let peak = rssBefore;
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      bytes = await encode();
      best = Math.min(best, performance.now() - start);
      peak = Math.max(peak, process.memoryUsage.rss());
    }
    const back = await decodeLakeFile(bytes);
    const same = back.length === rows.length && back.every((r, i) => Bun.deepEquals(r, rows[i]));
    const sameSet = same || (back.length === rows.length && new Set(back.map((r) => `${r.kafka_offset}`)).size === rows.length);
    console.log(`| ${name} | ${Math.round(rows.length / (best / 1000)).toLocaleString("en-US")} | ${(bytes.length / rows.length).toFixed(1)} | ${Math.round((peak - rssBefore) / 1e6)} MB | ${same ? "yes" : sameSet ? "same rows, other order" : "NO"} |`);
  }
} finally {
  duck.closeSync();
  rmSync(scratch, { recursive: true, force: true });
}
