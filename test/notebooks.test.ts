/**
 * The notebooks, executed headlessly on what the real pipeline wrote during this test: a seeded
 * stream (late events, duplicates, malformed records) into a real Kafka topic, the aggregator
 * writing its windows to InfluxDB 1.6.7 and the lake writer writing the lake's Delta table to a
 * real S3 server (moto), both as real worker processes. The lake analytics notebook reads the
 * table from S3 (LAKE_URI=s3://…, under Deno), the reconciliation notebook from a local copy of
 * it (LAKE_URI a directory). Each notebook runs in the Deno Jupyter kernel through
 * notebooks/run_notebook.py (nbclient, reading outputs a little past idle — see there), and the
 * saved outputs are checked against figures computed here from the topic itself: the validator
 * and the test oracle, not the lake code the notebooks use.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queryInfluxql } from "../lib/hot/influxql-client.ts";
import { DEFAULT_AGGREGATOR_SETTINGS } from "../lib/window/partition-aggregator.ts";
import { FileLakeStore } from "../lib/lake/file-store.ts";
import { validateLakeEvent } from "../lib/lake/schema.ts";
import type { LakeStore } from "../lib/lake/store.ts";
import { testConnection, uniqueTopic } from "./support/broker.ts";
import { oracleForTopic, produceSimulated, readTopic, repoRoot, startWorker } from "./support/pipeline-harness.ts";
import { s3ServerForSuite } from "./support/s3-server.ts";
import { localLake, s3Lake } from "./support/test-lakes.ts";
import { InfluxDb1 } from "./support/timeseries.ts";

const NOTEBOOKS = ["lake-analytics", "hot-cold-reconciliation"] as const;
type NotebookName = (typeof NOTEBOOKS)[number];

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
  ename?: string;
  evalue?: string;
}
interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: Output[];
  execution_count?: number | null;
}
interface Notebook {
  cells: Cell[];
  metadata: Record<string, unknown>;
}

const joined = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join("") : (v ?? ""));
const readNotebook = (path: string) => JSON.parse(readFileSync(path, "utf8")) as Notebook;

test("committed notebooks carry no outputs and no execution counts", () => {
  const files = readdirSync(join(repoRoot, "notebooks")).filter((f) => f.endsWith(".ipynb"));
  expect(files.sort()).toEqual(NOTEBOOKS.map((n) => `${n}.ipynb`).sort());
  for (const file of files) {
    const notebook = readNotebook(join(repoRoot, "notebooks", file));
    const dirty = notebook.cells
      .map((c, i) => ({ i, outputs: c.outputs?.length ?? 0, count: c.execution_count ?? null }))
      .filter((c) => c.outputs > 0 || c.count !== null);
    expect({ file, dirty }).toEqual({ file, dirty: [] });
    expect({ file, kernel: (notebook.metadata.kernelspec as { name?: string })?.name }).toEqual({ file, kernel: "deno" });
  }
});

test("no notebook holds a credential-looking value", () => {
  for (const name of NOTEBOOKS) {
    const text = readFileSync(join(repoRoot, "notebooks", `${name}.ipynb`), "utf8");
    expect({ name, found: text.match(/(INFLUX_(TOKEN|PASSWORD)\s*=|Authorization|Token [A-Za-z0-9]|https?:\/\/[^/\s"]*@)/g) ?? [] }).toEqual({ name, found: [] });
  }
});

const s3 = s3ServerForSuite("notebooks");
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-notebooks-test-"));
const copyDir = join(scratch, "lake-copy", "orders");

/** Copies every object of `from` to `to`, directory by directory. */
async function copyLake(from: LakeStore, to: LakeStore, dir = ""): Promise<number> {
  let copied = 0;
  for (const name of await from.list(dir)) {
    const path = dir === "" ? name : `${dir}/${name}`;
    const bytes = await from.read(path);
    if (bytes === undefined) copied += await copyLake(from, to, path);
    else (await to.writeAtomic(path, bytes), (copied += 1));
  }
  return copied;
}
const influx = new InfluxDb1();
const DB = "notebooks";
const executed = new Map<NotebookName, Notebook>();
const expected = { orders: 0, revenueCents: 0, late: 0, counted: 0, duplicates: 0, countries: 0, customers: 0, windows: 0 };

