/**
 * The README's "Topics orderpulse creates" says what the workers create with which settings, and
 * gives the commands to pre-create them: both must match the settings the code creates them with.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FORWARD_TOPIC_CONFIG } from "../lib/consume/kafka-forwarder.ts";
import { CHANGELOG_TOPIC_CONFIG } from "../lib/consume/changelog-store.ts";
import { repoRoot } from "./support/pipeline-harness.ts";

const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
const section = readme.slice(readme.indexOf("### Topics orderpulse creates"), readme.indexOf("\n## ", readme.indexOf("### Topics orderpulse creates")));

/** `a=b` pairs in backticks in the table row that starts with `topic`. */
function tableSettings(topic: string): Record<string, string> {
  const row = section.split("\n").find((line) => line.startsWith(`| ${topic}`));
  if (!row) throw new Error(`no row for ${topic} in the README's topics table`);
  return Object.fromEntries([...row.matchAll(/`([a-z.]+)=([^`\s]+)`/g)].map((m) => [m[1]!, m[2]!]));
}

/** The `--config a=b` pairs of the pre-create command for `topic`. */
function commandSettings(topic: string): Record<string, string> {
  const commands = section.replace(/\\\n\s*/g, " ").split("\n").filter((line) => line.startsWith("kafka-topics.sh"));
  const command = commands.find((line) => line.includes(`--topic ${topic} `));
  if (!command) throw new Error(`no pre-create command for ${topic} in the README`);
  return Object.fromEntries([...command.matchAll(/--config ([a-z.]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
}

test("the README's topics table and pre-create commands give the DLQ and late topics the settings the workers create them with", () => {
  expect(tableSettings("`DLQ_TOPIC`")).toEqual({ ...FORWARD_TOPIC_CONFIG });
  expect(commandSettings("orders.dlq")).toEqual({ ...FORWARD_TOPIC_CONFIG });
  expect(commandSettings("orders.late")).toEqual({ ...FORWARD_TOPIC_CONFIG });
});

test("the README's topics table and pre-create command give the changelog the settings the aggregator creates it with", () => {
  expect(tableSettings("`CHANGELOG_TOPIC`")).toEqual({ ...CHANGELOG_TOPIC_CONFIG });
  expect(commandSettings("orderpulse-aggregate-orders-changelog")).toEqual({ ...CHANGELOG_TOPIC_CONFIG });
});
