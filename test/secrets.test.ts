/**
 * No worker prints a secret. Each worker runs as a real process with distinctive secret values
 * in its environment — the Kafka SASL password (against the SASL broker, which needs it), the
 * InfluxDB 2.x token (VictoriaMetrics takes the 2.x write API) and the 1.x password (InfluxDB
 * 1.6.7) — and everything it writes to stdout and stderr is scanned for each secret as is, in
 * base64 (alone and as HTTP Basic `user:secret`) and URL-encoded. Also `--help` with the
 * secrets set, and the error paths that are likeliest to quote a request: a refused Kafka login
 * and an InfluxDB that is not there.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureTopics } from "../lib/kafka/client.ts";
import { freePort, type LocalBroker } from "../lib/kafka/local-broker.ts";
import { type CapturedRun, leakedSecrets, runCaptured, secretForms } from "./support/captured-run.ts";
import { SASL_PASSWORD, SASL_USER, saslBroker } from "./support/sasl-broker.ts";
import { InfluxDb1, VictoriaMetrics } from "./support/timeseries.ts";

const INFLUX_TOKEN = "influx-Tok-3e7a1c55-Kw";
const INFLUX_USER = "influx-user";
const INFLUX_PASSWORD = "influx-Pw-91b2f0d4-Rm";
const WRONG_SASL_PASSWORD = "wrong-Pw-5c1d08e3-Lj";
const FORMS = [
  ...secretForms(SASL_PASSWORD, SASL_USER),
  ...secretForms(WRONG_SASL_PASSWORD, SASL_USER),
  ...secretForms(INFLUX_TOKEN),
  ...secretForms(INFLUX_PASSWORD, INFLUX_USER),
];

let broker: LocalBroker;
const vm = new VictoriaMetrics();
const influx = new InfluxDb1();
let scratch: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "orderpulse-secrets-"));
  [broker] = await Promise.all([saslBroker(), vm.start(), influx.start()]);
}, 90_000);
afterAll(async () => {
  await Promise.all([vm[Symbol.asyncDispose](), influx[Symbol.asyncDispose]()]);
  rmSync(scratch, { recursive: true, force: true });
});

/** Every secret at once, so a worker that printed its environment or a client's options would show one. */
function secretEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...broker.workerEnv(),
    INFLUX_TOKEN,
    INFLUX_USER,
    INFLUX_PASSWORD,
    ...extra,
  };
}

async function finished(run: CapturedRun): Promise<{ code: number; output: string }> {
  const code = await run.exited;
  return { code, output: run.output() };
}

