/**
 * Notebooks run lib/ under Deno: every lib module must import there, not only under Bun.
 */
import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { runDeno } from "./support/deno.ts";
import { repoRoot } from "./support/pipeline-harness.ts";

test("every lib/ module imports under Deno", async () => {
  const modules = readdirSync(join(repoRoot, "lib"), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.includes("testdata/"))
    .sort();
  expect(modules.length).toBeGreaterThan(0);
  const script = modules
    .map((m) => `try { await import("./lib/${m}"); console.log("ok ${m}"); } catch (e) { console.log("FAIL ${m}: " + e.message.split("\\n")[0]); }`)
    .join("\n");
  const { code, stdout, stderr } = await runDeno(["eval", "--quiet", script]);
  expect({ code, stderr: stderr.trim() }).toEqual({ code: 0, stderr: "" });
  expect(stdout.trim().split("\n")).toEqual(modules.map((m) => `ok ${m}`));
}, 60_000);
