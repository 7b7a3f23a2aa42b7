/**
 * One local broker per `bun test` process whose only client listener is TLS (SSL on 127.0.0.1,
 * lib/kafka/local-broker.ts `tls`), with throw-away keys from test/support/tls-material.ts, for the
 * suites that test TLS and loopback binding. Started by the first suite that asks, stopped by
 * the preload's `afterAll` (test/support/preload.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalBroker } from "../../lib/kafka/local-broker.ts";
import { makeTlsMaterial, type TlsMaterial } from "./tls-material.ts";

let shared: Promise<{ broker: LocalBroker; material: TlsMaterial; dir: string }> | undefined;

export function tlsBroker(): Promise<{ broker: LocalBroker; material: TlsMaterial }> {
  shared ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "orderpulse-tls-"));
    const material = makeTlsMaterial(dir);
    const broker = new LocalBroker({ tls: material, onProgress: (line) => console.error(`[tls broker] ${line}`) });
    await broker.start();
    return { broker, material, dir };
  })();
  return shared;
}

export async function stopTlsBroker(): Promise<void> {
  const current = shared;
  shared = undefined;
  const running = current ? await current.catch(() => undefined) : undefined;
  await running?.broker.stop({ removeData: true });
  if (running) rmSync(running.dir, { recursive: true, force: true });
}
