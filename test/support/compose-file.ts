/**
 * Reading infra/compose.yaml the way Compose does, for tests that cannot run a Docker engine:
 * variable interpolation (the Compose Specification's `${VAR}` forms), `.env` files, a worker's
 * documented environment (its `--help`), and the `process.env` reads in a worker's import graph.
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

export type Env = Record<string, string | undefined>;

/** What interpolating one string produced, and which variables it referred to. */
export interface Interpolated {
  value: string;
  variables: string[];
}

/**
 * Interpolates `text` as Compose does: `$$` is a literal `$`; `${VAR}`, `$VAR`, `${VAR:-default}`
 * (unset or empty), `${VAR-default}` (unset), `${VAR:?message}` / `${VAR?message}` (throws
 * `RangeError` naming the variable) and `${VAR:+alt}` / `${VAR+alt}`. Nested expressions in a
 * default are not supported and throw `SyntaxError`, as anything else malformed does.
 */
export function interpolate(text: string, env: Env): Interpolated {
  const variables: string[] = [];
  let value = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch !== "$") {
      value += ch;
      continue;
    }
    const next = text[i + 1];
    if (next === "$") {
      value += "$";
      i++;
      continue;
    }
    if (next === "{") {
      const end = text.indexOf("}", i + 2);
      if (end < 0) throw new SyntaxError(`unterminated \${ in ${JSON.stringify(text)}`);
      const body = text.slice(i + 2, end);
      if (body.includes("$")) throw new SyntaxError(`nested interpolation is not supported here: \${${body}}`);
      const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(body);
      if (!match) throw new SyntaxError(`not a Compose variable expression: \${${body}}`);
      const [, name, op, arg = ""] = match as unknown as [string, string, string | undefined, string | undefined];
      variables.push(name);
      const raw = env[name];
      const unset = raw === undefined;
      const missing = op?.startsWith(":") ? unset || raw === "" : unset;
      switch (op) {
        case undefined:
          value += raw ?? "";
          break;
        case ":-":
        case "-":
          value += missing ? arg : raw;
          break;
        case ":?":
        case "?":
          if (missing) throw new RangeError(`required variable ${name} is missing a value: ${arg}`);
          value += raw;
          break;
        case ":+":
        case "+":
          value += missing ? "" : arg;
          break;
        default:
          throw new SyntaxError(`unknown operator ${op} in \${${body}}`);
      }
      i = end;
      continue;
    }
    const bare = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
    if (!bare) throw new SyntaxError(`a lone $ in ${JSON.stringify(text)}: write $$ for a literal dollar`);
    variables.push(bare[0]);
    value += env[bare[0]] ?? "";
    i += bare[0].length;
  }
  return { value, variables };
}

/** Every string in a parsed YAML value, with its path (`services.kafka.environment.X`). */
export function* strings(value: unknown, path = ""): Generator<[path: string, text: string]> {
  if (typeof value === "string") yield [path, value];
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* strings(v, `${path}[${i}]`);
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) yield* strings(v, path ? `${path}.${k}` : k);
  }
}

/** Interpolates every string in `value` (keys stay as they are), as `docker compose config` does. */
export function interpolateAll<T>(value: T, env: Env): T {
  if (typeof value === "string") return interpolate(value, env).value as T;
  if (Array.isArray(value)) return value.map((v) => interpolateAll(v, env)) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateAll(v, env)])) as T;
  }
  return value;
}

/** A `.env` file: `KEY=VALUE` lines; blank lines and `#` comments skipped; no quoting rules. */
export function parseDotEnv(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [n, line] of text.split("\n").entries()) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(trimmed);
    if (!match) throw new SyntaxError(`line ${n + 1} is not KEY=VALUE: ${JSON.stringify(line)}`);
    out.set(match[1]!, match[2]!);
  }
  return out;
}

/** One environment variable as a worker's `--help` documents it. */
export interface DocumentedVariable {
  name: string;
  /** The default `--help` shows; undefined when it shows `(unset)`. */
  defaultValue: string | undefined;
}

/** The "Environment:" section of a worker's `--help` output. */
export function parseHelpEnvironment(help: string): DocumentedVariable[] {
  const start = help.indexOf("\nEnvironment:\n");
  if (start < 0) throw new RangeError("the help text has no Environment: section");
  const lines = help.slice(start + "\nEnvironment:\n".length).split("\n");
  const out: DocumentedVariable[] = [];
  for (let i = 0; i < lines.length; i++) {
    const name = /^ {2}([A-Z][A-Z0-9_]*)\s/.exec(lines[i] ?? "")?.[1];
    if (!name) continue;
    const form = /form: .*; default: (.*)$/.exec(lines[i + 1] ?? "");
    if (!form) throw new RangeError(`${name} in --help has no "form: ...; default: ..." line`);
    out.push({ name, defaultValue: form[1] === "(unset)" ? undefined : form[1] });
  }
  return out;
}

