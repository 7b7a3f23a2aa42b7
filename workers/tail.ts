/**
 * `bun run workers/tail.ts`: prints what arrives on a topic, one line per message. The first
 * slice of the pipeline's consumer side, and a handy look at `orders.dlq` or `orders.late`.
 *
 * A stop is bounded whatever the broker does: a SIGINT/SIGTERM while it waits for a broker or
 * joins its group ends the wait, and if closing the consumer takes longer than
 * --shutdown-timeout (a broker gone mid-request), it exits 1 without waiting further.
 */
import { kafkaSettings, parseDurationMs, parseTopic, topicSettings } from "../lib/runtime/config.ts";
import { parseCommand } from "../lib/runtime/cli.ts";
import { connectionFromConfig, createConsumer, describeConnection, MessagesStreamModes, waitForBroker } from "../lib/kafka/client.ts";
import { log, runMain } from "../lib/runtime/worker-runtime.ts";
import { UsageError } from "../lib/runtime/flag-values.ts";

const command = {
  usage: "bun run workers/tail.ts [--topic NAME] [--from-beginning]",
  summary: "Prints each message of a Kafka topic as `partition@offset key value` (values cut at 200 bytes).",
  flags: {
    topic: { type: "string", value: "NAME", describe: "topic to read (default: ORDERS_TOPIC)" },
    "from-beginning": { type: "boolean", describe: "start at the earliest offset instead of new messages" },
    group: { type: "string", value: "ID", describe: "consumer group (default: orderpulse-tail-<pid>)" },
    "shutdown-timeout": {
      type: "string",
      value: "DURATION",
      describe: "on stop, how long closing the consumer may take; then exit 1 without it (default 5s: a tail holds nothing but its offsets)",
    },
  },
  settings: { ...kafkaSettings, ...topicSettings },
} as const;

runMain(async (signal) => {
  const parsed = parseCommand(command, Bun.argv.slice(2), process.env);
  if (parsed.kind !== "run") return parsed;
  const { config, flags } = parsed;
  const topic = flags.topic ? parseTopic(flags.topic) : config.ORDERS_TOPIC;
  const group = flags.group ?? `orderpulse-tail-${process.pid}`;
  const shutdownTimeoutMs = shutdownTimeout(flags["shutdown-timeout"]);
  const conn = connectionFromConfig(config);
  // The bound itself: whatever is still waiting on the broker when it passes is left behind.
  signal.addEventListener("abort", () => {
    setTimeout(() => {
      log(
        "tail",
        `did not stop within ${shutdownTimeoutMs} ms (--shutdown-timeout): no answer from Kafka at ${describeConnection(conn)}; ` +
          `exiting without closing the consumer, so group ${group} may not have its last offsets (with --group, a restart may print some messages again)`,
      );
      process.exit(1);
    }, shutdownTimeoutMs).unref();
  }, { once: true });

  const connected = await unlessAborted(
    waitForBroker(conn, { onWait: (n) => n === 1 && log("tail", `waiting for Kafka at ${describeConnection(conn)}`) }).then(() => true),
    signal,
  );
  if (!connected) return log("tail", "stopped before Kafka answered; read 0 messages");
  const consumer = createConsumer(conn, { role: "tail", groupId: group });
  const stream = await unlessAborted(
    consumer.consume({
      topics: [topic],
      mode: flags["from-beginning"] ? MessagesStreamModes.EARLIEST : MessagesStreamModes.LATEST,
      autocommit: 1_000,
    }),
    signal,
  );
  let count = 0;
  if (stream) {
    signal.addEventListener("abort", () => void stream.close(), { once: true });
    log("tail", `reading ${topic}; Ctrl-C stops`);
    for await (const message of stream) {
      count += 1;
      const text = message.value.subarray(0, 200).toString("utf8");
      process.stdout.write(`${message.partition}@${message.offset} ${message.key} ${text}${message.value.length > 200 ? "…" : ""}\n`);
    }
  }
  await consumer.close(true);
  log("tail", `read ${count} messages`);
});

function shutdownTimeout(raw: string | undefined): number {
  if (raw === undefined) return 5_000;
  try {
    return parseDurationMs(raw);
  } catch (error) {
    throw new UsageError(`--shutdown-timeout: ${(error as Error).message}`);
  }
}

/** `promise`'s value, or `undefined` as soon as `signal` aborts (the promise is then left to itself). */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return Promise.race([promise, new Promise<undefined>((resolve) => signal.addEventListener("abort", () => resolve(undefined), { once: true }))]);
}
