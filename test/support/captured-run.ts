/**
 * A worker run with both of its output streams kept, for suites that check everything a worker
 * prints (test/pipeline-harness.ts `startWorker` keeps stderr only).
 */
import { repoRoot } from "./pipeline-harness.ts";

export interface CapturedRun {
  /** Exit code; a signal death counts as 128 + its number, as a shell reports it. */
  exited: Promise<number>;
  /** stdout and stderr so far, in the order they were read. */
  output(): string;
  kill(signal?: NodeJS.Signals): void;
  /** Resolves when `pattern` appears in the output; rejects after `timeoutMs` or when the run ends without it. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

export function runCaptured(script: string, args: string[], env: Record<string, string>): CapturedRun {
  const child = Bun.spawn([process.execPath, "run", script, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  let text = "";
  const changed = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      for (const f of changed) f();
    }
  };
  const drained = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const exited = child.exited.then(async (code) => {
    await drained;
    return code;
  });
  return {
    exited,
    output: () => text,
    kill: (signal = "SIGTERM") => child.kill(signal),
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise<void>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          changed.delete(check);
        };
        const check = () => {
          if (pattern.test(text)) {
            done();
            resolve();
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${pattern} in the output within ${timeoutMs} ms:\n${text.slice(-3000)}`));
        }, timeoutMs);
        changed.add(check);
        void exited.then((code) => {
          if (!pattern.test(text)) {
            done();
            reject(new Error(`the worker exited (${code}) before ${pattern} appeared:\n${text.slice(-3000)}`));
          }
        });
        check();
      });
    },
  };
}

/** The forms a secret could leak in: as is, base64 (alone and as HTTP Basic `user:secret`), URL-encoded. */
export function secretForms(secret: string, user?: string): string[] {
  const forms = [secret, Buffer.from(secret).toString("base64"), Buffer.from(secret).toString("base64url"), encodeURIComponent(secret)];
  if (user !== undefined) forms.push(Buffer.from(`${user}:${secret}`).toString("base64"));
  return [...new Set(forms)];
}

/** The secret forms found in `text` (empty when none). */
export function leakedSecrets(text: string, forms: readonly string[]): string[] {
  return forms.filter((form) => text.includes(form));
}
