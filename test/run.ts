/**
 * `bun run test`: every test — unit tests beside their modules and the service-backed suites
 * under test/ — in one `bun test` run, then a plain summary line `N passed, N failed`.
 *
 * It fails when anything was skipped or left as todo, or when a suite file under test/ ran no
 * test at all: a service-backed suite that quietly did not run must not look like a pass.
 * Each failed test's failure is repeated above that line, where a log's tail shows it. Extra
 * arguments go to `bun test` (e.g. a path filter); `--allow-skips` relaxes the skip rule for a
 * local run.
 */
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { type Tally, tallyJunit } from "./support/junit.ts";

const repoRoot = resolve(import.meta.dirname, "..");
const reportPath = join(repoRoot, "test-results", "junit.xml");
/** How much of each failure the closing summary repeats. */
const FAILURE_LINES = 40;

const args = Bun.argv.slice(2);
const allowSkips = args.includes("--allow-skips");
const bunArgs = args.filter((a) => a !== "--allow-skips");

mkdirSync(join(repoRoot, "test-results"), { recursive: true });
const child = Bun.spawn(
  [process.execPath, "test", "--reporter=junit", `--reporter-outfile=${reportPath}`, ...bunArgs],
  { cwd: repoRoot, stdio: ["inherit", "inherit", "inherit"] },
);
const exitCode = await child.exited;

let tally: Tally;
try {
  tally = tallyJunit(readFileSync(reportPath, "utf8"));
} catch (error) {
  console.error(`no test report at ${reportPath}: ${(error as Error).message}`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}

const problems: string[] = [];
if (exitCode !== 0 && tally.failed === 0) {
  // An error outside any test (a failing beforeAll, an unhandled rejection) fails the run
  // without a failed <testcase>; count it so the summary line does not read as all green.
  problems.push(`bun test exited with code ${exitCode} (an error outside a test; see above)`);
  tally.failed += 1;
}
if (tally.skipped > 0 && !allowSkips) {
  problems.push(`${tally.skipped} test(s) were skipped or todo; every suite must run (use --allow-skips locally)`);
}
if (bunArgs.length === 0) {
  // Every suite file under test/ must have run at least one test.
  const suites = readdirSync(join(repoRoot, "test")).filter((f) => f.endsWith(".test.ts"));
  const ran = new Set([...tally.files.keys()].map((f) => relative(repoRoot, resolve(repoRoot, f))));
  for (const suite of suites) {
    if (!ran.has(join("test", suite))) problems.push(`test/${suite} ran no test`);
  }
}
if (tally.passed + tally.failed === 0) problems.push("no test ran");

// Again at the end, where a log's tail shows it: why each failed test failed (bun prints it
// only where the test ran, hundreds of lines up in a full run).
for (const failure of tally.failures) {
  const lines = failure.text.trimEnd().split("\n");
  const shown = lines.length > FAILURE_LINES ? [...lines.slice(0, FAILURE_LINES), `... (${lines.length - FAILURE_LINES} more lines in ${relative(repoRoot, reportPath)})`] : lines;
  console.error(`\nfailed: ${failure.file} > ${failure.name}\n${shown.map((line) => `  ${line}`).join("\n")}`);
}
for (const problem of problems) console.error(`test run: ${problem}`);
const skippedPart = tally.skipped > 0 ? `, ${tally.skipped} skipped` : "";
console.log(`${tally.passed} passed, ${tally.failed} failed${skippedPart}`);
process.exit(exitCode === 0 && problems.length === 0 ? 0 : 1);
