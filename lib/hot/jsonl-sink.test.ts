import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JsonlSink, parseWindowLines } from "./jsonl-sink.ts";
import type { WindowResult } from "../window/window-aggregate.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "jsonl-sink-"));
  dirs.push(dir);
  return join(dir, "sub", "results.jsonl");
}

const result: WindowResult = {
  partition: 2,
  windowStartMs: 1_764_324_000_000,
  windowEndMs: 1_764_324_060_000,
  orders: 3,
  revenueUsdCents: 12_345n,
  items: 7,
  customers: 2,
  byCategory: { books: { orders: 1, revenueUsdCents: 345n, items: 2 } },
  byCountry: { DE: { orders: 3, revenueUsdCents: 12_345n, items: 7 } },
  final: true,
  emittedAtMs: 1_764_324_200_000,
};

test("JsonlSink writes one line per result that parseWindowLines() reads back whole", async () => {
  const path = tempFile();
  const sink = new JsonlSink(path);
  await sink.write([result, { ...result, partition: 3, final: false }]);
  await sink.close();
  const text = readFileSync(path, "utf8");
  expect(text.split("\n").length).toBe(3);
  expect(JSON.parse(text.split("\n")[0]!).windowStart).toBe("2025-11-28T10:00:00.000Z");
  expect(parseWindowLines(text)).toEqual([result, { ...result, partition: 3, final: false }]);
});

test("17.6 JsonlSink writes revenues past 2^53 as exact JSON integers, and parseWindowLines() reads them back exactly", async () => {
  const path = tempFile();
  const cents = 2n ** 53n + 1n;
  const big: WindowResult = { ...result, revenueUsdCents: cents * 3n, byCategory: { books: { orders: 1, revenueUsdCents: cents, items: 2 } }, byCountry: { DE: { orders: 3, revenueUsdCents: cents * 3n, items: 7 } } };
  const sink = new JsonlSink(path);
  await sink.write([big]);
  await sink.close();
  const text = readFileSync(path, "utf8");
  // Plain JSON: the digits as a number literal, for any reader that keeps big integers.
  expect(text).toContain(`"revenueUsdCents":${cents * 3n},`);
  expect(text).toContain(`"books":{"orders":1,"revenueUsdCents":${cents},"items":2}`);
  expect(parseWindowLines(text)).toEqual([big]);
});

test("JsonlSink writes nothing to disk before flush()", async () => {
  const path = tempFile();
  const sink = new JsonlSink(path);
  await sink.write([result]);
  await sink.flush();
  const afterFlush = readFileSync(path, "utf8");
  await sink.write([result]);
  expect(readFileSync(path, "utf8")).toBe(afterFlush);
  await sink.close();
});

test("JsonlSink cuts off a torn last line left by a crash before appending", async () => {
  const path = tempFile();
  const first = new JsonlSink(path);
  await first.write([result]);
  await first.close();
  const whole = readFileSync(path, "utf8");
  writeFileSync(path, `${whole}{"type":"window","partit`);
  const second = new JsonlSink(path);
  await second.write([{ ...result, orders: 4 }]);
  await second.close();
  expect(parseWindowLines(readFileSync(path, "utf8"))).toEqual([result, { ...result, orders: 4 }]);
});
