/**
 * The aggregator on live traffic, as a user runs it: the producer paced at a fixed rate with
 * events stamped at the moment they are sent, long enough for the window state to reach its
 * plateau (window + watermark = 3 minutes), then a SIGKILL at the plateau and a restart.
 *
 *   bun run bench/aggregate-live.ts [--rate 20000] [--plateau-from 4m] [--plateau-to 6m] [--down 10s]
 *
 * Starts a broker (unless KAFKA_BROKERS is set), the aggregator (default state store: its
 * changelog topic; a JSON-lines sink; every 50th counted event's latency sampled), and the
 * producer (`--flat`, paced). Samples every process's CPU and memory from /proc every 5 s, and
 * the aggregator's own progress lines (records, state held, state written, latency). Between
 * `--plateau-from` and `--plateau-to` it measures:
 *   - the aggregator's CPU per event (process CPU over records read),
 *   - its resident memory (mean and peak) and the state it holds (event ids and customers held in
 *     open windows, and the bytes of their fingerprint sets),
 *   - state bytes written to the changelog per second against the state's growth per second
 *     (12 bytes per new event id and per new customer),
 *   - created_at → emission latency p50/p99 (all samples up to the kill),
 *   - machine CPU use, and each process's share of it.
 * Then it SIGKILLs the aggregator, waits `--down`, starts it again (same static member id, so
 * the group gives its partitions back without waiting out the session), and reports how long
 * the state took to load, how long until the backlog was read, and the catch-up rate.
 * Prints one Markdown block; the figures go in bench/results/aggregate-live.md.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ensureTopics } from "../lib/kafka/client.ts";
import { parseDurationMs } from "../lib/runtime/config.ts";
import { benchBroker } from "./support/bench-broker.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    rate: { type: "string", default: "20000" },
    "plateau-from": { type: "string", default: "4m" },
    "plateau-to": { type: "string", default: "6m" },
    down: { type: "string", default: "10s" },
    "after-restart": { type: "string", default: "90s" },
    "latency-sample": { type: "string", default: "50" },
    /** Write the first aggregator's CPU profile (Markdown) here; it is then stopped with SIGTERM at the plateau's end, and the restart is skipped. */
    profile: { type: "string" },
  },
});
const rate = Number(values.rate);
const plateauFromMs = parseDurationMs(values["plateau-from"]!);
const plateauToMs = parseDurationMs(values["plateau-to"]!);
const downMs = parseDurationMs(values.down!);
const afterRestartMs = parseDurationMs(values["after-restart"]!);
const repoRoot = resolve(import.meta.dirname, "..");
const scratch = mkdtempSync(join(tmpdir(), "orderpulse-bench-live-"));
const TICKS = 100; // CLK_TCK
const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
const log = (line: string) => console.error(`[bench] ${line}`);

/** One /proc sample of a process: CPU seconds (user + system) and resident MB. */
function procSample(pid: number): { cpuS: number; rssMb: number; hwmMb: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpuS = (Number(fields[11]) + Number(fields[12])) / TICKS;
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
    return { cpuS, rssMb: kb("VmRSS") / 1024, hwmMb: kb("VmHWM") / 1024 };
  } catch {
    return undefined;
  }
}

/** Whole-machine busy CPU seconds so far (all cores), from /proc/stat. */
function machineBusyS(): number {
  const [, ...f] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = f.map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / TICKS;
}

/** The aggregator's progress line, parsed. */
interface Progress {
  atMs: number;
  records: number;
  rate: number;
  ids: number;
  customers: number;
  stateMb: number;
  grownMb: number;
  writtenMb: number;
  p50?: number;
  p99?: number;
  samples?: number;
  maxLag: number;
}

function parseProgress(line: string, atMs: number): Progress | undefined {
  const m = /(\d+) events\/s; records (\d+):.*state (\d+) ids (\d+) customers ([\d.]+) MB, grown ([\d.]+) MB, written ([\d.]+) MB;(?: latency p50 (\d+) p99 (\d+) ms \((\d+)\);)?/.exec(line);
  if (!m) return undefined;
  const lags = [...line.matchAll(/\/lag (\d+)/g)].map((l) => Number(l[1]));
  return {
    atMs,
    rate: Number(m[1]),
    records: Number(m[2]),
    ids: Number(m[3]),
    customers: Number(m[4]),
    stateMb: Number(m[5]),
    grownMb: Number(m[6]),
    writtenMb: Number(m[7]),
    ...(m[8] ? { p50: Number(m[8]), p99: Number(m[9]), samples: Number(m[10]) } : {}),
    maxLag: lags.length > 0 ? Math.max(...lags) : Infinity,
  };
}

