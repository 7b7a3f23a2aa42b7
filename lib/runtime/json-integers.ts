/**
 * JSON whose integers stay exact past 2^53, for the window totals held as bigint
 * (lib/window/window-aggregate.ts) wherever they are written as JSON: checkpoints, changelog
 * metas, JSON-lines results, and InfluxDB's query answers.
 *
 * A bigint is written as a plain JSON number literal with all its digits (`JSON.rawJSON`), not as
 * a string: the text is ordinary JSON, earlier builds read it as before wherever the value fits a
 * double, and readers that keep big integers (Python, jq 1.7, Go's json.Number) read it exactly.
 * Reading back takes the literal's own text (the reviver's `context.source`, "JSON.parse source
 * text access"), never the double that JSON.parse made of it. Bun and Deno (V8) have both.
 */

/** What a JSON.parse reviver gets as its third argument: the source text of a primitive value. */
interface ReviverContext {
  source?: string;
}
export type Reviver = (this: unknown, key: string, value: unknown, context?: ReviverContext) => unknown;

const rawJSON = (JSON as unknown as { rawJSON?: (text: string) => unknown }).rawJSON;
const INTEGER_LITERAL = /^-?\d+$/;

/** `JSON.stringify(value)`, with every bigint in it written as a JSON number literal of all its digits. */
export function stringifyWithBigInts(value: unknown): string {
  // Without a replacer first: JSON.stringify with one is several times slower (a Delta commit of
  // a few hundred actions took 340 ms), and it throws a TypeError at the first bigint.
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
  }
  return JSON.stringify(value, bigintsAsLiterals);
}

/** A JSON.stringify replacer: a bigint becomes a number literal of all its digits. */
export function bigintsAsLiterals(_key: string, value: unknown): unknown {
  if (typeof value !== "bigint") return value;
  if (rawJSON === undefined) throw new TypeError("this runtime has no JSON.rawJSON: cannot write an exact integer");
  return rawJSON(value.toString());
}

/**
 * A JSON.parse reviver: a number under one of `keys` (at any depth) whose literal is an integer
 * becomes a bigint of exactly that literal, whatever its size. Other numbers, and a non-integer
 * literal under those keys (`1.5`, `1e3`), stay numbers: the caller refuses those.
 */
export function bigintsAt(keys: readonly string[]): Reviver {
  const names = new Set(keys);
  return (key, value, context) => (typeof value === "number" && names.has(key) ? exactInteger(value, context) : value);
}

/**
 * A JSON.parse reviver for data without a schema (InfluxDB's query answers): an integer literal
 * beyond Number.MAX_SAFE_INTEGER becomes a bigint of exactly that literal; every other number
 * stays a number. (A float field whose value is integral and that large also comes back as a
 * bigint: JSON does not say which it was. `Number()` of it is the double the server held.)
 */
export const unsafeIntegersAsBigInt: Reviver = (_key, value, context) => {
  if (typeof value !== "number" || Number.isSafeInteger(value) || context?.source === undefined || !INTEGER_LITERAL.test(context.source)) return value;
  return BigInt(context.source);
};

function exactInteger(value: number, context: ReviverContext | undefined): number | bigint {
  const source = context?.source;
  if (source !== undefined) return INTEGER_LITERAL.test(source) ? BigInt(source) : value;
  // A runtime without source text access: exact only where the double is.
  return Number.isSafeInteger(value) ? BigInt(value) : value;
}
