/**
 * The README's first command, as written: `bun run pipeline` starts a broker, the producer and
 * the aggregator, shows the live window table, and stops everything on Ctrl-C (SIGINT to its
 * process group, as a terminal sends it).
 */
import { afterAll, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../lib/kafka/local-broker.ts";
import { repoRoot } from "./support/pipeline-harness.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-pipeline-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

test("bun run pipeline shows the live window table and stops cleanly on Ctrl-C", async () => {
  const port = await freePort();
  const env: Record<string, string | undefined> = {
    ...process.env,
    KAFKA_PORT: String(port),
    KAFKA_DATA_DIR: join(scratch, "kafka"),
    CHECKPOINT_DIR: join(scratch, "checkpoints"),
    // The lake too: its offsets belong to this run's fresh broker. A lake left in data/ by an
    // earlier run points past this broker's log ends, and the lake writer refuses it.
    LAKE_URI: join(scratch, "lake"),
  };
  delete env.KAFKA_BROKERS; // the pipeline starts its own broker when none is given
  delete env.INFLUX_URL;
  const child = spawn("bun", ["run", "pipeline", "--rate", "50"], { cwd: repoRoot, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  const deadline = Date.now() + 90_000;
  while (!/window start \(UTC\)[\s\S]*\n\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d\d:\d\d:\d\d\s+\d+/.test(stdout)) {
    if (Date.now() > deadline) throw new Error(`no window table within 90 s.\nstdout:\n${stdout.slice(-2000)}\nstderr:\n${stderr.slice(-3000)}`);
    if (child.exitCode !== null) throw new Error(`the pipeline exited early (${child.exitCode}):\n${stderr.slice(-3000)}`);
    await Bun.sleep(100);
  }
  expect(stderr).toContain(`Kafka at 127.0.0.1:${port}`);
  expect(stderr).toContain("hot path: the console only (set INFLUX_URL");
  expect(await portOpen(port)).toBe(true);

  process.kill(-child.pid!, "SIGINT");
  expect(await exited).toBe(0);
  expect(stderr).toMatch(/\[produce\][\s\S]*sent/);
  expect(stderr).toContain("[aggregate] stopped;");
  expect(stderr).toContain("[pipeline] stopped");
  expect(await portOpen(port)).toBe(false);
}, 150_000);
