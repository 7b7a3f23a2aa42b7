/**
 * The whole pipeline through faults (issue 10): producer → broker → aggregator (InfluxDB 1.6.7)
 * and lake writer (a Parquet lake on a small tmpfs) → compactor, all real processes, on a seeded
 * stream. Each scenario injects its faults, waits for the pipeline to catch up, lets it finish,
 * and then holds what is really there to the oracle (test/support/pipeline-under-test.ts):
 * nothing lost, nothing doubled, every window in InfluxDB final and equal to the oracle's, the
 * lake exactly the valid events, the DLQ exactly the invalid ones with a reason, no worker dead
 * unless killed, RSS bounded. One scenario per fault, then all of them in one run.
 *
 * The table (scenario | faults | lost | doubled | recovery) is printed and written to
 * test-results/reliability.md. It needs root for the tmpfs mount (CI runs as root).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalBroker } from "../lib/kafka/local-broker.ts";
import { isDiskFullError } from "../lib/runtime/durable-fs.ts";
import { sendMalformedBurst } from "./support/malformed-burst.ts";
import { PipelineUnderTest, randomPauses, type Role, ROLES, type StreamSpec, type Verdict } from "./support/pipeline-under-test.ts";
import { InfluxDb1 } from "./support/timeseries.ts";
import { repoRoot } from "./support/pipeline-harness.ts";

const BURST = 100_000;
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-reliability-"));
const lakeDisk = join(scratch, "lake-disk");
const broker = new LocalBroker({ onProgress: (line) => console.error(`[reliability broker] ${line}`) });
const influx = new InfluxDb1();
let mounted = false;

beforeAll(async () => {
  mkdirSync(lakeDisk, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=48m", "tmpfs", lakeDisk]);
  mounted = true;
  await Promise.all([broker.start(), influx.start()]);
}, 120_000);

interface Row {
  scenario: string;
  faults: string;
  verdict?: Verdict;
  recoveryMs?: number;
  error?: string;
}
const rows: Row[] = [];

afterAll(async () => {
  const table = formatTable(rows);
  console.log(`\n${table}`);
  mkdirSync(join(repoRoot, "test-results"), { recursive: true });
  writeFileSync(join(repoRoot, "test-results", "reliability.md"), `# Reliability suite (test/reliability.test.ts), ${new Date().toISOString()}\n\n${table}\n`);
  await Promise.all([broker.stop({ removeData: true }), influx[Symbol.asyncDispose]()]);
  if (mounted) execFileSync("umount", [lakeDisk]);
  rmSync(scratch, { recursive: true, force: true });
}, 120_000);

/** What a scenario did: its faults in words, and when the last of them ended (performance.now()). */
interface Injected {
  faults: string[];
  clearedAt: number;
}

/**
 * Runs one scenario on a fresh pipeline: start, inject, measure the catch-up, finish, verify.
 * The row goes into the table before the assertions, so a failing scenario still shows its numbers.
 */
async function runScenario(name: string, stream: StreamSpec, inject: (p: PipelineUnderTest) => Promise<Injected>, stateStore: "kafka" | "file" = "kafka"): Promise<void> {
  const p = new PipelineUnderTest({ name, conn: broker.connection(`rel-${name}`), influx, scratch, lakeDir: join(lakeDisk, name, "orders"), stream, stateStore });
  const row: Row = { scenario: name, faults: "" };
  rows.push(row);
  try {
    await p.start();
    const injected = await inject(p);
    row.faults = injected.faults.join("; ");
    row.recoveryMs = await p.recoveryMs(injected.clearedAt);
    await p.finish();
    row.verdict = await p.verify();
  } catch (error) {
    row.error = (error as Error).message.split("\n")[0];
    await p.stopAll();
    throw error;
  } finally {
    rmSync(join(lakeDisk, name), { recursive: true, force: true });
  }
  const v = row.verdict;
  console.log(`[reliability] ${name}: ${JSON.stringify({ counts: v.counts, lost: v.lost, doubled: v.doubled, dlqResends: v.dlqResends, peakRssMb: v.peakRssMb })}`);
  expect({ lost: v.lost, doubled: v.doubled, problems: v.problems }).toEqual({ lost: 0, doubled: 0, problems: [] });
  expect(v.counts.windows).toBeGreaterThan(20);
  expect(v.counts.invalid).toBeGreaterThan(0);
}

// ---- faults ----

