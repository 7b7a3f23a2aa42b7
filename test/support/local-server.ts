/**
 * A server the suites start on a free loopback port with a temporary data directory (a
 * time-series server, an object store), under lib/runtime/spawn-guarded.ts so it dies with the
 * test run. It keeps its port and data across stop()/start(), so a test can take it down and
 * bring it back.
 */
import { type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../lib/kafka/local-broker.ts";
import { spawnGuarded } from "../../lib/runtime/spawn-guarded.ts";

export abstract class LocalServer {
  readonly dataDir: string;
  port = 0;
  #child: ChildProcess | undefined;
  #exited: Promise<unknown> | undefined;

  constructor(prefix: string) {
    this.dataDir = mkdtempSync(join(tmpdir(), prefix));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Process id of the server's guard process (lib/runtime/spawn-guarded.ts), whose child is the server; undefined when stopped. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  protected abstract command(): Promise<string[]>;
  protected abstract ready(): Promise<boolean>;
  /** The server's program: a name on PATH or a path. */
  protected abstract executable: string;
  /** What to do when the program is missing. */
  protected installHint = "run `bash scripts/setup.sh`";

  async start(timeoutMs = 30_000): Promise<void> {
    if (this.#child) return;
    if (!Bun.which(this.executable)) throw new Error(`${this.executable} is not installed; ${this.installHint}`);
    if (this.port === 0) this.port = await freePort();
    const logPath = join(this.dataDir, "server.log");
    const child = spawnGuarded(await this.command(), openSync(logPath, "a"));
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once("exit", resolve));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await this.ready().catch(() => false)) return;
      if (child.exitCode !== null || Date.now() > deadline) {
        await this.stop();
        const tail = readFileSync(logPath, "utf8").split("\n").slice(-20).join("\n");
        throw new Error(`${this.executable} did not become ready on ${this.url}; last lines of ${logPath}:\n${tail}`);
      }
      await Bun.sleep(100);
    }
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await this.#exited;
    clearTimeout(timer);
    this.#child = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