interface Watched {
  proc: ReturnType<typeof Bun.spawn>;
  lines: { atMs: number; line: string }[];
  progress: Progress[];
  waitFor(pattern: RegExp, timeoutMs: number): Promise<{ atMs: number; line: string }>;
}

function watch(proc: ReturnType<typeof Bun.spawn>, t0: number, echo: RegExp): Watched {
  const watched: Watched = {
    proc,
    lines: [],
    progress: [],
    async waitFor(pattern, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const hit = watched.lines.find((l) => pattern.test(l.line));
        if (hit) return hit;
        if (proc.exitCode !== null) throw new Error(`the process exited (${proc.exitCode}) before ${pattern}:\n${watched.lines.slice(-20).map((l) => l.line).join("\n")}`);
        if (performance.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms`);
        await Bun.sleep(50);
      }
    },
  };
  void (async () => {
    const decoder = new TextDecoder();
    let partial = "";
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) {
      const text = partial + decoder.decode(chunk, { stream: true });
      const lines = text.split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        const atMs = performance.now() - t0;
        watched.lines.push({ atMs, line });
        const p = parseProgress(line, atMs);
        if (p) watched.progress.push(p);
        if (echo.test(line)) console.error(line);
      }
    }
  })();
  return watched;
}

const broker = await benchBroker();
const conn = broker.conn;
const topic = `live-${rate}-${Date.now()}`;
const group = `bench-${topic}`;
const env = {
  ...process.env,
  KAFKA_BROKERS: conn.brokers.join(","),
  ORDERS_TOPIC: topic,
  DLQ_TOPIC: `${topic}.dlq`,
  LATE_TOPIC: `${topic}.late`,
  AGGREGATE_GROUP: group,
  AGGREGATE_INSTANCE_ID: "bench-live",
};
const aggregatorArgs = [process.execPath, "run", join(repoRoot, "workers/aggregate.ts"), "--sink", `jsonl:${join(scratch, "results.jsonl")}`, "--latency-sample", values["latency-sample"]!];
const samples: { atMs: number; agg?: ReturnType<typeof procSample>; producer?: ReturnType<typeof procSample>; busyS: number }[] = [];

try {
  await ensureTopics(conn, [{ name: topic, partitions: 6 }]);
  const t0 = performance.now();
  const totalMs = plateauToMs + downMs + afterRestartMs + 60_000;
  const profileArgs = values.profile ? ["--cpu-prof-md", `--cpu-prof-dir=${values.profile}`] : [];
  let aggregator = watch(Bun.spawn([aggregatorArgs[0]!, ...profileArgs, ...aggregatorArgs.slice(1)], { env, stdout: "ignore", stderr: "pipe" }), t0, /assigned|error|stopped|latency created_at/);
  await aggregator.waitFor(/assigned partitions \[0, 1, 2, 3, 4, 5\]/, 60_000);
  log(`producing ${rate} events/s (flat, paced) for ${Math.round(totalMs / 1000)} s into ${topic}; plateau ${plateauFromMs / 1000}–${plateauToMs / 1000} s`);
  const producer = watch(
    Bun.spawn([process.execPath, "run", join(repoRoot, "workers/produce.ts"), "--rate", String(rate), "--flat", "--duration", `${totalMs}ms`, "--progress-every", "30s"], { env, stdout: "ignore", stderr: "pipe" }),
    t0,
    /events\/s|error/,
  );
  const tProduce = performance.now() - t0;
  const sampler = setInterval(() => {
    samples.push({ atMs: performance.now() - t0 - tProduce, agg: procSample(aggregator.proc.pid), producer: procSample(producer.proc.pid), busyS: machineBusyS() });
  }, 5_000);
  const sinceProduce = () => performance.now() - t0 - tProduce;
  let lastReport = 0;
  while (sinceProduce() < plateauToMs) {
    await Bun.sleep(1_000);
    if (sinceProduce() - lastReport >= 30_000) {
      lastReport = sinceProduce();
      const p = aggregator.progress.at(-1);
      const s = samples.at(-1);
      if (p && s) log(`${Math.round(lastReport / 1000)} s: held ${p.ids} ids, ${p.customers} customers (${p.stateMb} MB of sets); rss ${Math.round(s.agg?.rssMb ?? 0)} MB; written ${p.writtenMb} MB; latency p99 ${p.p99 ?? "-"} ms`);
    }
  }

  // ---- the plateau ----
  const plateauSamples = samples.filter((s) => s.atMs >= plateauFromMs && s.atMs <= plateauToMs);
  const plateauProgress = aggregator.progress.filter((p) => p.atMs - tProduce >= plateauFromMs && p.atMs - tProduce <= plateauToMs);
  if (plateauSamples.length < 2 || plateauProgress.length < 2) throw new Error("too few samples in the plateau");
  const [s0, s1] = [plateauSamples[0]!, plateauSamples.at(-1)!];
  const [p0, p1] = [plateauProgress[0]!, plateauProgress.at(-1)!];
  const recordsPerS = ((p1.records - p0.records) * 1000) / (p1.atMs - p0.atMs);
  // CPU per record: the aggregator's CPU over the sample span, records over the same span (interpolated).
  const recordsAt = (atMs: number) => {
    const list = aggregator.progress;
    const after = list.find((p) => p.atMs - tProduce >= atMs) ?? list.at(-1)!;
    const before = [...list].reverse().find((p) => p.atMs - tProduce <= atMs) ?? list[0]!;
    if (after.atMs === before.atMs) return before.records;
    return before.records + ((after.records - before.records) * (atMs - (before.atMs - tProduce))) / (after.atMs - before.atMs);
  };
  const spanS = (s1.atMs - s0.atMs) / 1000;
  const cpuPerRecordUs = ((s1.agg!.cpuS - s0.agg!.cpuS) * 1e6) / (recordsAt(s1.atMs) - recordsAt(s0.atMs));
  const rssMean = plateauSamples.reduce((n, s) => n + (s.agg?.rssMb ?? 0), 0) / plateauSamples.length;
  const rssMax = Math.max(...plateauSamples.map((s) => s.agg?.rssMb ?? 0));
  const heldIds = plateauProgress.reduce((n, p) => n + p.ids, 0) / plateauProgress.length;
  const heldCustomers = plateauProgress.reduce((n, p) => n + p.customers, 0) / plateauProgress.length;
  const stateMb = plateauProgress.reduce((n, p) => n + p.stateMb, 0) / plateauProgress.length;
  const writtenPerS = ((p1.writtenMb - p0.writtenMb) * 1e6 * 1000) / (p1.atMs - p0.atMs);
  const grownPerS = ((p1.grownMb - p0.grownMb) * 1e6 * 1000) / (p1.atMs - p0.atMs);
  const lastBeforeKill = aggregator.progress.at(-1)!;
  const machineBusy = (s1.busyS - s0.busyS) / spanS;
  const producerCpu = (s1.producer!.cpuS - s0.producer!.cpuS) / spanS;
  const aggregatorCpu = (s1.agg!.cpuS - s0.agg!.cpuS) / spanS;
  const peakBeforeKill = procSample(aggregator.proc.pid)?.hwmMb ?? 0;

  if (values.profile) {
    aggregator.proc.kill("SIGTERM");
    await aggregator.proc.exited;
    producer.proc.kill("SIGTERM");
    await producer.proc.exited;
    clearInterval(sampler);
    log(`CPU per record in the plateau: ${cpuPerRecordUs.toFixed(2)} µs; profile in ${values.profile}`);
  } else {
    await restartAfterKill();
  }

  /** SIGKILL at the plateau, a restart, and the report. */
  async function restartAfterKill(): Promise<void> {
    aggregator.proc.kill("SIGKILL");
    await aggregator.proc.exited;
    const killedAt = performance.now() - t0;
    log(`SIGKILLed the aggregator at ${Math.round((killedAt - tProduce) / 1000)} s; restarting in ${downMs / 1000} s`);
    await Bun.sleep(downMs);
    const restartedAt = performance.now() - t0;
    aggregator = watch(Bun.spawn(aggregatorArgs, { env, stdout: "ignore", stderr: "pipe" }), t0, /assigned|error|stopped|latency created_at/);
    const assigned = await aggregator.waitFor(/assigned partitions \[0, 1, 2, 3, 4, 5\].*state loaded in (\d+) ms/, 120_000);
    const loadMs = Number(/state loaded in (\d+) ms/.exec(assigned.line)![1]);
    // Caught up: the first progress line after the restart with every partition's lag under a second of traffic.
    const caughtUpLine = await (async () => {
      const deadline = performance.now() + 300_000;
      for (;;) {
        const p = aggregator.progress.find((x) => x.atMs > assigned.atMs && x.maxLag < rate / 6);
        if (p) return p;
        if (performance.now() > deadline) throw new Error("the restarted aggregator did not catch up within 5 minutes");
        await Bun.sleep(200);
      }
    })();
    const catchUpLines = aggregator.progress.filter((p) => p.atMs > assigned.atMs && p.atMs <= caughtUpLine.atMs);
    const catchUpRate = catchUpLines.length > 0 ? Math.max(...catchUpLines.map((p) => p.rate)) : NaN;
    const backlog = Math.round((rate * (restartedAt - killedAt + (assigned.atMs - restartedAt))) / 1000);
    await Bun.sleep(afterRestartMs);
    clearInterval(sampler);
    aggregator.proc.kill("SIGTERM");
    await aggregator.proc.exited;
    producer.proc.kill("SIGTERM");
    await producer.proc.exited;
    const afterLatency = aggregator.lines.map((l) => /latency created_at to emission: p50 (\d+) ms, p99 (\d+) ms/.exec(l.line)).find(Boolean);

    const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
    console.log(
      [
        `### Live run at ${fmt(rate)} events/s (${new Date().toISOString().slice(0, 10)})`,
        "",
        `Command: \`bun run bench/aggregate-live.ts --rate ${rate} --plateau-from ${values["plateau-from"]} --plateau-to ${values["plateau-to"]} --down ${values.down}\`. ` +
          `Machine: ${machine}; broker ${broker.description}; load ${loadavg().map((l) => l.toFixed(2)).join(" ")} at the end.`,
        "",
        "| measure | value |",
        "| --- | ---: |",
        `| records read in the plateau | ${fmt(recordsPerS)} /s |`,
        `| aggregator CPU per record (live) | ${fmt(cpuPerRecordUs, 2)} µs |`,
        `| aggregator resident memory in the plateau (mean / max) | ${fmt(rssMean)} / ${fmt(rssMax)} MB |`,
        `| aggregator peak RSS before the kill (VmHWM) | ${fmt(peakBeforeKill)} MB |`,
        `| held in open windows (mean): event ids / customers | ${fmt(heldIds)} / ${fmt(heldCustomers)} |`,
        `| fingerprint sets (mean) | ${fmt(stateMb, 1)} MB = ${fmt((stateMb * 1e6) / heldIds, 1)} B per held event |`,
        `| state written to the changelog | ${fmt(writtenPerS / 1e3, 1)} kB/s |`,
        `| state's growth (12 B per new id and per new customer) | ${fmt(grownPerS / 1e3, 1)} kB/s |`,
        `| written / growth | ${fmt(writtenPerS / grownPerS, 2)} × |`,
        `| latency created_at → emission, all samples to the kill (p50 / p99) | ${lastBeforeKill.p50 ?? "-"} / ${lastBeforeKill.p99 ?? "-"} ms (${fmt(lastBeforeKill.samples ?? 0)} samples) |`,
        `| machine CPU busy / aggregator / producer (cores) | ${fmt(machineBusy, 2)} / ${fmt(aggregatorCpu, 2)} / ${fmt(producerCpu, 2)} |`,
        `| restart after SIGKILL: state loaded in | ${fmt(loadMs)} ms |`,
        `| restart: process start to partitions assigned | ${fmt(assigned.atMs - restartedAt)} ms |`,
        `| backlog at the restart (rate × downtime) | about ${fmt(backlog)} records |`,
        `| caught up (every partition's lag under 1 s of traffic) after | ${fmt((caughtUpLine.atMs - restartedAt) / 1000, 1)} s from the restart |`,
        `| catch-up rate (best progress line) | ${fmt(catchUpRate)} records/s |`,
        `| latency after the restart, catch-up included (p50 / p99) | ${afterLatency ? `${afterLatency[1]} / ${afterLatency[2]} ms` : "-"} |`,
        "",
      ].join("\n"),
    );
  }
} finally {
  await broker.stop();
  rmSync(scratch, { recursive: true, force: true });
}
