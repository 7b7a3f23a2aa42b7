/** Reading the JUnit XML report that `bun test --reporter=junit` writes. */

export interface Tally {
  passed: number;
  failed: number;
  skipped: number;
  files: Map<string, number>;
}

/** Counts test cases in Bun's JUnit report; each <testcase> is one test, nested suites included. */
export function tallyJunit(xml: string): Tally {
  const tally: Tally = { passed: 0, failed: 0, skipped: 0, files: new Map() };
  for (const match of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const attributes = match[1] ?? "";
    const body = match[3] ?? "";
    const file = /\bfile="([^"]*)"/.exec(attributes)?.[1] ?? "?";
    tally.files.set(file, (tally.files.get(file) ?? 0) + 1);
    if (/<failure\b|<error\b/.test(body)) tally.failed += 1;
    else if (/<skipped\b/.test(body)) tally.skipped += 1;
    else tally.passed += 1;
  }
  return tally;
}
