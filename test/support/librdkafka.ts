/**
 * librdkafka (the confluent-kafka package in `.venv`, installed by scripts/setup.sh) from the
 * tests: a client we did not write, to write topics the way other applications do and to read
 * them back as an independent reader.
 */
import { join } from "node:path";
import { repoRoot } from "./pipeline-harness.ts";

/** One record of a librdkafka_produce.py plan step. */
export interface PlannedRecord {
  partition: number;
  key: string | null;
  value: string | null;
  headers: [string, string | null][];
}

/** One librdkafka_produce.py plan step: a producer with `config`, optionally one transaction. */
export interface PlanStep {
  config: Record<string, string | number | boolean>;
  transaction: "commit" | "abort" | null;
  records: PlannedRecord[];
}

/** A record as headers_roundtrip.py reads it. */
export interface ReadRecord {
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  /** The value as UTF-8 text (bytes that are not UTF-8 replaced with U+FFFD). */
  value: string | null;
  /** The value's exact bytes, base64. */
  value_base64: string | null;
  headers: [string, string | null][];
}

/** A record's value, byte for byte ("" for a null value). */
export function valueBytes(r: ReadRecord): Buffer {
  return Buffer.from(r.value_base64 ?? "", "base64");
}

/** Runs one of the librdkafka helpers in test/support with `args` and `input` on stdin; resolves to its stdout. */
export async function librdkafka(script: string, args: string[], input = ""): Promise<string> {
  const child = Bun.spawn([join(repoRoot, ".venv", "bin", "python"), join(repoRoot, "test", "support", script), ...args], {
    stdin: new TextEncoder().encode(input),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, out, err] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  if (code !== 0) throw new Error(`${script} ${args[0]} failed (exit ${code}); run \`bash scripts/setup.sh\` if confluent-kafka is missing:\n${err}`);
  return out;
}

/** Writes `plan` into `topic` with librdkafka; resolves to each acknowledged record's step, partition, offset and timestamp. */
export async function produceWithLibrdkafka(bootstrap: string, topic: string, plan: PlanStep[]) {
  const out = await librdkafka("librdkafka_produce.py", [bootstrap, topic], JSON.stringify(plan));
  return out.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as { step: number; partition: number; offset: number; timestamp: number });
}

/** Committed records as librdkafka reads them (read_committed): per partition, in offset order. */
export async function readCommitted(bootstrap: string, topic: string, count: number): Promise<ReadRecord[]> {
  const lines = (await librdkafka("headers_roundtrip.py", ["read", bootstrap, topic, String(count)])).trim().split("\n").filter(Boolean);
  return lines.map((line) => JSON.parse(line) as ReadRecord);
}
