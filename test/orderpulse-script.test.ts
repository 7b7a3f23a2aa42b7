/**
 * ./orderpulse, the README's two commands: what it runs, and that CI runs the README's test
 * command as written. (Installing on a machine without the toolchain is scripts/setup.sh's part.)
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./support/pipeline-harness.ts";

async function run(args: string[]) {
  const child = Bun.spawn(args, { cwd: repoRoot, stdout: "pipe", stderr: "pipe" });
  const [code, stdout, stderr] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  return { code, stdout, stderr };
}

test("the README's two commands are ./orderpulse pipeline and ./orderpulse test, and CI runs the test one as written", () => {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
  const block = /## Two commands[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)![1]!;
  const commands = block.trim().split("\n").map((line) => line.split("#")[0]!.trim());
  expect(commands).toEqual(["./orderpulse pipeline", "./orderpulse test"]);
  const ci = readFileSync(join(repoRoot, ".ci", "run"), "utf8").split("\n").filter((line) => line && !line.startsWith("#") && !line.startsWith("set ") && !line.startsWith("cd "));
  expect(ci).toEqual(["./orderpulse test"]);
});

test("./orderpulse help lists its commands; an unknown command exits 2 with the same list", async () => {
  const help = await run(["./orderpulse", "help"]);
  expect(help.code).toBe(0);
  for (const command of ["pipeline", "test", "setup", "help"]) expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, "m"));
  const unknown = await run(["./orderpulse", "deploy"]);
  expect({ code: unknown.code, says: unknown.stderr.startsWith("./orderpulse: unknown command 'deploy'\nUsage: ./orderpulse <command>") }).toEqual({ code: 2, says: true });
});

test("./orderpulse pipeline --help is the pipeline's own help", async () => {
  const { code, stdout } = await run(["./orderpulse", "pipeline", "--help"]);
  expect(code).toBe(0);
  expect(stdout).toStartWith("Usage: bun run pipeline");
});

test("scripts/setup.sh refuses an option it does not know, exit 2", async () => {
  const { code, stderr } = await run(["bash", "scripts/setup.sh", "--everything"]);
  expect({ code, stderr }).toEqual({ code: 2, stderr: "usage: bash scripts/setup.sh [--pipeline]\n" });
});
