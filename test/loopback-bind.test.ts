/**
 * The local Kafka broker (lib/kafka/local-broker.ts, plain, with SASL and with TLS) and the test time-series
 * servers (test/support/timeseries.ts) listen on 127.0.0.1 only.
 *
 * How: every TCP socket in LISTEN state that belongs to the server's process tree, whatever its
 * port (client, controller, InfluxDB's RPC port, anything the JVM opens). The tree is the guard
 * process and its descendants (/proc/<pid>/task/<tid>/children); their sockets are the
 * `socket:[inode]` links under /proc/<pid>/fd; /proc/net/tcp and /proc/net/tcp6 give each
 * inode's local address and state (0A = LISTEN). Linux only, as the rest of the test setup.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { LocalBroker } from "../lib/kafka/local-broker.ts";
import { testLocalBroker } from "./support/broker.ts";
import { saslBroker } from "./support/sasl-broker.ts";
import { tlsBroker } from "./support/tls-broker.ts";
import { InfluxDb1, VictoriaMetrics } from "./support/timeseries.ts";

function descendants(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const tasks = (() => {
      try {
        return readdirSync(`/proc/${out[i]}/task`);
      } catch {
        return [];
      }
    })();
    for (const tid of tasks) {
      try {
        for (const child of readFileSync(`/proc/${out[i]}/task/${tid}/children`, "utf8").trim().split(/\s+/)) if (child) out.push(Number(child));
      } catch {
        // the task ended while we looked
      }
    }
  }
  return out;
}

function socketInodes(pids: number[]): Set<string> {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match) inodes.add(match[1]!);
      } catch {
        // closed meanwhile
      }
    }
  }
  return inodes;
}

/** `/proc/net/tcp` address `0100007F:1F90` as `127.0.0.1:8080`; tcp6 as `[hex]:port`. */
function address(hex: string): string {
  const [ip, port] = hex.split(":") as [string, string];
  const portNumber = Number.parseInt(port, 16);
  if (ip.length === 8) return `${[...Buffer.from(ip, "hex")].reverse().join(".")}:${portNumber}`;
  // tcp6: four little-endian 32-bit words. ::ffff:127.0.0.1 and ::1 are loopback too, :: is not.
  const words = ip.match(/.{8}/g)!.map((w) => Buffer.from(w, "hex").reverse().toString("hex")).join("");
  // An IPv4-mapped address (a JVM binds 127.0.0.1 through an IPv6 socket): shown as the IPv4 one.
  if (words.startsWith("00000000000000000000ffff")) return `${[...Buffer.from(words.slice(24), "hex")].join(".")}:${portNumber}`;
  return `[${words}]:${portNumber}`;
}

/** Local addresses of every listening TCP socket of the process tree under `pid`. */
function listeningAddresses(pid: number): string[] {
  const inodes = socketInodes(descendants(pid));
  const out: string[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").trim().split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === "0A" && inodes.has(fields[9]!)) out.push(address(fields[1]!));
    }
  }
  return out.sort();
}

/** 127.0.0.0/8 or ::1; never 0.0.0.0, :: or a host address. */
const LOOPBACK = /^(127\.\d+\.\d+\.\d+:\d+|\[0{31}1\]:\d+)$/;

const vm = new VictoriaMetrics();
const influx = new InfluxDb1();
/** The suites' shared broker, or (when KAFKA_BROKERS points elsewhere) one of our own. */
let plain: LocalBroker;
let ownBroker: LocalBroker | undefined;
beforeAll(async () => {
  const shared = await testLocalBroker();
  if (!shared) {
    ownBroker = new LocalBroker();
    await ownBroker.start();
  }
  plain = shared ?? ownBroker!;
  await Promise.all([vm.start(), influx.start()]);
}, 90_000);
afterAll(() => Promise.all([vm[Symbol.asyncDispose](), influx[Symbol.asyncDispose](), ownBroker?.[Symbol.asyncDispose]()]));

test("address() reads /proc/net/tcp's little-endian form", () => {
  expect(address("0100007F:1F90")).toBe("127.0.0.1:8080");
  expect(address("00000000:0050")).toBe("0.0.0.0:80");
  expect(address("0000000000000000FFFF00000100007F:1F90")).toBe("127.0.0.1:8080");
  expect(address("00000000000000000000000000000000:1F90")).toBe("[00000000000000000000000000000000]:8080");
});

test("the local Kafka broker, without and with SASL, and with TLS, listens on 127.0.0.1 only: client and controller ports", async () => {
  for (const broker of [plain, await saslBroker(), (await tlsBroker()).broker]) {
    const listening = listeningAddresses(broker.pid!);
    expect(listening).toContain(`127.0.0.1:${broker.port}`);
    expect(listening).toContain(`127.0.0.1:${broker.controllerPort}`);
    expect(listening.filter((a) => !LOOPBACK.test(a))).toEqual([]);
  }
}, 90_000);

test("VictoriaMetrics and InfluxDB 1.x listen on 127.0.0.1 only", () => {
  for (const server of [vm, influx]) {
    const listening = listeningAddresses(server.pid!);
    expect(listening).toContain(`127.0.0.1:${server.port}`);
    expect(listening.filter((a) => !LOOPBACK.test(a))).toEqual([]);
  }
});
