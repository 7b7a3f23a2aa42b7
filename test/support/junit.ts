/** Reading the JUnit XML report that `bun test --reporter=junit` writes. */

export interface Tally {
  passed: number;
  failed: number;
  skipped: number;
  files: Map<string, number>;
  /** Each failed test: its file, its name and what its failure said (the report's text, unescaped). */
  failures: { file: string; name: string; text: string }[];
}

/** Counts test cases in Bun's JUnit report; each <testcase> is one test, nested suites included. */
export function tallyJunit(xml: string): Tally {
  const tally: Tally = { passed: 0, failed: 0, skipped: 0, files: new Map(), failures: [] };
  for (const match of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const attributes = match[1] ?? "";
    const body = match[3] ?? "";
    const file = unescapeXml(/\bfile="([^"]*)"/.exec(attributes)?.[1] ?? "?");
    tally.files.set(file, (tally.files.get(file) ?? 0) + 1);
    const failure = /<(failure|error)\b([^>]*?)(\/>|>([\s\S]*?)<\/\1>)/.exec(body);
    if (failure) {
      tally.failed += 1;
      const name = unescapeXml(/\bname="([^"]*)"/.exec(attributes)?.[1] ?? "?");
      const text = failure[4] ?? /\bmessage="([^"]*)"/.exec(failure[2] ?? "")?.[1] ?? "";
      tally.failures.push({ file, name, text: unescapeXml(text) });
    } else if (/<skipped\b/.test(body)) tally.skipped += 1;
    else tally.passed += 1;
  }
  return tally;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** XML's five named entities and numeric character references, as the report writes them. */
export function unescapeXml(text: string): string {
  return text.replace(/&(?:#x([0-9a-fA-F]+)|#(\d+)|(amp|lt|gt|quot|apos));/g, (entity, hex, decimal, name) => {
    if (hex !== undefined) return String.fromCodePoint(Number.parseInt(hex, 16));
    if (decimal !== undefined) return String.fromCodePoint(Number(decimal));
    return ENTITIES[name] ?? entity;
  });
}