async function killEachWorker(p: PipelineUnderTest, seed: number, times: number): Promise<void> {
  const count = (role: Role) => (role === "producer" ? 1 : times);
  await Promise.all(
    ROLES.map(async (role, i) => {
      const pause = randomPauses(seed + i);
      for (let k = 0; k < count(role); k++) {
        await pause.next(300, 2_500);
        // Every kill lands mid-stream: after the producer's end an idle worker has nothing to resume.
        if (!p.running("producer") || p.producedSoFar() > 0.75 * p.streamCount) return;
        const restarted = await p.killAndRestart(role);
        await restarted.waitForLog(READY[role], 120_000);
      }
    }),
  );
}

const READY: Record<Role, RegExp> = {
  producer: /sent [\d,]+ \|/,
  aggregator: /assigned partitions \[0, 1, 2, 3\]/,
  "lake-writer": /assigned partitions \[0, 1, 2, 3\]/,
  compactor: /pass \d+:/,
};

async function restartBroker(): Promise<string> {
  const down = performance.now();
  await broker.stop();
  await Bun.sleep(2_000);
  await broker.start();
  return `broker stopped and restarted (${((performance.now() - down) / 1000).toFixed(1)} s down)`;
}

async function timeSeriesOutage(p: PipelineUnderTest): Promise<string> {
  const down = performance.now();
  await influx.stop();
  const aggregator = p.running("aggregator")!;
  await aggregator.waitForLog(/cannot write to InfluxDB 1\.x API/, 60_000);
  await aggregator.waitForLog(/pausing all partitions: sink influx/, 60_000);
  await Bun.sleep(3_000);
  await influx.start();
  return `InfluxDB down ${((performance.now() - down) / 1000).toFixed(1)} s (aggregator paused on a full sink)`;
}

