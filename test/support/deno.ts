/**
 * Deno for the suites that check what runs under it (the notebooks' kernel): the pinned binary
 * the `deno` devDependency installs, run in the repository with `args`.
 */
import { join } from "node:path";
import { repoRoot } from "./pipeline-harness.ts";

export async function runDeno(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const deno = Bun.which("deno", { PATH: join(repoRoot, "node_modules", ".bin") });
  if (!deno) throw new Error("node_modules/.bin/deno is missing; run `bun install`");
  const child = Bun.spawn([deno, ...args], { cwd: repoRoot, env: { ...process.env, NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}
