import { expect, test } from "bun:test";
import { formatValue, MetricsRegistry } from "./prometheus.ts";

test("render() writes HELP, TYPE and one line per sample, in registration order", () => {
  const registry = new MetricsRegistry();
  let read = 0;
  registry.counter("orderpulse_records_read_total", "Records read.", () => read);
  registry.gauge("orderpulse_consumer_lag_records", "Lag.", () => [
    { labels: { partition: 0 }, value: 5 },
    { labels: { partition: 1 }, value: 0n },
  ]);
  read = 42;
  expect(registry.render()).toBe(
    [
      "# HELP orderpulse_records_read_total Records read.",
      "# TYPE orderpulse_records_read_total counter",
      "orderpulse_records_read_total 42",
      "# HELP orderpulse_consumer_lag_records Lag.",
      "# TYPE orderpulse_consumer_lag_records gauge",
      'orderpulse_consumer_lag_records{partition="0"} 5',
      'orderpulse_consumer_lag_records{partition="1"} 0',
      "",
    ].join("\n"),
  );
});

test("a gauge whose value is unknown (null) renders no sample, only its HELP and TYPE", () => {
  const registry = new MetricsRegistry();
  registry.gauge("orderpulse_checkpoint_age_seconds", "Age.", () => null);
  expect(registry.render()).toBe("# HELP orderpulse_checkpoint_age_seconds Age.\n# TYPE orderpulse_checkpoint_age_seconds gauge\n");
});

test("label values escape backslash, double quote and line feed; HELP escapes backslash and line feed", () => {
  const registry = new MetricsRegistry();
  registry.counter("x_total", 'a \\ b\nc "d"', () => [{ labels: { reason: 'bad "json"\\\nhere' }, value: 1 }]);
  expect(registry.render()).toBe('# HELP x_total a \\\\ b\\nc "d"\n# TYPE x_total counter\nx_total{reason="bad \\"json\\"\\\\\\nhere"} 1\n');
});

test("a histogram renders cumulative buckets, +Inf, _sum and _count per label set", () => {
  const registry = new MetricsRegistry();
  const h = registry.histogram("latency_seconds", "Latency.", [0.5, 1, 5]);
  for (const v of [0.1, 0.5, 0.7, 3, 10]) h.observe(v);
  h.observe(2, { sink: "influx" });
  expect(registry.render()).toBe(
    [
      "# HELP latency_seconds Latency.",
      "# TYPE latency_seconds histogram",
      'latency_seconds_bucket{le="0.5"} 2',
      'latency_seconds_bucket{le="1"} 3',
      'latency_seconds_bucket{le="5"} 4',
      'latency_seconds_bucket{le="+Inf"} 5',
      "latency_seconds_sum 14.3",
      "latency_seconds_count 5",
      'latency_seconds_bucket{sink="influx",le="0.5"} 0',
      'latency_seconds_bucket{sink="influx",le="1"} 0',
      'latency_seconds_bucket{sink="influx",le="5"} 1',
      'latency_seconds_bucket{sink="influx",le="+Inf"} 1',
      'latency_seconds_sum{sink="influx"} 2',
      'latency_seconds_count{sink="influx"} 1',
      "",
    ].join("\n"),
  );
});

test("names, label names and buckets are checked when registered or observed", () => {
  const registry = new MetricsRegistry();
  expect(() => registry.counter("bad-name", "x", () => 0)).toThrow(RangeError);
  registry.counter("ok_total", "x", () => 0);
  expect(() => registry.gauge("ok_total", "x", () => 0)).toThrow("registered twice");
  expect(() => registry.histogram("h", "x", [1, 1])).toThrow("ascending");
  registry.gauge("g", "x", () => [{ labels: { "not-a-label": 1 }, value: 1 }]);
  expect(() => registry.render()).toThrow("not a Prometheus label name");
});

test("formatValue() writes bigints exactly and infinities and NaN as the format spells them", () => {
  expect([formatValue(2n ** 64n), formatValue(Infinity), formatValue(-Infinity), formatValue(NaN), formatValue(0.25)]).toEqual([
    "18446744073709551616",
    "+Inf",
    "-Inf",
    "NaN",
    "0.25",
  ]);
});