beforeAll(async () => {
  await influx.start();
  await influx.query(`CREATE DATABASE ${DB}`);
  const topic = await uniqueTopic("notebooks", 3);
  const conn = await testConnection("notebooks");
  // A backlog spanning about four hours of event time, produced before the workers start, so no
  // partition goes idle mid-stream (an idle advance is the one thing the lake cannot replay). It
  // ends well before now, so the aggregator's idle advance at the end closes every window: a
  // window still open when it exits is not final in InfluxDB, and the notebook would rightly
  // report it.
  await produceSimulated(conn, topic, 6_000, {
    seed: 77,
    startMs: Date.now() - 6 * 3_600_000,
    ratePerS: 0.3,
    // A steady rate: 6,000 events span 5.6 hours of stream time and end before now, whatever the
    // hour. With the daily curve (0.5x-1.5x) the stream ran up to 27 minutes past now at some hours
    // of the day, and the aggregator could not close those windows (found in a fresh-clone CI run).
    dailyCurve: false,
    lateFraction: 0.05,
    outOfOrderFraction: 0.2,
    duplicateFraction: 0.02,
    malformedFraction: 0.02,
  });
  const kafkaEnv = { KAFKA_BROKERS: conn.brokers.join(","), ORDERS_TOPIC: topic, DLQ_TOPIC: `${topic}.dlq`, LATE_TOPIC: `${topic}.late` };
  const aggregator = startWorker("workers/aggregate.ts", ["--sink", "influx", "--idle-timeout", "3s", "--exit-when-idle", "4s"], {
    ...kafkaEnv,
    CHECKPOINT_DIR: join(scratch, "checkpoints"),
    AGGREGATE_GROUP: "notebooks",
    INFLUX_URL: influx.url,
    INFLUX_API: "v1",
    INFLUX_DB: DB,
  });
  const lake = s3Lake(s3, "notebooks", "lake/orders");
  const lakeWriter = startWorker("workers/lake-writer.ts", ["--flush-interval", "1s", "--exit-when-idle", "3s"], {
    ...kafkaEnv,
    ...lake.env,
    LAKE_GROUP: "notebooks-lake",
  });
  const [aggregated, written] = await Promise.all([aggregator.exited, lakeWriter.exited]);
  expect({ aggregated, written, log: aggregated || written ? aggregator.log() + lakeWriter.log() : "" }).toEqual({ aggregated: 0, written: 0, log: "" });
  expect(await copyLake(lake.store, new FileLakeStore(copyDir))).toBeGreaterThan(1);
  const lakeEnv: Record<NotebookName, Record<string, string>> = { "lake-analytics": lake.env, "hot-cold-reconciliation": localLake(copyDir).env };

  // The figures the notebooks must show, from the topic: the lake's rule (every valid event, whatever its age) and the oracle.
  const records = await readTopic(conn, topic);
  const ids = new Set<string>();
  const countries = new Set<string>();
  const users = new Set<string>();
  for (const list of records.values()) {
    for (const r of list) {
      const v = validateLakeEvent(r.value);
      if (!v.ok || ids.has(v.event.event_id)) continue;
      ids.add(v.event.event_id);
      countries.add(v.event.country);
      users.add(v.event.user_id);
      expected.revenueCents += v.event.total_usd_cents;
    }
  }
  expected.orders = ids.size;
  expected.countries = countries.size;
  expected.customers = users.size;
  const windowStarts = new Set<number>();
  for (const p of oracleForTopic(records, DEFAULT_AGGREGATOR_SETTINGS)) {
    for (const w of p.windows) windowStarts.add(w.windowStartMs);
    expected.late += p.late;
    expected.counted += p.counted;
    expected.duplicates += p.duplicates;
  }
  expected.windows = windowStarts.size;

  const python = join(repoRoot, ".venv", "bin", "python");
  if (!existsSync(python)) throw new Error(`${python} is missing: run \`bash scripts/setup.sh\` (it installs notebooks/requirements.txt into .venv)`);
  const started = performance.now();
  await Promise.all(
    NOTEBOOKS.map(async (name) => {
      const out = join(scratch, `${name}.ipynb`);
      const child = Bun.spawn([python, join(repoRoot, "notebooks", "run_notebook.py"), join(repoRoot, "notebooks", `${name}.ipynb`), out, "--timeout", "120"], {
        cwd: repoRoot,
        env: { ...process.env, NO_COLOR: "1", ...lakeEnv[name], INFLUX_URL: influx.url, INFLUX_API: "v1", INFLUX_DB: DB, FROM: "", TO: "" },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
      if (code !== 0) throw new Error(`${name} failed (exit ${code}):\n${stderr.slice(-4000)}`);
      console.log(`[notebooks] ${/run_notebook: .*/.exec(stderr)?.[0] ?? name}`);
      executed.set(name, readNotebook(out));
    }),
  );
  console.log(`[notebooks] both notebooks executed in ${((performance.now() - started) / 1000).toFixed(1)} s (in parallel)`);
}, 180_000);

afterAll(async () => {
  await influx[Symbol.asyncDispose]();
  if (process.env.KEEP_NOTEBOOK_OUTPUTS) console.log(`[notebooks] outputs kept in ${scratch}`);
  else rmSync(scratch, { recursive: true, force: true });
});

/** Every stream and plain-text output of a notebook, in order. */
function textOf(notebook: Notebook): string {
  return notebook.cells
    .flatMap((c) => c.outputs ?? [])
    .map((o) => (o.output_type === "stream" ? joined(o.text) : joined(o.data?.["text/plain"])))
    .join("\n");
}

/** The value printed as `key: value` (the notebooks print their headline figures that way). */
function figure(notebook: Notebook, key: string): string | undefined {
  const m = new RegExp(`^${key}: (.*)$`, "m").exec(textOf(notebook));
  return m?.[1];
}

function expectCleanRun(notebook: Notebook) {
  const code = notebook.cells.filter((c) => c.cell_type === "code");
  expect(code.every((c) => typeof c.execution_count === "number")).toBe(true);
  const errors = code.flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === "error" || (o.output_type === "stream" && o.name === "stderr"));
  expect(errors).toEqual([]);
}

/** Every cell that calls plot() produced an SVG: image/svg+xml, or text/html holding an <svg>. */
function expectEveryPlotRendered(notebook: Notebook, atLeast: number) {
  const plotCells = notebook.cells.filter((c) => c.cell_type === "code" && /\bplot\(\{/.test(joined(c.source)));
  expect(plotCells.length).toBeGreaterThanOrEqual(atLeast);
  for (const cell of plotCells) {
    const svg = (cell.outputs ?? []).some((o) => {
      const svgData = joined(o.data?.["image/svg+xml"]);
      return svgData.startsWith("<svg") || joined(o.data?.["text/html"]).includes("<svg");
    });
    expect({ cell: joined(cell.source).slice(0, 60), svg }).toEqual({ cell: joined(cell.source).slice(0, 60), svg: true });
  }
}

test("the lake analytics notebook shows the stream's orders, revenue, customers, countries and late share", () => {
  const notebook = executed.get("lake-analytics")!;
  expectCleanRun(notebook);
  expect({
    orders: figure(notebook, "orders"),
    revenue: figure(notebook, "revenue_usd"),
    customers: figure(notebook, "customers"),
    countries: figure(notebook, "countries"),
    late: figure(notebook, "late_events"),
    duplicates: figure(notebook, "duplicate_events"),
    lateShare: figure(notebook, "late_share"),
  }).toEqual({
    orders: String(expected.orders),
    revenue: (expected.revenueCents / 100).toFixed(2),
    customers: String(expected.customers),
    countries: String(expected.countries),
    late: String(expected.late),
    duplicates: String(expected.duplicates),
    lateShare: (expected.late / (expected.late + expected.counted)).toFixed(6),
  });
  expect(expected.late).toBeGreaterThan(0);
  expect(textOf(notebook)).toMatch(/lake: s3:\/\/notebooks\/lake\/orders version \d+: /); // read from S3, under Deno
  expect(Number(figure(notebook, "hours"))).toBeGreaterThanOrEqual(3);
  expect(figure(notebook, "top_customer")).toMatch(/^\S+ \d+\.\d\d$/);
});

test("every plot cell of the lake analytics notebook rendered an SVG", () => {
  expectEveryPlotRendered(executed.get("lake-analytics")!, 8);
});

test("the reconciliation notebook finds zero differences between InfluxDB and the lake", async () => {
  const notebook = executed.get("hot-cold-reconciliation")!;
  expectCleanRun(notebook);
  // The hot side really has the windows: count them here, straight from InfluxDB.
  const [series] = await queryInfluxql({ api: "v1", url: influx.url, db: DB }, `SELECT count("orders") FROM "order_window"`);
  const storedPartitionWindows = series!.values[0]![1] as number;
  expect(storedPartitionWindows).toBeGreaterThan(100);
  expect({
    compared: figure(notebook, "windows compared"),
    withDifferences: figure(notebook, "windows with differences"),
    differences: figure(notebook, "differences"),
  }).toEqual({ compared: String(expected.windows), withDifferences: "0", differences: "0" });
  const compared = expected.windows;
  expect(textOf(notebook)).toContain(`Hot and cold agree: ${compared} windows, 0 differences.`);
  expect(textOf(notebook)).toContain(`cold: ${copyDir}`); // a local copy of the table
});

test("the reconciliation notebook's revenue plot shows both series", () => {
  const notebook = executed.get("hot-cold-reconciliation")!;
  expectEveryPlotRendered(notebook, 1);
  const html = notebook.cells.flatMap((c) => c.outputs ?? []).map((o) => joined(o.data?.["image/svg+xml"]) + joined(o.data?.["text/html"])).join("");
  expect(html).toContain("hot (InfluxDB)");
  expect(html).toContain("cold (lake)");
});
