/** The whole project type-checks under strict settings (tsconfig.json). */
import { expect, test } from "bun:test";
import { join, resolve } from "node:path";

const repoRoot = resolve(import.meta.dirname, "..");

test("tsc --noEmit reports no type errors", async () => {
  const child = Bun.spawn([join(repoRoot, "node_modules", ".bin", "tsc"), "--noEmit", "-p", repoRoot], {
    cwd: repoRoot,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  expect(`${stdout}${stderr}`.trim()).toBe("");
  expect(code).toBe(0);
}, 120_000);