/** `bun run <script> --help`, run from `repoRoot` with an environment free of orderpulse settings. */
export async function workerHelp(repoRoot: string, script: string): Promise<string> {
  const proc = Bun.spawn([process.execPath, "run", script, "--help"], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (exitCode !== 0) throw new Error(`bun run ${script} --help exited ${exitCode}: ${stderr.slice(0, 500)}`);
  return stdout;
}

const ENV_READ = /\b(?:process\.env|Bun\.env|import\.meta\.env)(?:\.([A-Z_][A-Z0-9_]*)|\[\s*["'`]([A-Z_][A-Z0-9_]*)["'`]\s*\])/g;

/**
 * Variables read by name (`process.env.X`, `process.env["X"]`, `Bun.env.X`) anywhere in the
 * relative-import graph of `entry` (workers and their `lib/` modules; packages are not followed).
 * Reads through a whole-environment object, as `readConfig(spec, process.env)` does, are what
 * `--help` documents; this finds the others.
 */
export function envReadsInImportGraph(entry: string): Map<string, string[]> {
  const transpiler = new Bun.Transpiler({ loader: "ts" });
  const reads = new Map<string, string[]>();
  const seen = new Set<string>();
  const queue = [resolve(entry)];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    // A JSON module (package.json, for --version) imports nothing and reads no variable.
    if (file.endsWith(".json")) continue;
    const source = readFileSync(file, "utf8");
    for (const m of source.matchAll(ENV_READ)) {
      const name = (m[1] ?? m[2])!;
      reads.set(name, [...(reads.get(name) ?? []), file]);
    }
    for (const imp of transpiler.scanImports(source)) {
      if (imp.path.startsWith(".")) queue.push(join(dirname(file), imp.path));
    }
    // Worker threads: new Worker(new URL("./x.ts", import.meta.url)).
    for (const m of source.matchAll(/new URL\(\s*["'](\.[^"']+)["']\s*,\s*import\.meta\.url\s*\)/g)) {
      queue.push(join(dirname(file), m[1]!));
    }
  }
  return reads;
}

/** The packages (not relative files, not `node:`/`bun:` built-ins) imported anywhere in `entry`'s relative-import graph. */
export function packagesInImportGraph(entry: string): Set<string> {
  const transpiler = new Bun.Transpiler({ loader: "ts" });
  const packages = new Set<string>();
  const seen = new Set<string>();
  const queue = [resolve(entry)];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    // A JSON module (package.json, for --version) imports nothing and reads no variable.
    if (file.endsWith(".json")) continue;
    const source = readFileSync(file, "utf8");
    for (const imp of transpiler.scanImports(source)) {
      if (imp.path.startsWith(".")) queue.push(join(dirname(file), imp.path));
      else if (!/^(node|bun):|^bun$/.test(imp.path)) packages.add(imp.path.startsWith("@") ? imp.path.split("/").slice(0, 2).join("/") : imp.path.split("/")[0]!);
    }
    for (const m of source.matchAll(/new URL\(\s*["'](\.[^"']+)["']\s*,\s*import\.meta\.url\s*\)/g)) queue.push(join(dirname(file), m[1]!));
  }
  return packages;
}

/**
 * The S3 policy objectstore-init gives the lake workers' user for `bucket`: the `printf` line of
 * its script in infra/compose.yaml, run by sh as the container would run it (compose's `$$` is `$`).
 */
export function lakePolicyFromCompose(repoRoot: string, bucket: string): unknown {
  const compose = Bun.YAML.parse(readFileSync(join(repoRoot, "infra/compose.yaml"), "utf8")) as { services: Record<string, { command?: string[] }> };
  const script = (compose.services["objectstore-init"]?.command ?? []).join("\n");
  const line = script.split("\n").find((l) => l.trim().startsWith(`printf '{"Version"`));
  if (!line) throw new Error("objectstore-init's script in infra/compose.yaml no longer writes the lake policy with printf; update lakePolicyFromCompose()");
  const command = line.trim().replaceAll("$$", "$").replace(/\s*>\s*\S+$/, "");
  const run = Bun.spawnSync(["sh", "-c", `bucket="$1"; ${command}`, "sh", bucket]);
  if (run.exitCode !== 0) throw new Error(`the lake policy's printf failed: ${run.stderr.toString()}`);
  return JSON.parse(run.stdout.toString());
}
