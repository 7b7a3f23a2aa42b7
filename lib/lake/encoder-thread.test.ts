import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Simulator } from "../event/simulator.ts";
import { EncoderThread, encodeInThread } from "./encoder-thread.ts";
import { FileLakeStore } from "./file-store.ts";
import { HourBatch } from "./hour-batch.ts";
import { LakeColumns } from "./lake-columns.ts";
import { encodeLakeGroups } from "./lake-encoder.ts";
import { validateLakeEvent } from "./schema.ts";
import { MemoryLakeStore } from "./store.ts";

const scratch = mkdtempSync(join(tmpdir(), "orderpulse-encoder-thread-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function groups(): LakeColumns[] {
  const sim = new Simulator({ seed: 5, startMs: Date.UTC(2026, 11, 1, 10), ratePerS: 100, malformedFraction: 0 });
  const out = [new LakeColumns(), new LakeColumns()];
  for (let offset = 0; offset < 3_000; offset++) {
    const v = validateLakeEvent(sim.next().value);
    if (v.ok) out[offset % 2]!.appendEvent(v.event, v.eventTimeMs, 0, offset, offset);
  }
  return out;
}

describe("EncoderThread", () => {
  test("writes a local lake's file from its thread, byte for byte what this thread encodes, and hands the rows back", async () => {
    const thread = new EncoderThread();
    try {
      const g = groups();
      const want = encodeLakeGroups(g);
      const store = new FileLakeStore(join(scratch, "lake"));
      const written = (await thread.writeFiles(store, [{ path: "dt=2026-12-01/hour=10/a.parquet", groups: g }]))[0]!;
      expect(written).toEqual({ size: want.bytes.byteLength, summary: want.summary });
      expect(Buffer.from(readFileSync(join(scratch, "lake", "dt=2026-12-01", "hour=10", "a.parquet"))).equals(Buffer.from(want.bytes))).toBe(true);
      // The groups went to the thread and came back: they encode as before.
      expect(Buffer.from(encodeLakeGroups(g).bytes).equals(Buffer.from(want.bytes))).toBe(true);
    } finally {
      thread.close();
    }
  });

  test("an object store's file comes back to be written from here", async () => {
    const thread = new EncoderThread();
    try {
      const g = groups();
      const store = new MemoryLakeStore();
      const written = (await thread.writeFiles(store, [{ path: "dt=2026-12-01/hour=10/b.parquet", groups: g }]))[0]!;
      const other = new MemoryLakeStore();
      (await encodeInThread.writeFiles(other, [{ path: "x.parquet", groups: g }]))[0]!;
      expect(written.size).toBe(other.files.get("x.parquet")!.byteLength);
      expect(Buffer.from(store.files.get("dt=2026-12-01/hour=10/b.parquet")!).equals(Buffer.from(other.files.get("x.parquet")!))).toBe(true);
    } finally {
      thread.close();
    }
  });

  test("a write that fails on the thread fails here with its error code, and the rows are still here to write again", async () => {
    const thread = new EncoderThread();
    try {
      const g = groups();
      const blocked = join(scratch, "blocked");
      writeFileSync(blocked, "a file where the lake's directory should be");
      const error = await thread.writeFiles(new FileLakeStore(blocked), [{ path: "dt=2026-12-01/hour=10/c.parquet", groups: g }]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as { code?: string }).code).toBe("ENOTDIR");
      const [again] = await thread.writeFiles(new FileLakeStore(join(scratch, "lake2")), [{ path: "dt=2026-12-01/hour=10/c.parquet", groups: g }]);
      expect(again!.summary.rows).toBe(g[0]!.rows + g[1]!.rows);
    } finally {
      thread.close();
    }
  });

  test("a flush's files go in one call: each in its own new directory, each what this thread encodes, no temporaries left", async () => {
    const thread = new EncoderThread();
    try {
      const g = groups();
      // One big file and a spread of one-row files, as a flush with stragglers writes them.
      const singles = Array.from({ length: 40 }, (_, i) => {
        const one = new LakeColumns();
        one.appendFrom(g[0]!, i);
        return one;
      });
      const files = [
        { path: "dt=2026-12-01/hour=10/f.parquet", groups: g },
        ...singles.map((one, i) => ({ path: `dt=2026-11-${String(1 + (i % 28)).padStart(2, "0")}/hour=${String(i % 24).padStart(2, "0")}/f-${i}.parquet`, groups: [one] })),
      ];
      const want = files.map((f) => encodeLakeGroups(f.groups));
      const root = join(scratch, "many");
      const written = await thread.writeFiles(new FileLakeStore(root), files);
      expect(written).toEqual(want.map(({ bytes, summary }) => ({ size: bytes.byteLength, summary })));
      files.forEach((f, i) => expect(Buffer.from(readFileSync(join(root, ...f.path.split("/")))).equals(Buffer.from(want[i]!.bytes))).toBe(true));
      const names = readdirSync(root, { recursive: true }).map(String);
      expect(names.filter((n) => n.endsWith(".parquet")).length).toBe(files.length);
      expect(names.filter((n) => n.includes(".tmp-"))).toEqual([]);
    } finally {
      thread.close();
    }
  });

  test("a failure part-way leaves none of the failed files' temporaries, and the rows to write again", async () => {
    const thread = new EncoderThread();
    try {
      const g = groups();
      const root = join(scratch, "part-way");
      // The second file's name is taken by a directory: its rename fails after the first file's landed.
      mkdirSync(join(root, "dt=2026-12-01", "hour=11", "b.parquet"), { recursive: true });
      const files = [
        { path: "dt=2026-12-01/hour=10/a.parquet", groups: [g[0]!] },
        { path: "dt=2026-12-01/hour=11/b.parquet", groups: [g[1]!] },
      ];
      const error = await thread.writeFiles(new FileLakeStore(root), files).catch((e: unknown) => e);
      expect((error as { code?: string }).code).toBe("EISDIR");
      const names = readdirSync(root, { recursive: true }).map(String);
      expect(names.filter((n) => n.includes(".tmp-"))).toEqual([]);
      expect(names).toContain(join("dt=2026-12-01", "hour=10", "a.parquet"));
      const again = await thread.writeFiles(new FileLakeStore(join(scratch, "part-way-2")), files);
      expect(again.map((w) => w.summary.rows)).toEqual([g[0]!.rows, g[1]!.rows]);
    } finally {
      thread.close();
    }
  });

  test("rows in groups shared by hours go to their hour's file, first, on the thread as here", async () => {
    const thread = new EncoderThread();
    try {
      const batch = new HourBatch(131_072, 100);
      const sim = new Simulator({ seed: 6, startMs: Date.UTC(2026, 11, 1, 10), ratePerS: 100, malformedFraction: 0 });
      for (let offset = 0; offset < 2_000; offset++) {
        const v = validateLakeEvent(sim.next().value);
        // Every 50th row three days back, in one of 7 hours.
        const at = offset % 50 === 0 ? v.ok && v.eventTimeMs - 72 * 3_600_000 - (offset % 7) * 3_600_000 : v.ok && v.eventTimeMs;
        if (v.ok) batch.groupFor(at as number).appendEvent(v.event, at as number, 0, offset, offset);
      }
      const { files, shared } = batch.files();
      expect(files.length).toBeGreaterThan(7);
      expect(files.some((f) => f.inShared) && files.some((f) => !f.inShared)).toBe(true);
      const toWrite = files.map((f, i) => ({ path: `f-${i}.parquet`, groups: f.groups, ...(f.inShared ? { hourStartMs: f.hourStartMs } : {}) }));
      const want = batch.hours().map(([, groups]) => encodeLakeGroups(groups));
      const root = join(scratch, "shared");
      const written = await thread.writeFiles(new FileLakeStore(root), toWrite, shared);
      expect(written).toEqual(want.map(({ bytes, summary }) => ({ size: bytes.byteLength, summary })));
      toWrite.forEach((f, i) => expect(Buffer.from(readFileSync(join(root, f.path))).equals(Buffer.from(want[i]!.bytes))).toBe(true));
      const here = new MemoryLakeStore();
      await encodeInThread.writeFiles(here, toWrite, shared);
      toWrite.forEach((f, i) => expect(Buffer.from(here.files.get(f.path)!).equals(Buffer.from(want[i]!.bytes))).toBe(true));
    } finally {
      thread.close();
    }
  });
});
