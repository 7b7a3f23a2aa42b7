/**
 * `bun run kafka`: a single-node Apache Kafka broker (KRaft; 4.1 unless KAFKA_VERSION says
 * another release, 3.3 or later) on loopback for development.
 * Data survives restarts in `data/kafka` (or KAFKA_DATA_DIR); Ctrl-C stops it cleanly.
 */
import { intParser } from "../lib/runtime/config.ts";
import { parseCommand } from "../lib/runtime/cli.ts";
import { LocalBroker, localBrokerSettings as settings } from "../lib/kafka/local-broker.ts";
import { log, runMain } from "../lib/runtime/worker-runtime.ts";
import { flagValue } from "../lib/runtime/flag-values.ts";


const command = {
  usage: "bun run kafka [--port N]",
  summary:
    "Runs a single-node Apache Kafka broker (KRaft mode, combined broker and controller) on 127.0.0.1,\n" +
    "resolving its jars through Maven on first use. Needs JDK 17+ and Maven. Ctrl-C stops it.",
  flags: {
    port: { type: "string", value: "N", describe: "client port (overrides KAFKA_PORT; default 9092)" },
  },
  settings,
} as const;

runMain(async (signal) => {
  const parsed = parseCommand(command, Bun.argv.slice(2), process.env);
  if (parsed.kind !== "run") return parsed;
  const port = flagValue("port", parsed.flags.port, parsed.config.KAFKA_PORT, intParser(1, 65535));
  const broker = new LocalBroker({
    dataDir: parsed.config.KAFKA_DATA_DIR,
    port,
    heap: parsed.config.KAFKA_HEAP,
    version: parsed.config.KAFKA_VERSION,
    onProgress: (line) => log("kafka", line),
  });
  const startMs = performance.now();
  await broker.start();
  log("kafka", `Kafka ${broker.version} ready on ${broker.bootstrap} in ${((performance.now() - startMs) / 1000).toFixed(1)} s; data in ${broker.dataDir}; Ctrl-C stops it`);
  await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  log("kafka", "stopping the broker");
  await broker.stop();
  log("kafka", "stopped");
});