/** Fills the tmpfs under the lake until writes fail, keeps it full while the lake writer notices, then frees it. */
async function diskFull(p: PipelineUnderTest): Promise<string> {
  const filler = join(lakeDisk, `filler-${crypto.randomUUID().slice(0, 6)}`);
  const fd = openSync(filler, "w");
  const topUp = () => {
    for (let size = 1 << 20; size >= 512; ) {
      try {
        writeSync(fd, Buffer.alloc(size));
      } catch (error) {
        if (!isDiskFullError(error)) throw error;
        size >>= 1;
      }
    }
  };
  const full = performance.now();
  try {
    topUp();
    const writer = p.running("lake-writer")!;
    const noticed = writer.waitForLog(/no space left on the lake's disk/, 60_000);
    let keepFull = true;
    const keeper = (async () => {
      while (keepFull) {
        topUp(); // the compactor frees replaced files; the disk must stay full
        await Bun.sleep(100);
      }
    })();
    await noticed;
    await Bun.sleep(3_000);
    keepFull = false;
    await keeper;
  } finally {
    closeSync(fd);
    rmSync(filler, { force: true });
  }
  await p.running("lake-writer")!.waitForLog(/the lake is writable again/, 60_000);
  return `lake tmpfs full ${((performance.now() - full) / 1000).toFixed(1)} s, then freed`;
}

async function malformedBurst(p: PipelineUnderTest, seed: number): Promise<string> {
  await sendMalformedBurst(p.conn, p.topic, BURST, { seed, nowMs: Date.now() });
  p.foreignSent += BURST + 1;
  return `${BURST.toLocaleString("en-US")} malformed messages + one of 10 MB`;
}

type Corruption = "truncated" | "bit-flipped";

function corrupt(path: string, how: Corruption): void {
  const bytes = readFileSync(path);
  if (how === "truncated") truncateSync(path, Math.floor(bytes.length / 2));
  else {
    bytes[Math.floor(bytes.length / 2)]! ^= 0x10;
    writeFileSync(path, bytes);
  }
}

/**
 * Kills the aggregator, damages checkpoint files, and holds the restart to the documented
 * recovery: it refuses with one line naming the problem and the way out, and a restart with
 * `--reset earliest` rebuilds the damaged partitions from Kafka.
 */
async function damageCheckpoints(p: PipelineUnderTest, damage: [number, Corruption][]): Promise<string> {
  await p.kill("aggregator");
  for (const [partition, how] of damage) corrupt(p.checkpointPath(partition), how);
  const refused = p.startWorker("aggregator");
  p.expectExit(refused);
  expect(await refused.exited).toBe(1);
  const errors = refused.log().split("\n").filter((line) => line.startsWith("error:"));
  expect(errors.length).toBe(1);
  expect(errors[0]).toMatch(/^error: partition \d: checkpoint (is truncated|is corrupt).*restart with --reset earliest\|latest/);
  console.log(`[reliability] the aggregator refused: ${errors[0]}`);
  await p.startWorker("aggregator", ["--reset", "earliest"]).waitForLog(/reset: partition \d: checkpoint/, 120_000);
  return `aggregator SIGKILLed, ${damage.map(([partition, how]) => `partition-${partition}.ckpt ${how}`).join(", ")}; refused in one line, restarted with --reset earliest`;
}

function killSummary(p: PipelineUnderTest): string {
  return `SIGKILL ${ROLES.filter((r) => p.kills[r] > 0).map((r) => `${r} ×${p.kills[r]}`).join(", ")}`;
}

const SHORT: StreamSpec = { seed: 1, count: 9_000, ratePerS: 1_500 };

describe("the pipeline through faults", () => {
  test("SIGKILL of each worker at random points, each restarted at once", async () => {
    await runScenario("worker-kills", { ...SHORT, seed: 11, count: 24_000 }, async (p) => {
      await p.waitProduced(0.05);
      await killEachWorker(p, 11, 2);
      for (const role of ROLES) expect(p.kills[role]).toBeGreaterThan(0);
      return { faults: [killSummary(p)], clearedAt: performance.now() };
    });
  }, 600_000);

  /**
   * One fault each, mid-stream: [scenario, test title, seed, share of the stream sent before it,
   * the fault, the aggregator's state store]. The aggregator keeps its state in its changelog
   * topic (the default) except where a scenario damages checkpoint files.
   */
  const single: [string, string, number, number, (p: PipelineUnderTest) => Promise<string>, "kafka" | "file"][] = [
    ["broker-restart", "a broker restart", 12, 0.3, () => restartBroker(), "kafka"],
    ["influx-outage", "a time-series server outage", 13, 0.3, (p) => timeSeriesOutage(p), "kafka"],
    ["lake-disk-full", "the lake's disk fills up, then frees", 14, 0.3, (p) => diskFull(p), "kafka"],
    ["malformed-burst", "a burst of 100,000 malformed messages", 15, 0.3, (p) => malformedBurst(p, 15), "kafka"],
    ["checkpoint-truncated", "a truncated checkpoint file", 16, 0.4, (p) => damageCheckpoints(p, [[1, "truncated"]]), "file"],
    ["checkpoint-bit-flip", "a bit-flipped checkpoint file", 17, 0.4, (p) => damageCheckpoints(p, [[1, "bit-flipped"]]), "file"],
  ];
  for (const [name, title, seed, share, fault, stateStore] of single) {
    test(title, async () => {
      await runScenario(
        name,
        { ...SHORT, seed },
        async (p) => {
          await p.waitProduced(share);
          const faults = [await fault(p)];
          return { faults, clearedAt: performance.now() };
        },
        stateStore,
      );
    }, 600_000);
  }

  test("all of them in one run", async () => {
    await runScenario("combined", { ...SHORT, seed: 18, count: 36_000 }, async (p) => {
      await p.waitProduced(0.05);
      const faults: string[] = [];
      const burst = malformedBurst(p, 18);
      await killEachWorker(p, 18, 1);
      faults.push(killSummary(p));
      // Overlapping: the time series down while the lake's disk is full, the burst still arriving.
      faults.push(...(await Promise.all([timeSeriesOutage(p), diskFull(p)])));
      faults.push(await burst);
      faults.push(await damageCheckpoints(p, [[0, "truncated"], [2, "bit-flipped"]]));
      faults.push(await restartBroker());
      return { faults, clearedAt: performance.now() };
    }, "file");
  }, 900_000);
});

function formatTable(list: readonly Row[]): string {
  const header = ["scenario", "faults injected", "events lost", "events doubled", "recovery time", "DLQ re-sends (at-least-once)", "peak RSS MB (producer/aggregator/lake writer/compactor)"];
  const lines = list.map((r) => {
    const v = r.verdict;
    return [
      r.scenario,
      r.error ? `${r.faults} — FAILED: ${r.error}` : r.faults,
      v ? String(v.lost) : "-",
      v ? String(v.doubled) : "-",
      r.recoveryMs === undefined ? "-" : `${(r.recoveryMs / 1000).toFixed(1)} s`,
      v ? String(v.dlqResends) : "-",
      v ? ROLES.map((role) => v.peakRssMb[role]).join("/") : "-",
    ];
  });
  return [header, header.map(() => "---"), ...lines].map((cells) => `| ${cells.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`).join("\n");
}
