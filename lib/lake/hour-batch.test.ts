import { describe, expect, test } from "bun:test";
import { Simulator } from "../event/simulator.ts";
import { HourBatch } from "./hour-batch.ts";
import { encodeLakeGroups } from "./lake-encoder.ts";
import { decodeLakeFile, validateLakeEvent } from "./schema.ts";

const HOUR = 3_600_000;

function fill(batch: HourBatch, n: number, startMs: number): void {
  const sim = new Simulator({ seed: 12, startMs, ratePerS: 1, malformedFraction: 0 });
  for (let offset = 0; offset < n; offset++) {
    const v = validateLakeEvent(sim.next().value);
    if (v.ok) batch.groupFor(v.eventTimeMs).appendEvent(v.event, v.eventTimeMs, offset % 3, offset, null);
  }
}

async function keys(batch: HourBatch): Promise<string[]> {
  const out: string[] = [];
  for (const [, groups] of batch.hours()) for (const r of await decodeLakeFile(encodeLakeGroups(groups).bytes)) out.push(`${r.kafka_partition}@${r.kafka_offset}`);
  return out;
}

describe("HourBatch", () => {
  test("groups rows by event hour, oldest first, rolling over to a new row group at the limit", () => {
    const batch = new HourBatch(100, 10);
    fill(batch, 1_000, Date.UTC(2026, 11, 1, 10, 55));
    const hours = batch.hours();
    expect(hours.length).toBeGreaterThan(1);
    expect(hours.map(([h]) => h)).toEqual([...hours.map(([h]) => h)].sort((a, b) => a - b));
    for (const [hour, groups] of hours) {
      expect(hour % HOUR).toBe(0);
      for (const g of groups) for (let i = 0; i < g.rows; i++) expect(Math.floor(g.createdAtOf(i) / HOUR) * HOUR).toBe(hour);
      expect(groups.slice(0, -1).every((g) => g.rows === 100)).toBe(true);
    }
    expect(hours.reduce((n, [, groups]) => n + groups.reduce((m, g) => m + g.rows, 0), 0)).toBe(batch.rows);
    expect(hours.some(([, groups]) => groups.length > 1)).toBe(true);
  });

  test("rowsByPartition(), filter() and concat() keep every row they should, in order", async () => {
    const a = new HourBatch(64);
    fill(a, 600, Date.UTC(2026, 11, 1, 10, 55));
    const counts = a.rowsByPartition();
    expect([...counts.values()].reduce((x, y) => x + y, 0)).toBe(a.rows);
    const all = await keys(a);
    const kept = a.filter((partition, offset) => partition !== 1 && offset >= 100);
    expect(await keys(kept)).toEqual(all.filter((k) => !k.startsWith("1@") && Number(k.split("@")[1]) >= 100));
    expect(kept.rowsByPartition().get(1)).toBeUndefined();
    const b = new HourBatch(64);
    fill(b, 50, Date.UTC(2026, 11, 1, 11, 5));
    const both = a.concat(b);
    expect(both.rows).toBe(a.rows + b.rows);
    expect((await keys(both)).sort()).toEqual([...all, ...(await keys(b))].sort());
  });

  test("an hour's first rows share row groups with the other hours; a busy hour gets its own, its first rows included; every file keeps read order", () => {
    const batch = new HourBatch(1_000, 50);
    // A busy hour, and stragglers days away: 3 rows in each of 20 hours.
    const rows: { hour: number; offset: number }[] = [];
    const busy = Date.UTC(2026, 11, 1, 10);
    let offset = 0;
    const sim = new Simulator({ seed: 13, startMs: busy, ratePerS: 1, malformedFraction: 0 });
    for (let i = 0; i < 400; i++) {
      const v = validateLakeEvent(sim.next().value);
      if (!v.ok) continue;
      const at = i % 7 === 0 ? busy - (1 + (i % 20)) * 24 * HOUR + (i % 3) : busy + (i % 60) * 1_000;
      batch.groupFor(at).appendEvent(v.event, at, 0, offset, null);
      rows.push({ hour: Math.floor(at / HOUR) * HOUR, offset: offset++ });
    }
    const { files, shared } = batch.files();
    const stragglers = files.filter((f) => f.hourStartMs !== busy);
    expect(stragglers.length).toBe(20);
    expect(stragglers.every((f) => f.inShared && f.groups.length === 0)).toBe(true);
    const own = files.find((f) => f.hourStartMs === busy)!;
    expect(own.inShared).toBe(false);
    expect(own.groups.reduce((n, g) => n + g.rows, 0)).toBe(rows.filter((r) => r.hour === busy).length);
    // The busy hour's first 50 rows stay in the shared groups too, counted once.
    expect(shared.reduce((n, g) => n + g.rows, 0)).toBe(50 + rows.filter((r) => r.hour !== busy).length);
    expect(batch.rowsByPartition()).toEqual(new Map([[0, rows.length]]));
    for (const [hour, groups] of batch.hours()) {
      const offsets = groups.flatMap((g) => Array.from({ length: g.rows }, (_, i) => g.offsetOf(i)));
      expect(offsets).toEqual(rows.filter((r) => r.hour === hour).map((r) => r.offset));
    }
  });
});
