/**
 * The lake's Parquet files as other engines see them: a table written by the real lake writer
 * core and compactor (lib/, on the file system, from a simulated stream), its files as the Delta
 * log lists them read back with hyparquet, DuckDB (@duckdb/node-api, in this Bun process) and
 * pyarrow (.venv, from scripts/setup.sh): the same rows, the intended types, ZSTD pages (none
 * for a row group of a few rows), and DuckDB pruning by dt/hour. Delta readers of the whole
 * table (delta-rs, Polars, Spark) are test/delta-table.test.ts's.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { DuckDBInstance } from "@duckdb/node-api";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { LakeCompactor } from "../lib/lake/compactor.ts";
import { listHourFiles, vacuum } from "../lib/lake/delta-vacuum.ts";
import { readLake } from "../lib/lake/reader.ts";
import type { LakeRow } from "../lib/lake/schema.ts";
import { LakeWriter } from "../lib/lake/writer.ts";
import { Simulator } from "../lib/event/simulator.ts";
import { repoRoot } from "./support/pipeline-harness.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-lake-interop-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const HOUR = 3_600_000;

/** A lake of 5,000 records over two hours: writer files in one hour, a compacted file in the other. */
async function buildLake(root: string): Promise<{ store: FileLakeStore; rows: LakeRow[]; files: string[] }> {
  const store = new FileLakeStore(root);
  const nowMs = Date.now();
  const boundary = Math.floor((nowMs - 3 * HOUR) / HOUR) * HOUR;
  const writer = new LakeWriter(store, { topic: "orders", clock: { now: () => nowMs } });
  await writer.assign([0, 1]);
  writer.startAt(0, 0n);
  writer.startAt(1, 0n);
  const sim = new Simulator({ seed: 5, startMs: boundary - 40_000, ratePerS: 40, malformedFraction: 0.02 });
  const offsets = [0n, 0n];
  for (let i = 0; i < 5_000; i++) {
    const record = sim.next();
    const partition = i % 2;
    writer.add(partition, offsets[partition]!++, record.value, record.emittedAtMs);
    if (i % 500 === 499) await writer.flush();
  }
  await writer.flush();
  // Compact the earlier hour only: both kinds of file are then in the table.
  const compactor = new LakeCompactor(store, { clock: { now: () => boundary + 60_000 }, closeAfterMs: 0, targetBytes: 64 * 1024 * 1024 });
  const summary = await compactor.runOnce();
  expect(summary.compactions).toBe(1);
  // The compaction's inputs stay in storage for older versions' readers until vacuum: then a glob reads what the table holds.
  await vacuum(store, { nowMs: Date.now() + 1_000, retentionMs: 0, allowShortRetention: true });
  const { files, rows } = await readLake(store);
  expect((await listHourFiles(store)).sort()).toEqual(files);
  return { store, rows, files };
}

/** A row in one plain form every reader's output is mapped to: int64 as decimal strings, time as epoch ms. */
function plainRow(r: LakeRow): Record<string, unknown> {
  return {
    ...r,
    created_at: r.created_at.getTime(),
    kafka_timestamp: r.kafka_timestamp?.getTime() ?? null,
    total_minor: String(r.total_minor),
    discount_minor: String(r.discount_minor),
    total_usd_cents: String(r.total_usd_cents),
    kafka_offset: String(r.kafka_offset),
    item_count: String(r.item_count),
    schema_version: String(r.schema_version),
    kafka_partition: String(r.kafka_partition),
    items: r.items.map((i) => ({ ...i, qty: String(i.qty), unit_price_minor: String(i.unit_price_minor) })),
  };
}

const byLineage = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  Number(a.kafka_partition) - Number(b.kafka_partition) || Number(BigInt(a.kafka_offset as string) - BigInt(b.kafka_offset as string));

/**
 * How docs/lake.md tells readers to open the lake in DuckDB. Without hive_types, DuckDB infers
 * `hour` from the values: VARCHAR when one is zero-padded ("07"), BIGINT when all are 10–23, so a
 * lake of afternoon hours would read differently from one of morning hours.
 */
const HIVE = "hive_partitioning = true, hive_types = {'dt': DATE, 'hour': VARCHAR}";

