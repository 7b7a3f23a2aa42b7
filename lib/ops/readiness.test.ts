import { expect, test } from "bun:test";
import { ProgressRule, ReadinessRule } from "./readiness.ts";

const STALL = 10_000;

test("ReadinessRule is not ready without partitions", () => {
  const rule = new ReadinessRule(STALL, 0);
  rule.observe({ assigned: 0, processed: 0, lag: null, fetchedAtMs: null }, 1_000);
  expect(rule.check(1_000)).toEqual({ ready: false, reason: "no partitions assigned" });
});

test("ReadinessRule is ready while the first fetch is pending, and not once that took longer than the stall time", () => {
  const rule = new ReadinessRule(STALL, 0);
  rule.observe({ assigned: 3, processed: 0, lag: null, fetchedAtMs: null }, 1_000);
  expect(rule.check(1_000).ready).toBe(true);
  expect(rule.check(STALL + 1_000)).toEqual({ ready: true, reason: "3 partitions assigned, first fetch pending" });
  expect(rule.check(STALL + 1_001)).toEqual({ ready: false, reason: "no fetch answered in 10.0 s since partitions were assigned" });
});

test("ReadinessRule stays ready on an idle topic: fetches answer with lag 0", () => {
  const rule = new ReadinessRule(STALL, 0);
  for (let t = 0; t <= 60_000; t += 1_000) rule.observe({ assigned: 3, processed: 100, lag: 0, fetchedAtMs: t }, t);
  expect(rule.check(60_000)).toEqual({ ready: true, reason: "3 partitions assigned, lag 0" });
});

test("ReadinessRule turns not ready when records wait and none is processed for longer than the stall time", () => {
  const rule = new ReadinessRule(STALL, 0);
  rule.observe({ assigned: 2, processed: 500, lag: 10, fetchedAtMs: 0 }, 0);
  for (let t = 1_000; t <= STALL; t += 1_000) rule.observe({ assigned: 2, processed: 500, lag: 10 + t, fetchedAtMs: t }, t);
  expect(rule.check(STALL).ready).toBe(true);
  rule.observe({ assigned: 2, processed: 500, lag: 20_000, fetchedAtMs: STALL + 1_000 }, STALL + 1_000);
  expect(rule.check(STALL + 1_000)).toEqual({ ready: false, reason: "20000 records waiting and none processed for 11.0 s" });
  // Processing again: ready at once.
  rule.observe({ assigned: 2, processed: 501, lag: 19_999, fetchedAtMs: STALL + 2_000 }, STALL + 2_000);
  expect(rule.check(STALL + 2_000).ready).toBe(true);
});

test("ReadinessRule turns not ready when no fetch answered for longer than the stall time, whatever the last lag", () => {
  const rule = new ReadinessRule(STALL, 0);
  rule.observe({ assigned: 2, processed: 500, lag: 0, fetchedAtMs: 1_000 }, 1_000);
  rule.observe({ assigned: 2, processed: 500, lag: 0, fetchedAtMs: 1_000 }, 11_001);
  expect(rule.check(11_001)).toEqual({ ready: false, reason: "no fetch answered for 10.0 s" });
});

test("ReadinessRule refuses a stall time that is not positive", () => {
  expect(() => new ReadinessRule(0, 0)).toThrow(RangeError);
});

test("ProgressRule is ready while its count moves, and not once it stood still longer than the stall time", () => {
  const rule = new ProgressRule(STALL, 0, "record acknowledged");
  expect(rule.check(STALL).ready).toBe(true);
  expect(rule.check(STALL + 1)).toEqual({ ready: false, reason: "no record acknowledged for 10.0 s" });
  rule.observe(5, 12_000);
  expect(rule.check(12_000)).toEqual({ ready: true, reason: "5 so far, the last 0.0 s ago" });
  rule.observe(5, 22_001);
  expect(rule.check(22_001).ready).toBe(false);
});
