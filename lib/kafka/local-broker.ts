/**
 * A single-node Apache Kafka 4.x broker (KRaft, combined broker + controller) on loopback,
 * for development (`bun run kafka`) and for tests. No Docker: the broker's jars are resolved
 * once by Maven from `infra/kafka/pom.xml` into the local Maven repository, and the resulting
 * classpath is cached outside the repository (`~/.cache/orderpulse`, or `ORDERPULSE_CACHE`).
 *
 * The broker keeps its ports and data directory across `stop()` and `start()`, so a test can
 * take it down and bring it back as a real outage would.
 */
import { type ChildProcess, spawnSync } from "node:child_process";
import { createHash, getRandomValues } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { intParser, type SettingsSpec } from "../runtime/config.ts";
import { type KafkaConnection, waitForBroker } from "./client.ts";
import type { KafkaSecurity, SecurityProtocol } from "./security.ts";
import { spawnGuarded } from "../runtime/spawn-guarded.ts";

const repoRoot = resolve(import.meta.dirname, "..", "..");
const pomPath = join(repoRoot, "infra", "kafka", "pom.xml");
const log4jPath = join(repoRoot, "infra", "kafka", "log4j2.properties");

/** The environment of the local broker (`bun run kafka`, `bun run pipeline`). */
export const localBrokerSettings = {
  KAFKA_PORT: { describe: "client port on 127.0.0.1", form: "a port 1..65535", default: 9092, parse: intParser(1, 65535) },
  KAFKA_DATA_DIR: {
    describe: "broker storage (formatted on first start)",
    form: "a directory path",
    default: "data/kafka",
    parse: (raw: string) => raw,
  },
  KAFKA_VERSION: {
    describe: "Apache Kafka release of the local broker (README: Kafka compatibility)",
    form: "a release number, 3.3.0 or later, such as 3.6.2",
    default: kafkaVersion(),
    parse: parseKafkaRelease,
  },
  KAFKA_HEAP: {
    describe: "JVM maximum heap of the broker",
    form: "a JVM size such as 512m or 1g",
    default: "512m",
    parse: (raw: string) => {
      if (!/^\d+[kKmMgG]$/.test(raw)) throw new RangeError("use a number followed by k, m or g");
      return raw;
    },
  },
} satisfies SettingsSpec;

export interface LocalBrokerOptions {
  /**
   * The Apache Kafka release to run, 3.3.0 or later (KRaft in production from 3.3): its jars come
   * from Maven Central like the default's. Default: `kafkaVersion()`, the pom's.
   */
  version?: string;
  /** Where the broker keeps its log segments and metadata. Default: a new temporary directory, removed by `stop({ removeData: true })`. */
  dataDir?: string;
  /** Client port on 127.0.0.1. Default: a free port chosen at the first start. */
  port?: number;
  /** JVM maximum heap. Default `512m`. */
  heap?: string;
  /** Default partition count for topics created without one. Default 3. */
  defaultPartitions?: number;
  /** Called with one human-readable line per step (resolving jars, formatting, waiting). */
  onProgress?: (line: string) => void;
  /** How long to wait for the broker to answer, in ms. Default 60 000. */
  startTimeoutMs?: number;
  /**
   * Clients must log in with SASL/SCRAM: the client listener becomes SASL_PLAINTEXT (still on
   * 127.0.0.1) and the users' credentials are written into the metadata when storage is formatted
   * (so they apply to a new data directory only). Default: no authentication (PLAINTEXT).
   */
  sasl?: LocalBrokerSasl;
  /**
   * Clients must speak TLS: the client listener becomes SSL (SASL_SSL with `sasl`), still on
   * 127.0.0.1, serving the key and certificate in `keystore`; the broker's own connections to
   * that listener trust `truststore`. Clients get `caPem` as their trusted CA
   * (`connection()`, `workerEnv()`). Default: no TLS.
   */
  tls?: LocalBrokerTls;
}

export interface LocalBrokerTls {
  /** PKCS12 keystore with the broker's key and a certificate for 127.0.0.1 (an IP subject alternative name). */
  keystorePath: string;
  keystorePassword: string;
  /** PKCS12 truststore holding the CA that signed the broker's certificate. */
  truststorePath: string;
  truststorePassword: string;
  /** Path of that CA's certificate as PEM, for clients (KAFKA_SSL_CA_FILE). */
  caPemPath: string;
}

export interface LocalBrokerSasl {
  mechanism: "SCRAM-SHA-512" | "SCRAM-SHA-256";
  /** Names and passwords of `[A-Za-z0-9._~!@#%^*+-]`: they pass through a command line and a JAAS line unquoted. */
  users: { name: string; password: string }[];
}

