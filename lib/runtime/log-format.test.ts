import { expect, test } from "bun:test";
import { ConfigError } from "./config.ts";
import { formatLogLine, logFormatOf } from "./worker-runtime.ts";

const AT = Date.UTC(2026, 11, 2, 16, 55, 41, 123);

test("formatLogLine() writes text for people: the time of day, the worker, the message", () => {
  expect(formatLogLine("text", AT, "aggregate", "stopped", { fields: { records: 5 } })).toBe("16:55:41.123 [aggregate] stopped\n");
});

test("formatLogLine() writes one JSON object per line for log shippers: time with the date, level, worker, message, fields", () => {
  const line = formatLogLine("json", AT, "lake-writer", "flushed", { level: "warn", fields: { records: 5, offset: 2n ** 64n } });
  expect(line.endsWith("\n") && !line.slice(0, -1).includes("\n")).toBe(true);
  expect(JSON.parse(line)).toEqual({ time: "2026-12-02T16:55:41.123Z", level: "warn", worker: "lake-writer", message: "flushed", records: 5, offset: "18446744073709551616" });
  expect(JSON.parse(formatLogLine("json", AT, "x", "a\nb")).message).toBe("a\nb");
  expect(JSON.parse(formatLogLine("json", AT, "x", "m")).level).toBe("info");
});

test("logFormatOf() takes text (the default) and json, and refuses anything else naming LOG_FORMAT", () => {
  expect([logFormatOf(undefined), logFormatOf(""), logFormatOf("text"), logFormatOf("json")]).toEqual(["text", "text", "text", "json"]);
  expect(() => logFormatOf("yaml")).toThrow(ConfigError);
  expect(() => logFormatOf("yaml")).toThrow(/LOG_FORMAT: expected text or json: got "yaml"/);
});
