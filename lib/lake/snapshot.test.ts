import { describe, expect, test } from "bun:test";
import type { JournalEntry } from "./journal.ts";
import { resolveSnapshot } from "./snapshot.ts";

const H = "dt=2026-11-28/hour=07";
const entry = (seq: number, inputs: string[], outputs: string[]): JournalEntry => ({
  seq, hour: H, committedAtMs: 0, inputs, outputs: outputs.map((path) => ({ path, rows: 1, bytes: 1 })),
});

describe("resolveSnapshot()", () => {
  test("a writer file is visible once its partition's offsets are past its last offset", () => {
    const listed = [`${H}/p0-o0-o9.parquet`, `${H}/p0-o10-o19.parquet`];
    expect(resolveSnapshot({ journal: [], nextOffsets: new Map([[0, 10n]]), listed })).toEqual({ ok: true, files: [`${H}/p0-o0-o9.parquet`] });
  });
  test("a writer file of a partition without offsets is invisible (a first flush that crashed)", () => {
    expect(resolveSnapshot({ journal: [], nextOffsets: new Map(), listed: [`${H}/p1-o0-o9.parquet`] })).toEqual({ ok: true, files: [] });
  });
  test("a compaction output is visible only through a journal entry, and its inputs then are not", () => {
    const listed = [`${H}/p0-o0-o9.parquet`, `${H}/p0-o10-o19.parquet`, `${H}/c1-0.parquet`, `${H}/c2-0.parquet`];
    const journal = [entry(1, [`${H}/p0-o0-o9.parquet`, `${H}/p0-o10-o19.parquet`], [`${H}/c1-0.parquet`])];
    expect(resolveSnapshot({ journal, nextOffsets: new Map([[0, 20n]]), listed })).toEqual({ ok: true, files: [`${H}/c1-0.parquet`] });
  });
  test("an output replaced by a later compaction is invisible", () => {
    const journal = [entry(1, [`${H}/p0-o0-o9.parquet`], [`${H}/c1-0.parquet`]), entry(2, [`${H}/c1-0.parquet`, `${H}/p0-o10-o19.parquet`], [`${H}/c2-0.parquet`])];
    const listed = [`${H}/c1-0.parquet`, `${H}/c2-0.parquet`, `${H}/p0-o10-o19.parquet`];
    expect(resolveSnapshot({ journal, nextOffsets: new Map([[0, 20n]]), listed })).toEqual({ ok: true, files: [`${H}/c2-0.parquet`] });
  });
  test("a visible output missing from the listing means the listing raced a clean-up: read again", () => {
    const journal = [entry(1, [`${H}/p0-o0-o9.parquet`], [`${H}/c1-0.parquet`])];
    expect(resolveSnapshot({ journal, nextOffsets: new Map([[0, 10n]]), listed: [] })).toEqual({ ok: false, missing: `${H}/c1-0.parquet` });
  });
});
