import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Simulator } from "../event/simulator.ts";
import { EncoderThread, encodeInThread } from "./encoder-thread.ts";
import { FileLakeStore } from "./file-store.ts";
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
      const written = await thread.write(store, "dt=2026-12-01/hour=10/a.parquet", g);
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
      const written = await thread.write(store, "dt=2026-12-01/hour=10/b.parquet", g);
      const other = new MemoryLakeStore();
      await encodeInThread.write(other, "x.parquet", g);
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
      const error = await thread.write(new FileLakeStore(blocked), "dt=2026-12-01/hour=10/c.parquet", g).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as { code?: string }).code).toBe("ENOTDIR");
      const again = await thread.write(new FileLakeStore(join(scratch, "lake2")), "dt=2026-12-01/hour=10/c.parquet", g);
      expect(again.summary.rows).toBe(g[0]!.rows + g[1]!.rows);
    } finally {
      thread.close();
    }
  });
});