async function topicWithOrders(prefix: string, count: number): Promise<string> {
  const topic = `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
  await ensureTopics(broker.connection("secrets"), [{ name: topic, partitions: 2 }]);
  const { code, output } = await finished(runCaptured("workers/produce.ts", ["--count", String(count), "--max", "--topic", topic], secretEnv()));
  expect(code).toBe(0);
  expect(leakedSecrets(output, FORMS)).toEqual([]);
  return topic;
}

function aggregateArgs(resultsPath: string, sink: string): string[] {
  return ["--sink", `jsonl:${resultsPath},${sink}`, "--idle-timeout", "1s", "--exit-when-idle", "2s", "--checkpoint-interval", "1s", "--shutdown-timeout", "3s"];
}

function aggregateEnv(name: string, extra: Record<string, string>): Record<string, string> {
  return secretEnv({ ORDERS_TOPIC: name, AGGREGATE_GROUP: `secrets-${name}`, CHECKPOINT_DIR: join(scratch, "checkpoints"), ...extra });
}

describe("no worker prints a secret", () => {
  test("--help of every worker, with every secret set", async () => {
    const scripts = ["produce", "aggregate", "tail", "pipeline", "kafka", "lake-writer", "compact"]
      .map((name) => `workers/${name}.ts`)
      .filter((path) => existsSync(path));
    const runs = await Promise.all(scripts.map((script) => finished(runCaptured(script, ["--help"], secretEnv({ KAFKA_SASL_PASSWORD: SASL_PASSWORD })))));
    runs.forEach((run, i) => {
      expect({ script: scripts[i], code: run.code, leaked: leakedSecrets(run.output, FORMS) }).toEqual({ script: scripts[i], code: 0, leaked: [] });
    });
    expect(runs[0]!.output).toContain("KAFKA_SASL_PASSWORD");
  }, 60_000);

  test("produce.ts --count 200, then aggregate.ts to JSON lines and InfluxDB 2.x (token) over SASL", async () => {
    const topic = await topicWithOrders("secrets-v2", 200);
    const resultsPath = join(scratch, `${topic}.jsonl`);
    const env = aggregateEnv(topic, { INFLUX_URL: vm.url, INFLUX_API: "v2", INFLUX_ORG: "shop", INFLUX_BUCKET: "orders" });
    const { code, output } = await finished(runCaptured("workers/aggregate.ts", aggregateArgs(resultsPath, "influx"), env));
    expect(code).toBe(0);
    expect(output).toContain("read 200 records");
    expect(readFileSync(resultsPath, "utf8").length).toBeGreaterThan(0);
    expect((await vm.export('{__name__="order_window_orders"}')).length).toBeGreaterThan(0); // the token was used, not just set
    expect(leakedSecrets(output, FORMS)).toEqual([]);
  }, 60_000);

  test("aggregate.ts to InfluxDB 1.x with a user and password", async () => {
    await influx.query("CREATE DATABASE secrets_v1");
    const topic = await topicWithOrders("secrets-v1", 200);
    const resultsPath = join(scratch, `${topic}.jsonl`);
    const env = aggregateEnv(topic, { INFLUX_URL: influx.url, INFLUX_API: "v1", INFLUX_DB: "secrets_v1" });
    const { code, output } = await finished(runCaptured("workers/aggregate.ts", aggregateArgs(resultsPath, "influx"), env));
    expect(code).toBe(0);
    expect(leakedSecrets(output, FORMS)).toEqual([]);
  }, 60_000);

  test("aggregate.ts whose InfluxDB is not there: its retry and give-up lines carry no secret", async () => {
    const topic = await topicWithOrders("secrets-down", 50);
    const deadUrl = `http://127.0.0.1:${await freePort()}`;
    const runs = await Promise.all(
      ["v1", "v2"].map((api) => {
        const env = aggregateEnv(topic, { INFLUX_URL: deadUrl, INFLUX_API: api, AGGREGATE_GROUP: `secrets-down-${api}-${topic}` });
        return finished(runCaptured("workers/aggregate.ts", aggregateArgs(join(scratch, `${topic}-${api}.jsonl`), "influx"), env));
      }),
    );
    for (const { code, output } of runs) {
      expect(code).toBe(1); // the sinks did not take the last results: said so, and exited non-zero
      expect(output).toContain(`cannot write to InfluxDB`);
      expect(leakedSecrets(output, FORMS)).toEqual([]);
    }
  }, 60_000);

  test("tail.ts, running and stopped by SIGTERM", async () => {
    const topic = await topicWithOrders("secrets-tail", 20);
    const run = runCaptured("workers/tail.ts", ["--topic", topic, "--from-beginning"], secretEnv());
    await run.waitFor(/"order_id"/);
    run.kill("SIGTERM");
    const { code, output } = await finished(run);
    expect(code).toBe(0);
    expect(leakedSecrets(output, FORMS)).toEqual([]);
  }, 60_000);

  test("a refused Kafka login, in every worker that logs in", async () => {
    const env = secretEnv({ KAFKA_SASL_PASSWORD: WRONG_SASL_PASSWORD, CHECKPOINT_DIR: join(scratch, "refused") });
    const runs = await Promise.all([
      finished(runCaptured("workers/produce.ts", ["--count", "10"], env)),
      finished(runCaptured("workers/aggregate.ts", ["--sink", "console"], env)),
      finished(runCaptured("workers/tail.ts", [], env)),
    ]);
    for (const run of runs) {
      expect(run.code).toBe(1);
      expect(run.output).toContain("Kafka authentication failed");
      expect(leakedSecrets(run.output, FORMS)).toEqual([]);
    }
  }, 60_000);
});
