/**
 * One local broker per `bun test` process that requires SASL/SCRAM-SHA-512 logins (lib/kafka/local-broker.ts
 * `sasl`), for the suites that test authentication and secret handling. Started by the first
 * suite that asks, stopped by the preload's `afterAll` (test/support/preload.ts).
 */
import { LocalBroker } from "../../lib/kafka/local-broker.ts";

/** Distinctive, so a scan of worker output for it cannot match anything else. */
export const SASL_USER = "orderpulse-test";
export const SASL_PASSWORD = "sasl-Pw-7f3c9e1a-QzX";

let shared: Promise<LocalBroker> | undefined;

export function saslBroker(): Promise<LocalBroker> {
  shared ??= (async () => {
    const broker = new LocalBroker({
      sasl: { mechanism: "SCRAM-SHA-512", users: [{ name: SASL_USER, password: SASL_PASSWORD }] },
      onProgress: (line) => console.error(`[sasl broker] ${line}`),
    });
    await broker.start();
    return broker;
  })();
  return shared;
}

export async function stopSaslBroker(): Promise<void> {
  const current = shared;
  shared = undefined;
  const broker = current ? await current.catch(() => undefined) : undefined;
  await broker?.stop({ removeData: true });
}
