import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sinksFromSpec } from "./sinks-from-spec.ts";

const influx = { window: "1m", maxBufferedLines: 1_000, log: () => {} };
const target = { api: "v1", url: "http://127.0.0.1:1", db: "orderpulse" } as const;

test("sinksFromSpec() builds the listed sinks in order, spaces around commas allowed", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sinks-"));
  try {
    const sinks = sinksFromSpec(` console , jsonl:${dir}/r.jsonl,influx`, target, influx);
    expect(sinks.map((s) => s.name)).toEqual(["console", `jsonl:${dir}/r.jsonl`, "influx:InfluxDB 1.x API at http://127.0.0.1:1, database orderpulse"]);
    await Promise.all(sinks.map((s) => s.close()));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("sinksFromSpec() refuses influx without a target, naming the variable to set", () => {
  expect(() => sinksFromSpec("influx", undefined, influx)).toThrow(new RangeError("--sink influx needs INFLUX_URL (and INFLUX_TOKEN for the 2.x API); see --help"));
});

test("sinksFromSpec() refuses an unknown sink and an empty jsonl path, naming the accepted forms", () => {
  expect(() => sinksFromSpec("console,kafka", undefined, influx)).toThrow('--sink: unknown sink "kafka"; use console, jsonl:PATH or influx, comma-separated');
  expect(() => sinksFromSpec("jsonl:", undefined, influx)).toThrow('--sink: unknown sink "jsonl:"; use console, jsonl:PATH or influx, comma-separated');
});