const SCRAM_TEXT = /^[A-Za-z0-9._~!@#%^*+-]+$/;

/** The Apache Kafka version the local broker runs unless told otherwise: `<kafka.version>` of infra/kafka/pom.xml. */
export function kafkaVersion(): string {
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(pomPath, "utf8"));
  if (!match?.[1]) throw new Error(`cannot read <kafka.version> from ${pomPath}`);
  return match[1];
}

/**
 * The Apache Kafka releases orderpulse is tested against, oldest first (README: Kafka
 * compatibility): scripts/kafka-matrix.ts runs all of them, CI the first and the last.
 */
export const SUPPORTED_KAFKA_RELEASES = ["3.3.2", "3.6.2", "3.9.1", "4.1.1"] as const;

/** An Apache Kafka release number such as 3.6.2: what `version` options accept. */
const KAFKA_RELEASE = /^(\d+)\.(\d+)\.\d+$/;

/**
 * `raw` if it names an Apache Kafka release the local broker can run: 3.3.0 or later, the first
 * releases with KRaft for production (older ones need ZooKeeper). Throws a RangeError otherwise.
 */
export function parseKafkaRelease(raw: string): string {
  const match = KAFKA_RELEASE.exec(raw);
  if (!match) throw new RangeError(`use a release number such as 3.6.2`);
  const [major, minor] = [Number(match[1]), Number(match[2])];
  if (major < 3 || (major === 3 && minor < 3)) throw new RangeError(`Kafka ${raw} needs ZooKeeper; the local broker runs KRaft, from 3.3.0 on`);
  return raw;
}

/**
 * The Java classpath of Apache Kafka `version` (default: the pom's), resolved through Maven on
 * first use (the pom with `-Dkafka.version`) and cached by version and the pom's hash. Throws
 * with Maven's own output when resolution fails.
 */
