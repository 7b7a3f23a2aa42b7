/**
 * `bun run workers/tail.ts`: prints what arrives on a topic, one line per message. The first
 * slice of the pipeline's consumer side, and a handy look at `orders.dlq` or `orders.late`.
 */
import { kafkaSettings, parseTopic, topicSettings } from "../lib/runtime/config.ts";
import { parseCommand } from "../lib/runtime/cli.ts";
import { connectionFromConfig, createConsumer, describeConnection, MessagesStreamModes, waitForBroker } from "../lib/kafka/client.ts";
import { log, runMain } from "../lib/runtime/worker-runtime.ts";

const command = {
  usage: "bun run workers/tail.ts [--topic NAME] [--from-beginning]",
  summary: "Prints each message of a Kafka topic as `partition@offset key value` (values cut at 200 bytes).",
  flags: {
    topic: { type: "string", value: "NAME", describe: "topic to read (default: ORDERS_TOPIC)" },
    "from-beginning": { type: "boolean", describe: "start at the earliest offset instead of new messages" },
    group: { type: "string", value: "ID", describe: "consumer group (default: orderpulse-tail-<pid>)" },
  },
  settings: { ...kafkaSettings, ...topicSettings },
} as const;

runMain(async (signal) => {
  const parsed = parseCommand(command, Bun.argv.slice(2), process.env);
  if (parsed.kind !== "run") return parsed;
  const { config, flags } = parsed;
  const topic = flags.topic ? parseTopic(flags.topic) : config.ORDERS_TOPIC;
  const conn = connectionFromConfig(config);
  await waitForBroker(conn, { onWait: (n) => n === 1 && log("tail", `waiting for Kafka at ${describeConnection(conn)}`) });
  const consumer = createConsumer(conn, { role: "tail", groupId: flags.group ?? `orderpulse-tail-${process.pid}` });
  const stream = await consumer.consume({
    topics: [topic],
    mode: flags["from-beginning"] ? MessagesStreamModes.EARLIEST : MessagesStreamModes.LATEST,
    autocommit: 1_000,
  });
  signal.addEventListener("abort", () => void stream.close(), { once: true });
  log("tail", `reading ${topic}; Ctrl-C stops`);
  let count = 0;
  for await (const message of stream) {
    count += 1;
    const text = message.value.subarray(0, 200).toString("utf8");
    process.stdout.write(`${message.partition}@${message.offset} ${message.key} ${text}${message.value.length > 200 ? "…" : ""}\n`);
  }
  await consumer.close(true);
  log("tail", `read ${count} messages`);
});
