/**
 * `bun run scripts/kafka-matrix.ts [RELEASE...]`: the broker matrix (issue 18). For each Apache
 * Kafka release (default: every one we support, SUPPORTED_KAFKA_RELEASES: 3.3.2 3.6.2 3.9.1 4.1.1), starts a broker of that
 * release to list the Fetch and Produce versions it serves, then runs against brokers of it:
 *
 *   - test/kafka-matrix.test.ts      the producer, the aggregator (oracle), the lake writer, tail
 *   - test/kafka-versions.test.ts    every Produce and Fetch version we speak, against librdkafka
 *   - test/librdkafka-interop.test.ts  a topic librdkafka wrote (every codec, transactions)
 *
 * One release at a time (each run starts its own brokers), printing each suite's summary line as
 * it finishes and a table at the end; exits 1 if any release failed. CI runs only the oldest and
 * the newest release of test/kafka-matrix.test.ts; this runs all of it (about 2 minutes a release).
 */
import { resolve } from "node:path";
import { brokerApiVersions, newestCommonVersion } from "../lib/kafka/api-versions.ts";
import { PRODUCE_VERSIONS } from "../lib/kafka/batch-producer.ts";
import { FETCH_VERSIONS } from "../lib/kafka/raw-fetch.ts";
import { clientConnection, createConsumer } from "../lib/kafka/client.ts";
import { LocalBroker, parseKafkaRelease, SUPPORTED_KAFKA_RELEASES } from "../lib/kafka/local-broker.ts";

const repoRoot = resolve(import.meta.dirname, "..");
const SUPPORTED: string[] = [...SUPPORTED_KAFKA_RELEASES];
const SUITES = ["test/kafka-matrix.test.ts", "test/kafka-versions.test.ts", "test/librdkafka-interop.test.ts"];

const args = Bun.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(`Usage: bun run scripts/kafka-matrix.ts [RELEASE...]

Runs the producer, the aggregator, the lake writer and tail, every Produce and Fetch version, and
the librdkafka interop test against Apache Kafka brokers of each RELEASE (default: ${SUPPORTED.join(" ")}),
one release at a time. Needs what scripts/setup.sh installs (JDK, Maven, .venv); each release's
jars are resolved through Maven on first use.`);
  process.exit(0);
}
let releases: string[];
try {
  releases = args.length > 0 ? args.map(parseKafkaRelease) : SUPPORTED;
} catch (error) {
  console.error(`kafka-matrix: ${(error as Error).message}\nRun with --help for usage.`);
  process.exit(2);
}

interface Row {
  release: string;
  fetch: string;
  produce: string;
  passed: number;
  failed: number;
  seconds: number;
}
const rows: Row[] = [];
for (const release of releases) {
  const started = performance.now();
  console.error(`[kafka-matrix] Apache Kafka ${release}: starting a broker to ask what it serves`);
  const served = await servedVersions(release);
  console.error(`[kafka-matrix] Apache Kafka ${release} serves Fetch ${served.fetch}, Produce ${served.produce}; running ${SUITES.length} suites`);
  const child = Bun.spawn([process.execPath, "test/run.ts", ...SUITES], {
    cwd: repoRoot,
    env: { ...process.env, ORDERPULSE_KAFKA_MATRIX: release, ORDERPULSE_KAFKA_VERSION: release },
    stdout: "pipe",
    stderr: "inherit",
  });
  const out = await new Response(child.stdout).text();
  process.stdout.write(out);
  await child.exited;
  const tally = /(\d+) passed, (\d+) failed/.exec(out);
  const row = { release, ...served, passed: Number(tally?.[1] ?? 0), failed: tally ? Number(tally[2]) : 1, seconds: Math.round((performance.now() - started) / 1000) };
  if (child.exitCode !== 0 && row.failed === 0) row.failed = 1;
  rows.push(row);
  console.error(`[kafka-matrix] Apache Kafka ${release}: ${row.passed} passed, ${row.failed} failed in ${row.seconds} s`);
}

console.log("\n| Apache Kafka | Fetch served (we use) | Produce served (we use) | tests passed | failed | seconds |");
console.log("| --- | --- | --- | ---: | ---: | ---: |");
for (const r of rows) console.log(`| ${r.release} | ${r.fetch} | ${r.produce} | ${r.passed} | ${r.failed} | ${r.seconds} |`);
process.exit(rows.every((r) => r.failed === 0) ? 0 : 1);

/** The Fetch and Produce version ranges a broker of `release` serves and the version we speak to it, e.g. "v0-v13 (v13)". */
async function servedVersions(release: string): Promise<{ fetch: string; produce: string }> {
  const broker = new LocalBroker({ version: release, onProgress: (line) => console.error(`[kafka-matrix] ${line}`) });
  await broker.start();
  const consumer = createConsumer(broker.connection("kafka-matrix"), { role: "probe", groupId: "kafka-matrix-probe" });
  try {
    const ranges = await brokerApiVersions(await clientConnection(consumer, { host: "127.0.0.1", port: broker.port }));
    const range = (key: number, name: string, ours: { min: number; max: number }) => {
      const theirs = ranges.get(key);
      if (!theirs) return "none";
      let used: string;
      try {
        used = `v${newestCommonVersion(name, ours, theirs, broker.bootstrap, "")}`;
      } catch {
        used = "none in common";
      }
      return `v${theirs.min}-v${theirs.max} (${used})`;
    };
    return { fetch: range(1, "Fetch", FETCH_VERSIONS), produce: range(0, "Produce", PRODUCE_VERSIONS) };
  } finally {
    await consumer.close(true);
    await broker.stop({ removeData: true });
  }
}
