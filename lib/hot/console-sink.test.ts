import { expect, test } from "bun:test";
import type { WindowResult } from "../window/window-aggregate.ts";
import { CLEAR_SCREEN, ConsoleSink } from "./console-sink.ts";

function result(windowStartMs: number, orders: number, emittedAtMs: number): WindowResult {
  return {
    partition: 0,
    windowStartMs,
    windowEndMs: windowStartMs + 60_000,
    orders,
    revenueUsdCents: 100n * BigInt(orders),
    items: orders,
    customers: orders,
    byCategory: {},
    byCountry: {},
    final: false,
    emittedAtMs,
  };
}

async function twoBlocks(inPlace: boolean): Promise<string[]> {
  const written: string[] = [];
  const sink = new ConsoleSink({ out: (text) => written.push(text), inPlace });
  await sink.write([result(0, 1, 1_000)]);
  await sink.write([result(0, 2, 2_000)]);
  return written;
}

test("ConsoleSink on a terminal clears the screen before each block, so the table redraws in place", async () => {
  const written = await twoBlocks(true);
  expect(written.length).toBe(2);
  for (const text of written) expect(text.startsWith(CLEAR_SCREEN)).toBe(true);
  expect(written[1]).toContain("1970-01-01T00:00:02.000Z");
});

test("ConsoleSink piped writes plain blocks one after another, without control sequences", async () => {
  const written = await twoBlocks(false);
  expect(written.length).toBe(2);
  for (const text of written) {
    expect(text.startsWith("\n")).toBe(true);
    expect(text.includes("\x1b")).toBe(false);
  }
});
