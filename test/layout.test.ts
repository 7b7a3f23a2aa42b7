/**
 * The tree shows the architecture: `lib/` is one folder per domain, each folder imports only the
 * folders the README's Layout table allows it, that table has no cycle, and workers stay shells.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const repoRoot = resolve(import.meta.dirname, "..");
const libDir = join(repoRoot, "lib");

/** The Layout table's rows: folder -> the folders it may import. */
function allowedImports(): Map<string, Set<string>> {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Layout\n"), readme.indexOf("\n## ", readme.indexOf("## Layout\n") + 1));
  const rows = new Map<string, Set<string>>();
  for (const m of section.matchAll(/^\| `lib\/([a-z-]+)\/` \|.*\| ([^|]*) \|$/gm)) {
    const list = m[2]!.trim();
    rows.set(m[1]!, new Set(list === "—" ? [] : list.split(",").map((s) => s.trim().replace(/`/g, ""))));
  }
  return rows;
}

/** Relative import specifiers of a TypeScript source, type-only imports and worker-thread URLs included. */
function specifiers(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/(?:^|[\s;])(?:import|export)\b[^"';]*?\bfrom\s*["'](\.[^"']+)["']/gm)) found.push(m[1]!);
  for (const m of source.matchAll(/(?:^|[\s;])import\s*["'](\.[^"']+)["']/gm)) found.push(m[1]!);
  for (const m of source.matchAll(/\bimport\(\s*["'](\.[^"']+)["']\s*\)/g)) found.push(m[1]!);
  for (const m of source.matchAll(/new URL\(\s*["'](\.[^"']+)["']\s*,\s*import\.meta\.url\s*\)/g)) found.push(m[1]!);
  return found;
}

function libSources(): string[] {
  return readdirSync(libDir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.split("/").includes("testdata"))
    .sort();
}

test("lib/ has no module at its top level, and every folder is a row of the README's Layout table", () => {
  const topLevel = readdirSync(libDir).filter((f) => statSync(join(libDir, f)).isFile());
  expect(topLevel.filter((f) => f !== "index.ts")).toEqual([]);
  const folders = readdirSync(libDir).filter((f) => statSync(join(libDir, f)).isDirectory()).sort();
  expect(folders.length).toBeGreaterThan(1);
  expect([...allowedImports().keys()].sort()).toEqual(folders);
});

test("the Layout table's imports between folders have no cycle", () => {
  const allowed = allowedImports();
  for (const [folder, targets] of allowed) for (const t of targets) expect({ folder, imports: t, known: allowed.has(t) }).toEqual({ folder, imports: t, known: true });
  // Depth-first search: a folder met again while it is still on the path closes a cycle.
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (folder: string, path: string[]) => {
    if (state.get(folder) === "done") return;
    if (state.get(folder) === "open") {
      cycles.push([...path.slice(path.indexOf(folder)), folder].join(" -> "));
      return;
    }
    state.set(folder, "open");
    for (const next of allowed.get(folder) ?? []) visit(next, [...path, folder]);
    state.set(folder, "done");
  };
  for (const folder of allowed.keys()) visit(folder, []);
  expect(cycles).toEqual([]);
});

// Modules only: a unit test may take its fixtures from any folder (lz4's test draws random bytes
// from lib/event/prng.ts), which adds no dependency to what the module itself ships.
test("every import between lib/ modules' folders is one the Layout table allows", () => {
  const allowed = allowedImports();
  const violations: string[] = [];
  let crossings = 0;
  for (const file of libSources().filter((f) => !f.endsWith(".test.ts"))) {
    const from = file.split("/")[0]!;
    for (const spec of specifiers(readFileSync(join(libDir, file), "utf8"))) {
      const target = relative(libDir, resolve(dirname(join(libDir, file)), spec));
      if (target.startsWith("..")) continue; // test helpers outside lib/ (test/support/)
      const to = target.split("/")[0]!;
      if (to === from) continue;
      crossings += 1;
      if (!allowed.get(from)?.has(to)) violations.push(`lib/${file} imports lib/${target}, but ${from}/ may import only: ${[...(allowed.get(from) ?? [])].join(", ") || "nothing"}`);
    }
  }
  expect(violations).toEqual([]);
  expect(crossings).toBeGreaterThan(0); // the scan saw imports at all
});

test("the import scan sees type-only imports, re-exports and worker-thread URLs", () => {
  const source = [
    `import type { A } from "../window/a.ts";`,
    `export { B } from "./b.ts";`,
    `import {\n  C,\n  type D,\n} from "../event/c.ts";`,
    `const w = new Worker(new URL("./thread.ts", import.meta.url));`,
    `import "./side-effect.ts";`,
    `import x from "node:fs";`,
  ].join("\n");
  expect(specifiers(source).sort()).toEqual(["../event/c.ts", "../window/a.ts", "./b.ts", "./side-effect.ts", "./thread.ts"]);
});

test("no worker file is longer than 250 lines: a worker is a shell over lib/", () => {
  const dir = join(repoRoot, "workers");
  const long = readdirSync(dir)
    .filter((f) => f.endsWith(".ts"))
    .map((f) => ({ file: `workers/${f}`, lines: readFileSync(join(dir, f), "utf8").trimEnd().split("\n").length }))
    .filter((w) => w.lines > 250);
  expect(long).toEqual([]);
});
