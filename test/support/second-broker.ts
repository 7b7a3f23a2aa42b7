/**
 * A second Kafka broker (broker role only, node id 2) joining a LocalBroker's KRaft controller:
 * a two-broker cluster on loopback, so a test can take one broker down and leave the partitions
 * it leads without a leader — for real, as in a multi-broker cluster whose broker dies.
 *
 * It runs from the same Maven jars as lib/kafka/local-broker.ts, under the same guard (it dies
 * with this process), keeps its port and data across stop() and start(), and stops the way a
 * broker is stopped in production (SIGTERM: a controlled shutdown, after which the controller
 * moves or drops its leaderships at once).
 */
import { type ChildProcess, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createAdmin } from "../../lib/kafka/client.ts";
import { freePort, type LocalBroker, resolveKafkaClasspath } from "../../lib/kafka/local-broker.ts";
import { spawnGuarded } from "../../lib/runtime/spawn-guarded.ts";

const log4jPath = resolve(import.meta.dirname, "..", "..", "infra", "kafka", "log4j2.properties");

export class SecondBroker {
  readonly nodeId = 2;
  readonly dataDir = mkdtempSync(join(tmpdir(), "orderpulse-kafka-node2-"));
  #port: number | undefined;
  #process: ChildProcess | undefined;
  #exited: Promise<unknown> | undefined;

  /** `first` must be started: its cluster id and controller are what this broker joins. */
  constructor(private readonly first: LocalBroker) {}

  get bootstrap(): string {
    if (this.#port === undefined) throw new Error("the second broker has not been started yet");
    return `127.0.0.1:${this.#port}`;
  }

  /** Starts the broker (formatting its storage on first use) and resolves once the cluster's metadata lists it. */
  async start(): Promise<void> {
    if (this.#process) return;
    const classpath = resolveKafkaClasspath();
    this.#port ??= await freePort();
    const logDir = join(this.dataDir, "log");
    mkdirSync(logDir, { recursive: true });
    const properties = join(this.dataDir, "server.properties");
    writeFileSync(
      properties,
      `process.roles=broker
node.id=${this.nodeId}
controller.quorum.voters=1@127.0.0.1:${this.first.controllerPort}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:${this.#port}
advertised.listeners=PLAINTEXT://127.0.0.1:${this.#port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=${logDir}
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
broker.session.timeout.ms=30000
`,
    );
    if (!readFileSafe(join(logDir, "meta.properties"))) {
      const clusterId = /cluster\.id=(\S+)/.exec(readFileSync(join(this.first.dataDir, "log", "meta.properties"), "utf8"))?.[1];
      if (!clusterId) throw new Error(`no cluster.id in ${this.first.dataDir}/log/meta.properties`);
      const format = spawnSync("java", ["-cp", classpath, "kafka.tools.StorageTool", "format", `--cluster-id=${clusterId}`, "-c", properties], { encoding: "utf8" });
      if (format.status !== 0) throw new Error(`formatting the second broker failed:\n${format.stdout}${format.stderr}`);
    }
    const logFd = openSync(join(this.dataDir, "broker.log"), "a");
    const child = spawnGuarded(["java", "-Xmx256m", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1", `-Dlog4j2.configurationFile=${log4jPath}`, "-cp", classpath, "kafka.Kafka", properties], logFd);
    this.#process = child;
    this.#exited = new Promise((resolveExit) => child.once("exit", resolveExit));
    const admin = createAdmin(this.first.connection("second-broker"));
    try {
      const deadline = performance.now() + 60_000;
      for (;;) {
        const metadata = await admin.metadata({ topics: [], forceUpdate: true }).catch(() => undefined);
        if (metadata?.brokers.has(this.nodeId)) return;
        if (performance.now() > deadline) throw new Error(`the second broker did not join within 60 s; see ${this.dataDir}/broker.log`);
        await Bun.sleep(200);
      }
    } finally {
      await admin.close();
    }
  }

  /** SIGTERM (a controlled shutdown); resolves when the JVM has exited. Keeps the data. */
  async stop(): Promise<void> {
    const child = this.#process;
    if (!child) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    await this.#exited;
    clearTimeout(timer);
    this.#process = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

function readFileSafe(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
