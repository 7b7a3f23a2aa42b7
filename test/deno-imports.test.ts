/**
 * Notebooks run lib/ under Deno: every lib module must import there, not only under Bun.
 */
import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";

const repoRoot = resolve(import.meta.dirname, "..");

test("every lib/ module imports under Deno", async () => {
  const modules = readdirSync(join(repoRoot, "lib"), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.includes("testdata/"))
    .sort();
  expect(modules.length).toBeGreaterThan(0);
  const script = modules
    .map((m) => `try { await import("./lib/${m}"); console.log("ok ${m}"); } catch (e) { console.log("FAIL ${m}: " + e.message.split("\\n")[0]); }`)
    .join("\n");
  // Deno is a devDependency (the npm package `deno`), so `bun install` brings the pinned version.
  const deno = Bun.which("deno", { PATH: join(repoRoot, "node_modules", ".bin") });
  if (!deno) throw new Error("node_modules/.bin/deno is missing; run `bun install`");
  const child = Bun.spawn([deno, "eval", "--quiet", script], {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  expect({ code, stderr: stderr.trim() }).toEqual({ code: 0, stderr: "" });
  expect(stdout.trim().split("\n")).toEqual(modules.map((m) => `ok ${m}`));
}, 60_000);
