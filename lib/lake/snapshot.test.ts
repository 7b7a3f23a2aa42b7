import { describe, expect, test } from "bun:test";
import type { JournalEntry } from "./journal.ts";
import type { CommittedRanges } from "./offsets.ts";
import { resolveSnapshot } from "./snapshot.ts";

const H = "dt=2026-11-28/hour=07";
const entry = (seq: number, inputs: string[], outputs: string[]): JournalEntry => ({
  seq, hour: H, committedAtMs: 0, inputs, outputs: outputs.map((path) => ({ path, rows: 1, bytes: 1 })),
});

/** Partition offsets of a lake from before owner epochs: its files are named without one (epoch 0). */
const legacy = (nextOffset: bigint): CommittedRanges => ({ epoch: 0, nextOffset, closed: [] });

describe("resolveSnapshot()", () => {
  test("a writer file is visible once its partition's offsets are past its last offset", () => {
    const listed = [`${H}/p0-o0-o9.parquet`, `${H}/p0-o10-o19.parquet`];
    expect(resolveSnapshot({ journal: [], offsets: new Map([[0, legacy(10n)]]), listed })).toEqual({ ok: true, files: [`${H}/p0-o0-o9.parquet`] });
  });
  test("a writer file of a partition without offsets is invisible (a first flush that crashed)", () => {
    expect(resolveSnapshot({ journal: [], offsets: new Map(), listed: [`${H}/p1-o0-o9.parquet`] })).toEqual({ ok: true, files: [] });
  });
  test("a compaction output is visible only through a journal entry, and its inputs then are not", () => {
    const listed = [`${H}/p0-o0-o9.parquet`, `${H}/p0-o10-o19.parquet`, `${H}/c1-0.parquet`, `${H}/c2-0.parquet`];
    const journal = [entry(1, [`${H}/p0-o0-o9.parquet`, `${H}/p0-o10-o19.parquet`], [`${H}/c1-0.parquet`])];
    expect(resolveSnapshot({ journal, offsets: new Map([[0, legacy(20n)]]), listed })).toEqual({ ok: true, files: [`${H}/c1-0.parquet`] });
  });
  test("an output replaced by a later compaction is invisible", () => {
    const journal = [entry(1, [`${H}/p0-o0-o9.parquet`], [`${H}/c1-0.parquet`]), entry(2, [`${H}/c1-0.parquet`, `${H}/p0-o10-o19.parquet`], [`${H}/c2-0.parquet`])];
    const listed = [`${H}/c1-0.parquet`, `${H}/c2-0.parquet`, `${H}/p0-o10-o19.parquet`];
    expect(resolveSnapshot({ journal, offsets: new Map([[0, legacy(20n)]]), listed })).toEqual({ ok: true, files: [`${H}/c2-0.parquet`] });
  });
  test("a visible output missing from the listing means the listing raced a clean-up: read again", () => {
    const journal = [entry(1, [`${H}/p0-o0-o9.parquet`], [`${H}/c1-0.parquet`])];
    expect(resolveSnapshot({ journal, offsets: new Map([[0, legacy(10n)]]), listed: [] })).toEqual({ ok: false, missing: `${H}/c1-0.parquet` });
  });
  test("a writer file of the current owner epoch is visible below the next offset", () => {
    const listed = [`${H}/p0-e3-o0-o9.parquet`, `${H}/p0-e3-o10-o19.parquet`];
    expect(resolveSnapshot({ journal: [], offsets: new Map([[0, { epoch: 3, nextOffset: 10n, closed: [] }]]), listed })).toEqual({ ok: true, files: [`${H}/p0-e3-o0-o9.parquet`] });
  });
  test("a writer file of a closed epoch is visible only below where that epoch ended, whatever the next offset", () => {
    // Epoch 2 ended at 10 (epoch 3 claimed there); its file 10..19 is a fenced flush's, epoch 3's 10..24 is the real one.
    const listed = [`${H}/p0-e2-o0-o9.parquet`, `${H}/p0-e2-o10-o19.parquet`, `${H}/p0-e3-o10-o24.parquet`];
    const offsets = new Map([[0, { epoch: 3, nextOffset: 25n, closed: [{ epoch: 2, endOffset: 10n }] }]]);
    expect(resolveSnapshot({ journal: [], offsets, listed })).toEqual({ ok: true, files: [`${H}/p0-e2-o0-o9.parquet`, `${H}/p0-e3-o10-o24.parquet`] });
  });
  test("a writer file of an epoch the offsets do not list is invisible", () => {
    const offsets = new Map([[0, { epoch: 3, nextOffset: 25n, closed: [] }]]);
    expect(resolveSnapshot({ journal: [], offsets, listed: [`${H}/p0-e1-o0-o9.parquet`, `${H}/p0-o0-o9.parquet`] })).toEqual({ ok: true, files: [] });
  });
});