export function resolveKafkaClasspath(onProgress: (line: string) => void = () => {}, version = kafkaVersion()): string {
  parseKafkaRelease(version);
  const pom = readFileSync(pomPath);
  const hash = createHash("sha256").update(pom).digest("hex").slice(0, 12);
  const cacheDir = process.env.ORDERPULSE_CACHE ?? join(homedir(), ".cache", "orderpulse");
  const cached = join(cacheDir, `kafka-${version}-${hash}.classpath`);
  if (existsSync(cached)) {
    const classpath = readFileSync(cached, "utf8").trim();
    if (classpath.split(":").every((jar) => existsSync(jar))) return classpath;
  }
  mkdirSync(cacheDir, { recursive: true });
  onProgress(`resolving Apache Kafka ${version} jars with Maven (once; cached in ${cacheDir})`);
  const result = spawnSync(
    "mvn",
    ["-q", "-B", "-f", pomPath, "dependency:build-classpath", `-Dkafka.version=${version}`, `-Dmdep.outputFile=${cached}.tmp`],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
  if (result.error || result.status !== 0) {
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim().split("\n").slice(-20).join("\n");
    throw new Error(
      `could not resolve the jars of Kafka ${version} with Maven (${result.error?.message ?? `exit ${result.status}`}).\n` +
        `Is Maven installed (mvn --version) and the Maven repository reachable?\n${output}`,
    );
  }
  const classpath = readFileSync(`${cached}.tmp`, "utf8").trim();
  writeFileSync(cached, classpath);
  rmSync(`${cached}.tmp`);
  return classpath;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * A KRaft cluster id: 16 random bytes, base64url without padding (what `kafka-storage random-uuid`
 * prints). Like Kafka's own Uuid.randomUuid, it never starts with "-", which a command line would
 * read as an option (it broke `format -t <id>` once in about 64 starts).
 */
export function randomClusterId(): string {
  for (;;) {
    const id = Buffer.from(getRandomValues(new Uint8Array(16))).toString("base64url");
    if (!id.startsWith("-")) return id;
  }
}


export class LocalBroker {
  readonly dataDir: string;
  #ownsDataDir: boolean;
  #port: number | undefined;
  #controllerPort: number | undefined;
  #process: ChildProcess | undefined;
  #exited: Promise<number | null> | undefined;
  #options: LocalBrokerOptions;

  constructor(options: LocalBrokerOptions = {}) {
    if (options.sasl) {
      if (options.sasl.users.length === 0) throw new RangeError("sasl.users: give at least one user");
      for (const user of options.sasl.users) {
        if (!SCRAM_TEXT.test(user.name) || !SCRAM_TEXT.test(user.password)) {
          throw new RangeError(`sasl.users: ${JSON.stringify(user.name)}: names and passwords are 1 or more of A-Z a-z 0-9 . _ ~ ! @ # % ^ * + -`);
        }
      }
    }
    this.#options = options;
    this.#ownsDataDir = options.dataDir === undefined;
    this.dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "orderpulse-kafka-"));
    this.#port = options.port;
  }

  /** The Apache Kafka release this broker runs. */
  get version(): string {
    return this.#options.version ?? kafkaVersion();
  }

  get port(): number {
    if (this.#port === undefined) throw new Error("the broker has not been started yet");
    return this.#port;
  }

  get bootstrap(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * A connection to this broker. With `sasl`, it logs in as the first user (or `user`);
   * `password` overrides that user's password (to test a refused login).
   */
  connection(clientId = "orderpulse", login: { user?: string; password?: string } = {}): KafkaConnection {
    const { sasl, tls } = this.#options;
    const protocol = clientProtocol(this.#options);
    if (protocol === "PLAINTEXT") return { brokers: [this.bootstrap], clientId };
    const security: KafkaSecurity = { protocol };
    if (tls) security.tls = { ca: readFileSync(tls.caPemPath, "utf8") };
    if (sasl) {
      const user = sasl.users.find((u) => login.user === undefined || u.name === login.user) ?? { name: login.user ?? "", password: "" };
      const password = login.password ?? user.password;
      security.sasl = { mechanism: sasl.mechanism, username: user.name, password: () => password };
    }
    return { brokers: [this.bootstrap], clientId, security };
  }

  /** The environment a worker needs to reach this broker (KAFKA_BROKERS and, with SASL, the protocol, mechanism and the first user). */
  workerEnv(): Record<string, string> {
    const { sasl, tls } = this.#options;
    const env: Record<string, string> = { KAFKA_BROKERS: this.bootstrap };
    const protocol = clientProtocol(this.#options);
    if (protocol !== "PLAINTEXT") env.KAFKA_SECURITY_PROTOCOL = protocol;
    if (tls) env.KAFKA_SSL_CA_FILE = tls.caPemPath;
    if (sasl) {
      env.KAFKA_SASL_MECHANISM = sasl.mechanism;
      env.KAFKA_SASL_USERNAME = sasl.users[0]!.name;
      env.KAFKA_SASL_PASSWORD = sasl.users[0]!.password;
    }
    return env;
  }

  /** The KRaft controller's port on 127.0.0.1 (not for clients). */
  get controllerPort(): number {
    if (this.#controllerPort === undefined) throw new Error("the broker has not been started yet");
    return this.#controllerPort;
  }

  /** Process id of the broker's guard process (lib/runtime/spawn-guarded.ts), whose child is the JVM; undefined when stopped. */
  get pid(): number | undefined {
    return this.#process?.pid;
  }

  get running(): boolean {
    return this.#process !== undefined;
  }

  /** Starts the broker (formatting storage on first use) and resolves when it answers a client. */
  async start(): Promise<void> {
    if (this.#process) return;
    const progress = this.#options.onProgress ?? (() => {});
    const classpath = resolveKafkaClasspath(progress, this.version);
    this.#port ??= await freePort();
    this.#controllerPort ??= await freePort();
    const logDir = join(this.dataDir, "log");
    mkdirSync(logDir, { recursive: true });
    const propertiesPath = join(this.dataDir, "server.properties");
    const sasl = this.#options.sasl;
    // The broker's own SCRAM login on its inter-broker listener: random, kept in the data
    // directory so that a restart (which rewrites server.properties) uses the formatted one.
    const brokerSecretPath = join(this.dataDir, "broker-user.secret");
    if (sasl && !existsSync(brokerSecretPath)) writeFileSync(brokerSecretPath, randomHex(24), { mode: 0o600 });
    const brokerUser = sasl ? { name: "orderpulse-broker", password: readFileSync(brokerSecretPath, "utf8") } : undefined;
    writeFileSync(propertiesPath, serverProperties(this.#port, this.#controllerPort, logDir, this.#options, brokerUser), { mode: 0o600 });

    if (!existsSync(join(logDir, "meta.properties"))) {
      progress(`formatting broker storage in ${logDir}`);
      const scram = sasl && brokerUser
        ? [...sasl.users, brokerUser].flatMap((u) => ["--add-scram", `${sasl.mechanism}=[name=${u.name},password=${u.password}]`])
        : [];
      const format = spawnSync(
        "java",
        ["-cp", classpath, "kafka.tools.StorageTool", "format", `--cluster-id=${randomClusterId()}`, "-c", propertiesPath, ...scram],
        { encoding: "utf8" },
      );
      if (format.error || format.status !== 0) {
        throw new Error(
          `kafka storage format failed (${format.error?.message ?? `exit ${format.status}`}); is JDK 17+ installed (java -version)?\n` +
            `${format.stdout}${format.stderr}`.trim(),
        );
      }
    }

    progress(`starting Kafka ${this.version} on ${this.bootstrap}`);
    const logPath = join(this.dataDir, "broker.log");
    const logFd = openSync(logPath, "a");
    const child = spawnGuarded(
      [
        "java",
        `-Xmx${this.#options.heap ?? "512m"}`,
        "-XX:+UseG1GC",
        "-XX:TieredStopAtLevel=1",
        "-Xshare:auto",
        `-Dlog4j2.configurationFile=${log4jPath}`,
        "-cp",
        classpath,
        "kafka.Kafka",
        propertiesPath,
      ],
      logFd,
    );
    this.#process = child;
    this.#exited = new Promise((resolveExit) => child.once("exit", (code) => resolveExit(code)));
    let exitedEarly = false;
    void this.#exited.then(() => {
      exitedEarly = true;
    });

    try {
      await waitForBroker(this.connection("orderpulse-local"), {
        timeoutMs: this.#options.startTimeoutMs ?? 60_000,
        intervalMs: 200,
        onWait: () => {
          if (exitedEarly) throw new Error("exited");
        },
      });
    } catch (error) {
      await this.stop();
      const tail = readFileSync(logPath, "utf8").trim().split("\n").slice(-30).join("\n");
      throw new Error(`the local Kafka broker did not start; last lines of ${logPath}:\n${tail}`, { cause: error });
    }
  }

  /** Stops the broker (SIGTERM, then SIGKILL after `timeoutMs`). Keeps its data unless `removeData`. */
  async stop(options: { timeoutMs?: number; removeData?: boolean } = {}): Promise<void> {
    const child = this.#process;
    if (child && this.#exited) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 20_000);
      await this.#exited;
      clearTimeout(timer);
    }
    this.#process = undefined;
    this.#exited = undefined;
    if (options.removeData && this.#ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop({ removeData: true });
  }
}

/** The client listener's security protocol for these options. */
function clientProtocol(options: LocalBrokerOptions): SecurityProtocol {
  if (options.tls) return options.sasl ? "SASL_SSL" : "SSL";
  return options.sasl ? "SASL_PLAINTEXT" : "PLAINTEXT";
}

function randomHex(bytes: number): string {
  return Buffer.from(getRandomValues(new Uint8Array(bytes))).toString("hex");
}

function serverProperties(
  port: number,
  controllerPort: number,
  logDir: string,
  options: LocalBrokerOptions,
  brokerUser: { name: string; password: string } | undefined,
): string {
  // Every listener is on 127.0.0.1. With SASL, the one client listener is SASL_PLAINTEXT and the
  // broker logs in to it too (inter-broker), so no port accepts an unauthenticated client; the
  // controller listener stays PLAINTEXT on loopback (only the broker itself speaks to it). No
  // authorizer is configured, so every authenticated user may do everything.
  // With TLS the client listener is SSL (or SASL_SSL): the broker's certificate is checked by
  // clients against the test CA, and by the broker itself (its own inter-broker client) against
  // its truststore; clients need no certificate of their own (ssl.client.auth=none).
  const { sasl, tls } = options;
  const listener = clientProtocol(options);
  const saslLines = sasl && brokerUser
    ? `sasl.enabled.mechanisms=${sasl.mechanism}
sasl.mechanism.inter.broker.protocol=${sasl.mechanism}
listener.name.${listener.toLowerCase()}.${sasl.mechanism.toLowerCase()}.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${brokerUser.name}" password="${brokerUser.password}";
`
    : "";
  const tlsLines = tls
    ? `ssl.keystore.type=PKCS12
ssl.keystore.location=${tls.keystorePath}
ssl.keystore.password=${tls.keystorePassword}
ssl.key.password=${tls.keystorePassword}
ssl.truststore.type=PKCS12
ssl.truststore.location=${tls.truststorePath}
ssl.truststore.password=${tls.truststorePassword}
ssl.client.auth=none
`
    : "";
  return `# written by orderpulse (lib/kafka/local-broker.ts); rewritten at every start
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controllerPort}
listeners=${listener}://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}
advertised.listeners=${listener}://127.0.0.1:${port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=${listener}:${listener},CONTROLLER:PLAINTEXT
inter.broker.listener.name=${listener}
${saslLines}${tlsLines}log.dirs=${logDir}
num.partitions=${options.defaultPartitions ?? 3}
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Lets tests use short session timeouts, so a killed consumer leaves its group quickly.
group.min.session.timeout.ms=1000
# On two busy cores the JVM can miss its own controller's 9 s heartbeat deadline; a fenced broker
# then refuses topic creation ("All brokers are currently fenced"). Give it longer.
broker.session.timeout.ms=30000
`;
}
