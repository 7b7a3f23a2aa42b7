import { expect, test } from "bun:test";
import {
  dashboardVariables,
  calculateIntervalMs,
  expandInfluxqlMacros,
  formatGrafanaInterval,
  grafanaIntervalToMs,
  listPanelQueries,
} from "./grafana-influxql.ts";

const range = { fromMs: 1_700_000_000_000, toMs: 1_700_001_800_000, intervalMs: 60_000 };

test("expandInfluxqlMacros() turns $timeFilter into an inclusive ms range", () => {
  expect(expandInfluxqlMacros(`SELECT "orders" FROM "order_window" WHERE $timeFilter`, range)).toEqual(
    `SELECT "orders" FROM "order_window" WHERE time >= 1700000000000ms and time <= 1700001800000ms`,
  );
});

test("expandInfluxqlMacros() replaces every occurrence, as in a subquery and its outer query", () => {
  expect(expandInfluxqlMacros("$timeFilter / $timeFilter", { fromMs: 1, toMs: 2, intervalMs: 1 })).toEqual(
    "time >= 1ms and time <= 2ms / time >= 1ms and time <= 2ms",
  );
});

test("expandInfluxqlMacros() gives $__interval and $interval Grafana's interval text", () => {
  expect(expandInfluxqlMacros("time($__interval) time($interval)", range)).toEqual("time(1m) time(1m)");
});

test("expandInfluxqlMacros() gives $__interval_ms the whole number and does not cut it at $__interval", () => {
  expect(expandInfluxqlMacros("x * 60000 / $__interval_ms GROUP BY time($__interval)", { ...range, intervalMs: 30_000 })).toEqual(
    "x * 60000 / 30000 GROUP BY time(30s)",
  );
});

test("expandInfluxqlMacros() turns $__from and $__to, bare or braced, into epoch ms", () => {
  expect(expandInfluxqlMacros("$__from ${__from} $__to ${__to}", range)).toEqual(
    "1700000000000 1700000000000 1700001800000 1700001800000",
  );
});

test("expandInfluxqlMacros() leaves a longer variable name that starts with __from alone", () => {
  expect(expandInfluxqlMacros("$__fromX", range)).toEqual("$__fromX");
});

test("expandInfluxqlMacros() leaves unknown variables as Grafana does", () => {
  expect(expandInfluxqlMacros(`WHERE "partition" =~ /^$partition$/`, range)).toEqual(`WHERE "partition" =~ /^$partition$/`);
});

test("expandInfluxqlMacros() replaces $interval as a substring, like Grafana's strings.ReplaceAll", () => {
  expect(expandInfluxqlMacros("$intervals", range)).toEqual("1ms");
});

test("expandInfluxqlMacros() rejects a reversed time range", () => {
  expect(() => expandInfluxqlMacros("$timeFilter", { fromMs: 2, toMs: 1, intervalMs: 1 })).toThrow(
    new RangeError("time range ends before it starts: fromMs 2, toMs 1"),
  );
});

test("expandInfluxqlMacros() rejects a fractional epoch", () => {
  expect(() => expandInfluxqlMacros("$timeFilter", { fromMs: 1.5, toMs: 2, intervalMs: 1 })).toThrow(
    new RangeError("fromMs must be an integer epoch ms: got 1.5"),
  );
});

test("expandInfluxqlMacros() rejects an interval under 1 ms", () => {
  expect(() => expandInfluxqlMacros("$__interval", { fromMs: 0, toMs: 1, intervalMs: 0 })).toThrow(
    new RangeError("intervalMs must be a positive integer: got 0"),
  );
});

test("formatGrafanaInterval() names the largest whole unit", () => {
  expect([500, 1_000, 30_000, 60_000, 3_600_000, 86_400_000, 31_536_000_000].map(formatGrafanaInterval)).toEqual([
    "500ms",
    "1s",
    "30s",
    "1m",
    "1h",
    "1d",
    "1y",
  ]);
});

