/**
 * Every worker's command line, as a person meets it: `--version` prints the project's version and
 * exits 0; an unknown flag or a flag with a bad value exits 2 with a line naming it and the
 * --help hint, before the worker connects to anything.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import { repoRoot } from "./support/pipeline-harness.ts";

const WORKERS = readdirSync(join(repoRoot, "workers")).filter((f) => f.endsWith(".ts")).sort();

/** A flag of each worker given a value it refuses. */
const BAD_VALUE: Record<string, [string, string]> = {
  "aggregate.ts": ["--metrics-port", "99999"],
  "compact.ts": ["--target-size", "huge"],
  "kafka.ts": ["--port", "0"],
  "lake-writer.ts": ["--flush-rows", "none"],
  "pipeline.ts": ["--rate", "fast"],
  "produce.ts": ["--late-fraction", "1.5"],
  "tail.ts": ["--shutdown-timeout", "soon"],
};

async function run(script: string, args: string[]) {
  // No broker answers here: a worker that got past its command line would wait, and time out the test.
  const child = Bun.spawn([process.execPath, "run", join("workers", script), ...args], {
    cwd: repoRoot,
    env: { ...process.env, KAFKA_BROKERS: "127.0.0.1:1", NO_COLOR: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stdout, stderr] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  return { code, stdout, stderr };
}

test("the workers are the ones this test knows", () => {
  expect(WORKERS).toEqual([...Object.keys(BAD_VALUE), "healthcheck.ts"].sort());
});

test("every worker answers --version with the project's version, exit 0", async () => {
  const runs = await Promise.all(WORKERS.map((w) => run(w, ["--version"])));
  runs.forEach((r, i) => {
    expect({ worker: WORKERS[i], code: r.code, stdout: r.stdout.replace(/\(Bun [^)]+\)/, "(Bun)") }).toEqual({
      worker: WORKERS[i],
      code: 0,
      stdout: `orderpulse ${packageJson.version} (Bun)\n`,
    });
  });
}, 60_000);

test("every worker but the health check exits 2 with the --help hint on an unknown flag", async () => {
  const workers = WORKERS.filter((w) => w !== "healthcheck.ts");
  const runs = await Promise.all(workers.map((w) => run(w, ["--no-such-flag"])));
  runs.forEach((r, i) => {
    expect({ worker: workers[i], code: r.code, hint: r.stderr.includes("Run with --help to see the options.") }).toEqual({ worker: workers[i], code: 2, hint: true });
  });
}, 60_000);

test("every worker but the health check exits 2, naming the flag, with the --help hint, on a bad flag value", async () => {
  const workers = Object.keys(BAD_VALUE);
  const runs = await Promise.all(workers.map((w) => run(w, BAD_VALUE[w]!)));
  runs.forEach((r, i) => {
    const [flag] = BAD_VALUE[workers[i]!]!;
    expect({ worker: workers[i], code: r.code, names: r.stderr.includes(flag), hint: r.stderr.includes("Run with --help to see the options.") }).toEqual({
      worker: workers[i],
      code: 2,
      names: true,
      hint: true,
    });
  });
}, 60_000);

test("bun run pipeline --help names every process the pipeline starts", async () => {
  const source = readFileSync(join(repoRoot, "workers", "pipeline.ts"), "utf8");
  const started = [...source.matchAll(/script: "(workers\/[\w-]+\.ts)"/g)].map((m) => m[1]!);
  expect(started.length).toBeGreaterThanOrEqual(4);
  const { code, stdout } = await run("pipeline.ts", ["--help"]);
  expect(code).toBe(0);
  for (const script of started) expect({ script, named: stdout.includes(script) }).toEqual({ script, named: true });
  expect(stdout).toContain("a local Kafka broker");
}, 30_000);

test("LOG_FORMAT=json: every line a worker logs is one JSON object with time, level, worker and message", async () => {
  const child = Bun.spawn([process.execPath, "run", "workers/lake-writer.ts"], {
    cwd: repoRoot,
    // No broker answers: it logs that it waits, then a stop.
    env: { ...process.env, KAFKA_BROKERS: "127.0.0.1:1", LOG_FORMAT: "json", LAKE_URI: join(repoRoot, "data", "never-written") },
    stdout: "ignore",
    stderr: "pipe",
  });
  const reader = child.stderr.getReader();
  let text = "";
  while (!text.includes("\n")) text += new TextDecoder().decode((await reader.read()).value);
  child.kill("SIGTERM");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  await child.exited;
  const lines = text.trimEnd().split("\n");
  expect(lines.length).toBeGreaterThanOrEqual(2);
  for (const line of lines) {
    const entry = JSON.parse(line);
    expect({ line, keys: Object.keys(entry).slice(0, 4), time: !Number.isNaN(Date.parse(entry.time)) && entry.time.includes("T") }).toEqual({
      line,
      keys: ["time", "level", "worker", "message"],
      time: true,
    });
  }
  expect(JSON.parse(lines[0]!)).toMatchObject({ level: "info", worker: "lake-writer", message: "waiting for Kafka at 127.0.0.1:1" });
}, 30_000);

test("a LOG_FORMAT other than text or json stops a worker with exit 2, naming it", async () => {
  const child = Bun.spawn([process.execPath, "run", "workers/aggregate.ts"], { cwd: repoRoot, env: { ...process.env, LOG_FORMAT: "yaml" }, stdout: "ignore", stderr: "pipe" });
  const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
  expect({ code, stderr }).toEqual({ code: 2, stderr: 'error: invalid configuration:\n  LOG_FORMAT: expected text or json: got "yaml"\nFix the variables above (see --help for every setting and its default).\n' });
});
