/**
 * Helpers for the producer's integration tests: run workers/produce.ts as a real process, and
 * read a topic back completely (up to its end offsets, so "everything" is a condition, not a
 * timeout).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createConsumer, type KafkaConnection, MessagesStreamModes, type OrderMessage } from "../lib/kafka/client.ts";
import type { ProduceSummary } from "../lib/produce/tally.ts";

const repoRoot = resolve(import.meta.dirname, "..");

export type SummaryJson = ProduceSummary & { seed: string; start: string; destination: string; stopped_by: string };

export interface ProducerProcess {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves when a stderr line matches. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Exit code, stdout bytes and the --summary-json contents. */
  finished: Promise<{ exitCode: number; stdout: Uint8Array; summary: SummaryJson | undefined }>;
}

export function startProducer(args: string[], env: Record<string, string> = {}): ProducerProcess {
  const summaryPath = join(mkdtempSync(join(tmpdir(), "orderpulse-produce-")), "summary.json");
  const proc = Bun.spawn(["bun", "run", join(repoRoot, "workers/produce.ts"), ...args, "--summary-json", summaryPath], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let stderrText = "";
  const waiters: { pattern: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const stderrDone = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) {
      stderrText += decoder.decode(chunk, { stream: true });
      for (const w of [...waiters]) {
        const match = stderrText.match(w.pattern);
        if (match) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(match);
        }
      }
    }
  })();
  const stdoutBytes = new Response(proc.stdout).bytes();
  const finished = (async () => {
    const [exitCode, stdout] = await Promise.all([proc.exited, stdoutBytes, stderrDone]);
    let summary: SummaryJson | undefined;
    try {
      summary = JSON.parse(readFileSync(summaryPath, "utf8")) as SummaryJson;
    } catch {
      summary = undefined;
    }
    return { exitCode, stdout, summary };
  })();
  return {
    proc,
    stderr: () => stderrText,
    waitForStderr(pattern, timeoutMs = 60_000) {
      const match = stderrText.match(pattern);
      if (match) return Promise.resolve(match);
      return new Promise((resolveMatch, reject) => {
        const timer = setTimeout(() => reject(new Error(`stderr never matched ${pattern}:\n${stderrText}`)), timeoutMs);
        waiters.push({
          pattern,
          resolve: (m) => {
            clearTimeout(timer);
            resolveMatch(m);
          },
        });
        void finished.then(() => {
          clearTimeout(timer);
          const m = stderrText.match(pattern);
          if (m) resolveMatch(m);
          else reject(new Error(`producer exited before stderr matched ${pattern}:\n${stderrText}`));
        });
      });
    },
    finished,
  };
}

export async function runProducer(args: string[], env: Record<string, string> = {}) {
  const p = startProducer(args, env);
  const result = await p.finished;
  return { ...result, stderr: p.stderr() };
}

/** Every message in `topic`, read from the beginning up to the end offsets at the time of the call. */
export async function readTopic(conn: KafkaConnection, topic: string, timeoutMs = 60_000): Promise<OrderMessage[]> {
  const consumer = createConsumer(conn, { role: "read-back", groupId: `read-back-${topic}-${crypto.randomUUID()}` });
  try {
    const ends = (await consumer.listOffsets({ topics: [topic] })).get(topic) ?? [];
    const total = ends.reduce((sum, end) => sum + Number(end), 0);
    const messages: OrderMessage[] = [];
    if (total === 0) return messages;
    const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: false });
    const timer = setTimeout(() => void stream.close(), timeoutMs);
    try {
      for await (const message of stream) {
        messages.push(message);
        if (messages.length >= total) break;
      }
    } finally {
      clearTimeout(timer);
      await stream.close();
    }
    if (messages.length < total) throw new Error(`read ${messages.length} of ${total} messages from ${topic} in ${timeoutMs} ms`);
    return messages;
  } finally {
    await consumer.close();
  }
}

/** Resolves once `condition()` holds, checking every `intervalMs`; rejects after `timeoutMs`. */
export async function waitFor(condition: () => boolean, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<void> {
  const deadline = performance.now() + (options.timeoutMs ?? 60_000);
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${options.timeoutMs ?? 60_000} ms: ${condition}`);
    await Bun.sleep(options.intervalMs ?? 50);
  }
}
