/**
 * The command line of a worker: flags, `--help`, and configuration from the environment.
 *
 * `parseCommand` never exits the process itself; it returns what to do, so a worker's `main`
 * decides (and tests can check the help text and errors without spawning anything).
 */
import { parseArgs } from "node:util";
import packageJson from "../../package.json" with { type: "json" };
import { ConfigError, type ConfigOf, describeSettings, type Env, logSettings, readConfig, type SettingsSpec } from "./config.ts";

/** What `--version` prints: the project's version (package.json) and the runtime's. */
export function versionText(): string {
  const runtime = typeof Bun !== "undefined" ? `Bun ${Bun.version}` : `Node ${process.versions.node}`;
  return `orderpulse ${packageJson.version} (${runtime})\n`;
}

export interface FlagSpec {
  type: "string" | "boolean";
  /** What the flag does, one line; include the default here. */
  describe: string;
  short?: string;
  /** Shown after the flag name in `--help`, e.g. `N` or `PATH`. */
  value?: string;
}

export interface CommandSpec<F extends Record<string, FlagSpec>, S extends SettingsSpec> {
  /** How to run it, e.g. `bun run workers/produce.ts`. */
  usage: string;
  /** What it does, a short paragraph. */
  summary: string;
  flags: F;
  settings: S;
}

type FlagValues<F extends Record<string, FlagSpec>> = {
  [K in keyof F]?: F[K]["type"] extends "boolean" ? boolean : string;
};

export type Parsed<F extends Record<string, FlagSpec>, S extends SettingsSpec> =
  | { kind: "run"; flags: FlagValues<F>; config: ConfigOf<S>; positionals: string[] }
  | { kind: "help"; text: string }
  | { kind: "version"; text: string }
  | { kind: "error"; message: string };

export function helpText(spec: CommandSpec<Record<string, FlagSpec>, SettingsSpec>): string {
  const help: FlagSpec = { type: "boolean", describe: "show this help", short: "h" };
  const version: FlagSpec = { type: "boolean", describe: "show the version" };
  const flags = Object.entries({ ...spec.flags, help, version })
    .map(([name, f]) => {
      const left = `${f.short ? `-${f.short}, ` : "    "}--${name}${f.type === "string" ? ` ${f.value ?? "VALUE"}` : ""}`;
      return `  ${left.padEnd(30)} ${f.describe}`;
    });
  // Every worker logs through lib/runtime/worker-runtime.ts, so every one reads LOG_FORMAT.
  const settings = `\n\nEnvironment:\n${describeSettings({ ...spec.settings, ...logSettings })}`;
  return `Usage: ${spec.usage}\n\n${spec.summary}\n\nOptions:\n${flags.join("\n")}${settings}\n`;
}

export function parseCommand<F extends Record<string, FlagSpec>, S extends SettingsSpec>(
  spec: CommandSpec<F, S>,
  argv: string[],
  env: Env,
): Parsed<F, S> {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
    version: { type: "boolean" },
  };
  for (const [name, f] of Object.entries(spec.flags)) {
    options[name] = f.short ? { type: f.type, short: f.short } : { type: f.type };
  }
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true }));
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return { kind: "error", message: `${why}\nRun with --help to see the options.` };
  }
  if (values.help) return { kind: "help", text: helpText(spec as never) };
  if (values.version) return { kind: "version", text: versionText() };
  try {
    const config = readConfig(spec.settings, env);
    readConfig(logSettings, env);
    return { kind: "run", flags: values as FlagValues<F>, config, positionals };
  } catch (error) {
    if (error instanceof ConfigError) return { kind: "error", message: error.message };
    throw error;
  }
}
