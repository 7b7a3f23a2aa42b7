/**
 * `bun run scripts/influxdb2/check-tokens.ts`: the compose stack's InfluxDB credentials against a
 * real InfluxDB 2.7.12 (built by scripts/influxdb2/build.sh; no Docker here). It starts influxd,
 * sets it up as the image's entrypoint does with secrets from infra/make-secrets.sh, runs
 * infra/influxdb/ensure-tokens.sh with influxdb-init's environment from infra/compose.yaml (paths
 * moved to a scratch directory), then checks what each token may do:
 *
 *   - the writer's token: the aggregator's InfluxDB sink (lib/hot/influx-sink.ts) writes window
 *     results with it, read from its file as INFLUX_TOKEN_FILE; it cannot query, nor write elsewhere;
 *   - the reader's token: every query of the provisioned dashboard, expanded as Grafana expands
 *     it, runs with it over InfluxQL and the revenue comes back; it cannot write;
 *   - a second run keeps both tokens; a lost token file gets a new token and the old one is deleted.
 *
 * Prints one line per check; exits 1 if any failed. Not part of `bun run test` (the build takes
 * about 6 minutes); run it after changing infra/influxdb/ or the datasource.
 */
import { mkdtempSync, readFileSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { dashboardVariables, expandInfluxqlMacros, listPanelQueries } from "../../lib/hot/grafana-influxql.ts";
import { influxTarget } from "../../lib/hot/influx-config.ts";
import { queryInfluxql, seriesRows } from "../../lib/hot/influxql-client.ts";
import { InfluxSink, type InfluxTarget } from "../../lib/hot/influx-sink.ts";
import { freePort } from "../../lib/kafka/local-broker.ts";
import { interpolateAll, parseDotEnv } from "../../test/support/compose-file.ts";

const repoRoot = resolve(import.meta.dirname, "..", "..");
if (Bun.argv.includes("--help") || Bun.argv.includes("-h")) {
  console.log(`Usage: bun run scripts/influxdb2/check-tokens.ts

Checks the compose stack's InfluxDB tokens (infra/influxdb/ensure-tokens.sh) against a real
InfluxDB 2.7.12. Builds it first if missing (bash scripts/influxdb2/build.sh, about 6 minutes);
INFLUXDB2_DIR points at another build (a directory with bin/influxd and bin/influx).`);
  process.exit(0);
}

const dir = process.env.INFLUXDB2_DIR ?? (Bun.spawnSync(["bash", join(repoRoot, "scripts/influxdb2/build.sh")], { stderr: "inherit" }).stdout.toString().trim());
const bin = join(dir, "bin");
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-influx-tokens-"));
const failures: string[] = [];
function check(what: string, ok: boolean, detail = ""): void {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}${detail ? `: ${detail}` : ""}`);
  if (!ok) failures.push(what);
}

// influxdb-init's environment as compose gives it, with .env.example's values.
const compose = interpolateAll(
  Bun.YAML.parse(readFileSync(join(repoRoot, "infra/compose.yaml"), "utf8")) as { services: Record<string, { environment: Record<string, string> }> },
  Object.fromEntries(parseDotEnv(readFileSync(join(repoRoot, ".env.example"), "utf8"))),
);
const initEnv = Object.fromEntries(Object.entries(compose.services["influxdb-init"]!.environment).map(([k, v]) => [k, String(v)]));
const org = initEnv.INFLUX_ORG!;
const bucket = initEnv.INFLUX_BUCKET!;

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const server = Bun.spawn(
  [join(bin, "influxd"), "--bolt-path", join(scratch, "bolt"), "--engine-path", join(scratch, "engine"), "--http-bind-address", `127.0.0.1:${port}`, "--reporting-disabled"],
  { stdout: Bun.file(join(scratch, "influxd.log")), stderr: "inherit" },
);
try {
  for (const deadline = Date.now() + 60_000; ; await Bun.sleep(200)) {
    if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) break;
    if (Date.now() > deadline) throw new Error(`influxd did not answer on ${url}; see ${join(scratch, "influxd.log")}`);
  }
  const secrets = join(scratch, "secrets");
  if (Bun.spawnSync(["sh", join(repoRoot, "infra/make-secrets.sh"), secrets]).exitCode !== 0) throw new Error("infra/make-secrets.sh failed");
  const adminToken = readFileSync(join(secrets, "influx_admin_token"), "utf8");
  const cliEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}`, INFLUX_CONFIGS_PATH: join(scratch, "influx-configs") };
  // What the image's entrypoint runs on first start (DOCKER_INFLUXDB_INIT_*).
  const setup = Bun.spawnSync(
    ["influx", "setup", "--host", url, "--force", "--username", "admin", "--password", readFileSync(join(secrets, "influx_admin_password"), "utf8"), "--org", org, "--bucket", bucket, "--retention", "30d", "--token", adminToken],
    { env: cliEnv },
  );
  if (setup.exitCode !== 0) throw new Error(`influx setup failed: ${setup.stderr}`);

  const tokenEnv = {
    ...cliEnv,
    ...initEnv,
    INFLUX_HOST: url,
    INFLUX_ADMIN_TOKEN_FILE: join(secrets, "influx_admin_token"),
    WRITER_TOKEN_DIR: join(scratch, "writer"),
    READER_TOKEN_DIR: join(scratch, "reader"),
  };
  const ensureTokens = () => {
    const run = Bun.spawnSync(["bash", join(repoRoot, "infra/influxdb/ensure-tokens.sh")], { env: tokenEnv });
    return { code: run.exitCode, out: `${run.stdout}${run.stderr}`.trim() };
  };
  const first = ensureTokens();
  check("ensure-tokens.sh makes both tokens", first.code === 0 && /made the writer token/.test(first.out) && /made the reader token/.test(first.out), first.out.replaceAll("\n", " | "));
  const writerFile = join(tokenEnv.WRITER_TOKEN_DIR, "token");
  const readerFile = join(tokenEnv.READER_TOKEN_DIR, "token");

  // The aggregator: its settings as compose gives them, the token read from INFLUX_TOKEN_FILE.
  const writer = influxTarget(
    { INFLUX_URL: url, INFLUX_API: "v2", INFLUX_ORG: org, INFLUX_BUCKET: bucket, INFLUX_TOKEN: "", INFLUX_TOKEN_FILE: writerFile, INFLUX_DB: "", INFLUX_RP: "", INFLUX_USER: "", INFLUX_PASSWORD: "", INFLUX_PASSWORD_FILE: "" },
    (path) => readFileSync(path, "utf8"),
  )!;
  const startMs = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
  const windows = [0, 1, 2].map((i) => ({
    partition: i,
    windowStartMs: startMs + i * 60_000,
    windowEndMs: startMs + (i + 1) * 60_000,
    orders: 10 + i,
    revenueUsdCents: 123_456n + BigInt(i),
    items: 20,
    customers: 7,
    byCategory: { books: { orders: 10 + i, revenueUsdCents: 123_456n + BigInt(i), items: 20 } },
    byCountry: { DE: { orders: 10 + i, revenueUsdCents: 123_456n + BigInt(i), items: 20 } },
    final: true,
    emittedAtMs: Date.now(),
  }));
  const sink = new InfluxSink(writer, { window: "1m", maxRetryDelayMs: 200 });
  await sink.write(windows);
  const flushed = await Promise.race([sink.flush().then(() => "written", (e: Error) => e.message), Bun.sleep(15_000).then(() => "no answer in 15 s")]);
  await sink.close();
  check("the aggregator's sink writes window results with the writer's token", flushed === "written", flushed);

  const reader: InfluxTarget = { api: "v2", url, org, bucket, token: readFileSync(readerFile, "utf8").trim() };
  const refused = (e: unknown) => (e as Error).message;
  const writerQuery = await queryInfluxql(writer, `SELECT * FROM "order_window"`).then(() => "answered", refused);
  check("the writer's token cannot query", writerQuery !== "answered", writerQuery);

  // Grafana: every dashboard query, expanded as Grafana does, over the last hour.
  const dashboard = JSON.parse(readFileSync(join(repoRoot, "infra/grafana/dashboards/orderpulse.json"), "utf8"));
  const range = { fromMs: Date.now() - 3_600_000, toMs: Date.now() };
  const errors: string[] = [];
  for (const panel of listPanelQueries(dashboard)) {
    const query = expandInfluxqlMacros(panel.query, { ...range, intervalMs: 60_000, variables: dashboardVariables(dashboard) });
    try {
      await queryInfluxql(reader, query);
    } catch (error) {
      errors.push(`${panel.title}: ${(error as Error).message}`);
    }
  }
  check(`the reader's token runs all ${listPanelQueries(dashboard).length} dashboard queries`, errors.length === 0, errors.join("; "));
  const sum = seriesRows(await queryInfluxql(reader, `SELECT sum("revenue_cents") FROM "order_window" WHERE time >= ${startMs}ms`).catch(() => []));
  check("and reads back the revenue the aggregator wrote", String(sum[0]?.sum) === String(3n * 123_456n + 3n), `sum = ${sum[0]?.sum}`);

  const write = (token: string, b: string) =>
    fetch(`${url}/api/v2/write?org=${org}&bucket=${b}&precision=s`, { method: "POST", headers: { Authorization: `Token ${token}` }, body: "x v=1 1764720000" }).then((r) => r.status);
  const readerWrite = await write(reader.token, bucket);
  check("the reader's token cannot write", readerWrite === 401 || readerWrite === 403 || readerWrite === 404, `HTTP ${readerWrite}`);
  Bun.spawnSync(["influx", "bucket", "create", "--host", url, "--token", adminToken, "--org", org, "--name", "other"], { env: cliEnv });
  const elsewhere = await write(readFileSync(writerFile, "utf8"), "other");
  check("the writer's token cannot write to another bucket", elsewhere === 401 || elsewhere === 403 || elsewhere === 404, `HTTP ${elsewhere}`);

  const writerToken = readFileSync(writerFile, "utf8");
  const readerToken = readFileSync(readerFile, "utf8");
  const second = ensureTokens();
  check(
    "a second run keeps both tokens",
    second.code === 0 && /kept the writer token/.test(second.out) && /kept the reader token/.test(second.out) && readFileSync(writerFile, "utf8") === writerToken && readFileSync(readerFile, "utf8") === readerToken,
    second.out.replaceAll("\n", " | "),
  );
  unlinkSync(writerFile);
  const third = ensureTokens();
  const oldStillWrites = await write(writerToken, bucket);
  check(
    "a lost token file gets a new token, and the old token is deleted",
    third.code === 0 && /made the writer token/.test(third.out) && /deleted the writer token it replaces/.test(third.out) && readFileSync(writerFile, "utf8") !== writerToken && oldStillWrites === 401,
    `${third.out.replaceAll("\n", " | ")}; the old token now gets HTTP ${oldStillWrites}`,
  );
  check("the reader's token was kept", readFileSync(readerFile, "utf8") === readerToken && /kept the reader token/.test(third.out));
} finally {
  server.kill();
  await server.exited;
  rmSync(scratch, { recursive: true, force: true });
}
console.log(failures.length === 0 ? "all checks passed" : `${failures.length} failed`);
process.exit(failures.length === 0 ? 0 : 1);
