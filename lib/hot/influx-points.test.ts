import { expect, test } from "bun:test";
import { metricsLines, windowResultLines, windowTag } from "./influx-points.ts";
import type { WindowResult } from "../window/window-aggregate.ts";

const result: WindowResult = {
  partition: 4,
  windowStartMs: 1_795_824_000_000,
  windowEndMs: 1_795_824_060_000,
  orders: 3,
  revenueUsdCents: 12_345n,
  items: 7,
  customers: 2,
  byCategory: { "home & garden": { orders: 2, revenueUsdCents: 10_000n, items: 5 }, toys: { orders: 1, revenueUsdCents: 2_345n, items: 2 } },
  byCountry: { US: { orders: 3, revenueUsdCents: 12_345n, items: 7 } },
  final: false,
  emittedAtMs: 1_795_824_030_000,
};

test("windowResultLines() writes the window, then each category and country, at the window start in ms", () => {
  expect(windowResultLines(result, "1m")).toEqual([
    "order_window,partition=4,window=1m customers=2i,final=F,items=7i,orders=3i,revenue=123.45,revenue_cents=12345i 1795824000000",
    "order_window_by_category,category=home\\ &\\ garden,partition=4,window=1m items=5i,orders=2i,revenue=100,revenue_cents=10000i 1795824000000",
    "order_window_by_category,category=toys,partition=4,window=1m items=2i,orders=1i,revenue=23.45,revenue_cents=2345i 1795824000000",
    "order_window_by_country,country=US,partition=4,window=1m items=7i,orders=3i,revenue=123.45,revenue_cents=12345i 1795824000000",
  ]);
});

test("17.6 windowResultLines() writes revenue_cents past 2^53 as the exact integer, and revenue as the float of USD", () => {
  const cents = 2n ** 53n + 1n;
  const big: WindowResult = { ...result, revenueUsdCents: cents, byCategory: { toys: { orders: 3, revenueUsdCents: cents, items: 7 } }, byCountry: {} };
  expect(windowResultLines(big, "1m")).toEqual([
    "order_window,partition=4,window=1m customers=2i,final=F,items=7i,orders=3i,revenue=90071992547409.92,revenue_cents=9007199254740993i 1795824000000",
    "order_window_by_category,category=toys,partition=4,window=1m items=7i,orders=3i,revenue=90071992547409.92,revenue_cents=9007199254740993i 1795824000000",
  ]);
});

test("windowResultLines() refuses a revenue past InfluxDB's 64-bit integers, as Point.intField() does", () => {
  expect(() => windowResultLines({ ...result, revenueUsdCents: 2n ** 63n }, "1m")).toThrow(RangeError);
});

test("metricsLines() writes one pipeline point per partition, leaving out figures not known yet", () => {
  expect(
    metricsLines({
      worker: "aggregate",
      atMs: 1_795_824_005_000,
      eventsPerSecond: 10,
      counted: 0,
      duplicates: 0,
      late: 0,
      invalid: 0,
      partitions: [
        { partition: 0, events: 10, counted: 7, duplicates: 1, late: 1, invalid: 1, watermarkMs: 1_795_823_885_000, watermarkDelayMs: 120_000, lag: 5n, checkpointAgeMs: 1_500 },
        { partition: 1, events: 0, counted: 0, duplicates: 0, late: 0, invalid: 0, watermarkMs: -Infinity, watermarkDelayMs: null, lag: null, checkpointAgeMs: null },
      ],
    }),
  ).toEqual([
    "pipeline,partition=0,worker=aggregate checkpoint_age_ms=1500,consumer_lag=5i,counted=7i,duplicates=1i,events=10i,invalid=1i,late=1i,watermark_delay_ms=120000 1795824005000",
    "pipeline,partition=1,worker=aggregate counted=0i,duplicates=0i,events=0i,invalid=0i,late=0i 1795824005000",
  ]);
});

test("windowTag() names the window size in its largest whole unit", () => {
  expect([windowTag(60_000), windowTag(3_600_000), windowTag(90_000), windowTag(1_500)]).toEqual(["1m", "1h", "90s", "1500ms"]);
});
