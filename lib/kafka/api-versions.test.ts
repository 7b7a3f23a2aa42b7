import { describe, expect, test } from "bun:test";
import { newestCommonVersion, UnsupportedBrokerError } from "./api-versions.ts";

const ours = { min: 4, max: 17 };
const needs = "Fetch v4 or later (Kafka 0.11 or later)";

describe("newestCommonVersion()", () => {
  test("the newest version both sides speak: ours capped by the broker's, the broker's capped by ours", () => {
    expect(newestCommonVersion("Fetch", ours, { min: 0, max: 13 }, "b:9092", needs)).toBe(13); // Kafka 3.3
    expect(newestCommonVersion("Fetch", ours, { min: 4, max: 17 }, "b:9092", needs)).toBe(17); // Kafka 4.1
    expect(newestCommonVersion("Fetch", ours, { min: 4, max: 18 }, "b:9092", needs)).toBe(17); // a newer broker
    expect(newestCommonVersion("Fetch", ours, { min: 0, max: 4 }, "b:9092", needs)).toBe(4); // Kafka 0.11
  });

  test("a broker below our range gets one line naming it, both ranges and what is needed", () => {
    const call = () => newestCommonVersion("Fetch", ours, { min: 0, max: 3 }, "old.example:9092", needs);
    expect(call).toThrow(UnsupportedBrokerError);
    expect(call).toThrow("the broker at old.example:9092 serves Fetch v0-v3; orderpulse speaks v4-v17: it needs Fetch v4 or later (Kafka 0.11 or later)");
  });

  test("a broker whose oldest version is above our newest is refused too, not spoken to in a version it dropped", () => {
    expect(() => newestCommonVersion("Produce", { min: 3, max: 11 }, { min: 12, max: 14 }, "b:9092", "Produce v3-v11")).toThrow("serves Produce v12-v14");
  });

  test("a broker that does not serve the API at all", () => {
    expect(() => newestCommonVersion("Fetch", ours, undefined, "b:9092", needs)).toThrow("the broker at b:9092 does not serve Fetch at all");
  });
});
