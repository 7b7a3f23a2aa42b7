import { expect, test } from "bun:test";
import { parseCommand } from "./cli.ts";
import { kafkaSettings } from "./config.ts";

const spec = {
  usage: "bun run workers/x.ts",
  summary: "Does x.",
  flags: {
    rate: { type: "string", value: "N", describe: "events per second" },
    max: { type: "boolean", describe: "as fast as possible" },
  },
  settings: { KAFKA_BROKERS: kafkaSettings.KAFKA_BROKERS, KAFKA_CLIENT_ID: kafkaSettings.KAFKA_CLIENT_ID },
} as const;

test("parseCommand() returns flags, positionals and configuration", () => {
  expect(parseCommand(spec, ["--rate", "5", "--max", "extra"], { KAFKA_BROKERS: "k:1" })).toEqual({
    kind: "run",
    flags: { rate: "5", max: true },
    positionals: ["extra"],
    config: { KAFKA_BROKERS: ["k:1"], KAFKA_CLIENT_ID: "orderpulse" },
  });
});

test("parseCommand() answers --help with usage, options and environment", () => {
  const parsed = parseCommand(spec, ["--help"], {});
  expect(parsed.kind).toBe("help");
  const text = parsed.kind === "help" ? parsed.text : "";
  expect(text).toStartWith("Usage: bun run workers/x.ts\n\nDoes x.\n\nOptions:\n");
  expect(text).toContain("--rate N");
  expect(text).toContain("-h, --help");
  expect(text).toContain("KAFKA_BROKERS");
});

test("parseCommand() answers --help even when the configuration is bad", () => {
  expect(parseCommand(spec, ["-h"], { KAFKA_BROKERS: "bad" }).kind).toBe("help");
});

test("parseCommand() reports an unknown flag with a pointer to --help", () => {
  const parsed = parseCommand(spec, ["--rat", "5"], {});
  expect(parsed.kind).toBe("error");
  expect(parsed.kind === "error" && parsed.message).toMatch(/--rat[\s\S]*Run with --help/);
});

test("parseCommand() reports bad configuration as an error, not a throw", () => {
  const parsed = parseCommand(spec, [], { KAFKA_BROKERS: "bad" });
  expect(parsed.kind).toBe("error");
  expect(parsed.kind === "error" && parsed.message).toContain("KAFKA_BROKERS");
});