describe("lake files in other engines", () => {
  const root = join(scratch, "lake");
  const built = buildLake(root);

  test("hyparquet reads the rows with the intended JavaScript types", async () => {
    const { rows } = await built;
    expect(rows.length).toBeGreaterThan(4_800);
    const r = rows[0]!;
    expect([typeof r.event_id, r.created_at instanceof Date, typeof r.total_minor, typeof r.item_count, typeof r.items[0]!.unit_price_minor, typeof r.kafka_offset, r.kafka_timestamp instanceof Date])
      .toEqual(["string", true, "bigint", "number", "bigint", "bigint", true]);
  });

  test("DuckDB reads the same rows, as TIMESTAMPTZ, BIGINT, VARCHAR and a list of structs, with Hive columns", async () => {
    const { rows, files } = await built;
    const db = await DuckDBInstance.create(":memory:");
    const c = await db.connect();
    const list = `[${files.map((f) => `'${join(root, f)}'`).join(", ")}]`;
    const reader = await c.runAndReadAll(`SELECT * FROM read_parquet(${list}, ${HIVE}) LIMIT 0`);
    const types = Object.fromEntries(reader.columnNames().map((n, i) => [n, String(reader.columnTypes()[i])]));
    expect(types).toEqual({
      event_id: "VARCHAR", order_id: "VARCHAR", user_id: "VARCHAR", created_at: "TIMESTAMP WITH TIME ZONE", currency: "VARCHAR",
      total_minor: "BIGINT", discount_minor: "BIGINT", total_usd_cents: "BIGINT", country: "VARCHAR", payment_method: "VARCHAR",
      channel: "VARCHAR", status: "VARCHAR", item_count: "INTEGER",
      items: 'STRUCT("sku" VARCHAR, "category" VARCHAR, "qty" INTEGER, "unit_price_minor" BIGINT)[]',
      schema_version: "INTEGER", kafka_partition: "INTEGER", kafka_offset: "BIGINT", kafka_timestamp: "TIMESTAMP WITH TIME ZONE", dt: "DATE", hour: "VARCHAR",
    });
    const result = await c.runAndReadAll(
      `SELECT * EXCLUDE (created_at, kafka_timestamp, dt, hour), epoch_ms(created_at) AS created_at, epoch_ms(kafka_timestamp) AS kafka_timestamp FROM read_parquet(${list}, ${HIVE})`,
    );
    const duck: Record<string, unknown>[] = (result.getRowObjectsJson() as Record<string, unknown>[]).map((r) => ({
      ...r,
      created_at: Number(r.created_at),
      kafka_timestamp: Number(r.kafka_timestamp),
      items: (r.items as Record<string, unknown>[]).map((i) => ({ ...i, qty: String(i.qty) })),
      item_count: String(r.item_count),
      schema_version: String(r.schema_version),
      kafka_partition: String(r.kafka_partition),
    }));
    expect(duck.sort(byLineage)).toEqual(rows.map(plainRow).sort(byLineage));
    const sums = await c.runAndReadAll(`SELECT sum(total_usd_cents)::VARCHAR AS usd, count(*) AS n FROM read_parquet(${list})`);
    expect(sums.getRowObjectsJson()).toEqual([{ usd: String(rows.reduce((s, r) => s + r.total_usd_cents, 0n)), n: String(rows.length) }]);
  });

  test("DuckDB's read_parquet with hive_partitioning prunes by dt and hour: files of other hours are never opened", async () => {
    const { rows, files } = await built;
    // A file no engine can read, in an hour the query excludes: reading it would fail the query. It sorts last,
    // so DuckDB does not open it to learn the schema (it reads the first file for that).
    const decoy = join(root, "dt=2999-12-31", "hour=00");
    mkdirSync(decoy, { recursive: true });
    writeFileSync(join(decoy, "not-parquet.parquet"), "this is not a Parquet file");
    try {
      const [dtPart, hourPart] = files[0]!.split("/");
      const dt = dtPart!.slice(3);
      const hour = hourPart!.slice(5);
      const db = await DuckDBInstance.create(":memory:");
      const c = await db.connect();
      const glob = `'${root}/dt=*/hour=*/*.parquet'`; // not **: _delta_log/ holds Parquet checkpoints
      const pruned = await c.runAndReadAll(`SELECT count(*) AS n FROM read_parquet(${glob}, ${HIVE}) WHERE dt = DATE '${dt}' AND hour = '${hour}'`);
      const expected = rows.filter((r) => r.created_at.toISOString().slice(0, 13) === `${dt}T${hour}`).length;
      expect(pruned.getRowObjectsJson()).toEqual([{ n: String(expected) }]);
      await expect(c.runAndReadAll(`SELECT count(*) FROM read_parquet(${glob}, ${HIVE})`)).rejects.toThrow(/not-parquet/);
    } finally {
      rmSync(join(root, "dt=2999-12-31"), { recursive: true, force: true });
    }
  });

  test("pyarrow reads the same rows with timestamp[ms, tz=UTC], int64 and list<struct>, and every footer names ZSTD (or, for a row group of a few rows, UNCOMPRESSED)", async () => {
    const { rows, files } = await built;
    const python = join(repoRoot, ".venv", "bin", "python");
    if (!existsSync(python)) throw new Error(`${python} is missing: run \`bash scripts/setup.sh\` (it creates the venv with pyarrow)`);
    const child = Bun.spawn([python, join(repoRoot, "test", "support", "read_lake.py"), root, ...files], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    if (code !== 0) throw new Error(`read_lake.py failed (${code}): ${err}`);
    const got = JSON.parse(out) as { schema: Record<string, string>; footers: { codecs: string[]; createdAtStats: boolean }[]; rows: Record<string, unknown>[] };
    expect(got.schema).toEqual({
      event_id: "string", order_id: "string", user_id: "string", created_at: "timestamp[ms, tz=UTC]", currency: "string",
      total_minor: "int64", discount_minor: "int64", total_usd_cents: "int64", country: "string", payment_method: "string",
      channel: "string", status: "string", item_count: "int32",
      items: "list<element: struct<sku: string not null, category: string not null, qty: int32 not null, unit_price_minor: int64 not null> not null>",
      schema_version: "int32", kafka_partition: "int32", kafka_offset: "int64", kafka_timestamp: "timestamp[ms, tz=UTC]", dt: "string", hour: "int32",
    });
    // ZSTD, or UNCOMPRESSED for a row group of a few rows (lib/lake/lake-encoder.ts).
    expect(got.footers.every((f) => f.codecs.length > 0 && f.codecs.every((c) => c === "ZSTD" || c === "UNCOMPRESSED") && f.createdAtStats)).toBe(true);
    expect(got.footers.some((f) => f.codecs[0] === "ZSTD")).toBe(true);
    const arrow = got.rows.map(({ dt: _dt, hour: _hour, ...r }) => r);
    expect(arrow.sort(byLineage)).toEqual(rows.map(plainRow).sort(byLineage));
  });
});