test("formatGrafanaInterval() truncates to the largest unit (90 s is 1m)", () => {
  expect([90_000, 119_999, 1_500].map(formatGrafanaInterval)).toEqual(["1m", "1m", "1s"]);
});

test("formatGrafanaInterval() answers 1ms below a millisecond", () => {
  expect(formatGrafanaInterval(0.5)).toEqual("1ms");
});

test("grafanaIntervalToMs() reads a unit suffix and counts a bare number as seconds", () => {
  expect(["10s", "1m", "500ms", "2h", "1d", "1w", "30"].map(grafanaIntervalToMs)).toEqual([
    10_000, 60_000, 500, 7_200_000, 86_400_000, 604_800_000, 30_000,
  ]);
});

test("grafanaIntervalToMs() rejects text without a unit it knows", () => {
  expect(() => grafanaIntervalToMs("5x")).toThrow(RangeError);
});

test("calculateIntervalMs() rounds range / data points to a nice step (30 min over 1000 points is 2 s)", () => {
  expect(calculateIntervalMs(range, { maxDataPoints: 1_000 })).toEqual(2_000);
});

test("calculateIntervalMs() never goes below the panel's min interval", () => {
  expect(calculateIntervalMs(range, { maxDataPoints: 1_000, minInterval: "1m" })).toEqual(60_000);
});

test("calculateIntervalMs() grows past the min interval for a long range", () => {
  expect(calculateIntervalMs({ fromMs: 0, toMs: 7 * 86_400_000 }, { maxDataPoints: 1_000, minInterval: "1m" })).toEqual(600_000);
});

const dashboard = {
  panels: [
    {
      id: 1,
      title: "Revenue",
      interval: "1m",
      targets: [
        { refId: "A", rawQuery: true, query: "SELECT 1" },
        { refId: "B", rawQuery: true, query: "SELECT 2", hide: true },
      ],
    },
    { id: 2, type: "row", title: "Pipeline", collapsed: true, panels: [{ id: 3, title: "Lag", targets: [{ refId: "A", rawQuery: true, query: "SELECT 3" }] }] },
  ],
};

test("listPanelQueries() lists visible raw targets, including those inside collapsed rows", () => {
  expect(listPanelQueries(dashboard)).toEqual([
    { panelId: 1, title: "Revenue", refId: "A", query: "SELECT 1", minInterval: "1m" },
    { panelId: 3, title: "Lag", refId: "A", query: "SELECT 3", minInterval: undefined },
  ]);
});

test("listPanelQueries() rejects a target built in the visual editor", () => {
  expect(() => listPanelQueries({ panels: [{ id: 7, title: "x", targets: [{ refId: "A", measurement: "cpu" }] }] })).toThrow(
    new TypeError("panel 7 target A: not a raw InfluxQL query (rawQuery: true with query text)"),
  );
});

test("listPanelQueries() rejects a value without a panels array", () => {
  expect(() => listPanelQueries({ title: "no panels" })).toThrow(TypeError);
});

test("expandInfluxqlMacros() puts in the dashboard variables given, $name and ${name}, and leaves the others", () => {
  const q = `SELECT "orders" FROM "order_window" WHERE "window" = '$window' AND "x" = '\${window}' AND "y" = '$windows' AND $timeFilter`;
  expect(expandInfluxqlMacros(q, { ...range, variables: { window: "5m" } })).toBe(
    `SELECT "orders" FROM "order_window" WHERE "window" = '5m' AND "x" = '5m' AND "y" = '$windows' AND time >= ${range.fromMs}ms and time <= ${range.toMs}ms`,
  );
});

test("dashboardVariables() gives each templating variable's current value", () => {
  expect(dashboardVariables({ templating: { list: [{ name: "window", current: { text: "1m", value: "1m" } }] } })).toEqual({ window: "1m" });
  expect(dashboardVariables({ panels: [] })).toEqual({});
  expect(() => dashboardVariables({ templating: { list: [{ name: "window" }] } })).toThrow("window has no current value");
});
