/**
 * validateOrder() on its own, the aggregator's per-record check: events/s on one core.
 *
 *   bun run bench/validate.ts [--events 500000] [--runs 5] [--baseline ad85f34]
 *
 * One seeded simulator stream (the aggregator benchmark's mix: 20 % out of order, 2 % late, 1 %
 * duplicates, 0.5 % malformed) is generated up front; then each contender runs over all of it,
 * the contenders taking turns for `--runs` rounds so that noise from other processes on the
 * machine spreads over all of them. Prints the median and best wall-clock rate of each, and the
 * median rate per CPU-second of this process (all its threads, GC included), which moves less
 * when other processes share the two cores:
 *
 * - decode + JSON.parse: `TextDecoder` (fatal) and `JSON.parse` alone, no checks;
 * - old validateOrder: lib/event/validate-order.ts as of the `--baseline` commit, read from git;
 * - validateOrderGeneral: today's general path (decode, JSON.parse, checks);
 * - validateOrder: today's entry point (canonical fast path, general path for the rest);
 * - validateForCounting: the aggregator's (the same verdicts; of a canonical event only the
 *   fields counting reads, in one reused object).
 *
 * Each contender's count of accepted events is printed too; they must agree.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Simulator } from "../lib/event/simulator.ts";
import { type ValidateOptions, type ValidationResult, validateForCounting, validateOrder, validateOrderGeneral } from "../lib/event/validate-order.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    events: { type: "string", default: "500000" },
    runs: { type: "string", default: "5" },
    baseline: { type: "string", default: "ad85f34" },
  },
});
const count = Number(values.events);
const runs = Number(values.runs);
const repoRoot = resolve(import.meta.dirname, "..");

type Validate = (bytes: Uint8Array, options: ValidateOptions) => ValidationResult;

/** The validator as of `rev`, with the two modules it imports, loaded from a scratch directory. */
async function loadBaseline(rev: string): Promise<Validate> {
  const dir = mkdtempSync(join(tmpdir(), "orderpulse-bench-validate-"));
  try {
    for (const file of ["validate-order.ts", "currency.ts", "order-event.ts"]) {
      const text = execFileSync("git", ["show", `${rev}:lib/${file}`], { cwd: repoRoot, encoding: "utf8" });
      writeFileSync(join(dir, file), text);
    }
    const module = (await import(join(dir, "validate-order.ts"))) as { validateOrder: Validate };
    return module.validateOrder;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const startMs = Date.parse("2026-11-27T18:00:00.000Z");
const simulator = new Simulator({
  seed: 1,
  startMs,
  ratePerS: 200,
  lateFraction: 0.02,
  outOfOrderFraction: 0.2,
  duplicateFraction: 0.01,
  malformedFraction: 0.005,
});
const values_: Uint8Array[] = new Array(count);
const nowMs = new Float64Array(count);
let bytes = 0;
for (let i = 0; i < count; i++) {
  const record = simulator.next();
  values_[i] = record.value;
  nowMs[i] = record.emittedAtMs;
  bytes += record.value.length;
}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const contenders: { name: string; run: () => number }[] = [
  {
    name: "decode + JSON.parse (no checks)",
    run: () => {
      let n = 0;
      for (let i = 0; i < count; i++) {
        try {
          if (JSON.parse(decoder.decode(values_[i]!)) !== null) n++;
        } catch {
          // malformed records: counted as not parsed
        }
      }
      return n;
    },
  },
  ...[
    { name: `old validateOrder (${values.baseline})`, validate: await loadBaseline(values.baseline) },
    { name: "validateOrderGeneral", validate: validateOrderGeneral },
    { name: "validateOrder", validate: validateOrder },
  ].map(({ name, validate }) => ({
    name,
    run: () => {
      let n = 0;
      // A fresh options object per call, as the aggregator makes one.
      for (let i = 0; i < count; i++) if (validate(values_[i]!, { nowMs: nowMs[i]! }).ok) n++;
      return n;
    },
  })),
  {
    name: "validateForCounting",
    run: () => {
      let n = 0;
      for (let i = 0; i < count; i++) {
        const value = values_[i]!;
        if (validateForCounting(value, 0, value.length, { nowMs: nowMs[i]! }).ok) n++;
      }
      return n;
    },
  },
];

console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model.trim()}), Bun ${Bun.version}`);
console.log(`events: ${count.toLocaleString("en")} simulator records, mean ${(bytes / count).toFixed(0)} bytes; ${runs} rounds`);
const rates = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
const cpuRates = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
const accepted = new Map<string, number>();
for (let round = 0; round < runs; round++) {
  for (const c of contenders) {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const n = c.run();
    const cpu = process.cpuUsage(cpu0);
    const seconds = (performance.now() - t0) / 1000;
    rates.get(c.name)!.push(count / seconds);
    cpuRates.get(c.name)!.push(count / ((cpu.user + cpu.system) / 1e6));
    accepted.set(c.name, n);
  }
}
const fmt = (n: number) => Math.round(n).toLocaleString("en");
const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log("| what | median events/s | best events/s | median events/CPU-s | accepted |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const c of contenders) {
  const wall = rates.get(c.name)!;
  console.log(`| ${c.name} | ${fmt(median(wall))} | ${fmt(Math.max(...wall))} | ${fmt(median(cpuRates.get(c.name)!))} | ${fmt(accepted.get(c.name)!)} |`);
}
