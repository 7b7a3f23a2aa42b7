import { expect, test } from "bun:test";
import { MALFORMED_KINDS } from "./malformed.ts";
import { dailyShape, LATENESS_MS, type SimRecord, Simulator, type SimulatorOptions } from "./simulator.ts";
import { validateOrder } from "./validate-order.ts";

const START_MS = Date.parse("2026-11-27T18:00:00.000Z");
const decoder = new TextDecoder();

function take(options: Partial<SimulatorOptions>, n: number): SimRecord[] {
  const sim = new Simulator({ seed: 1, startMs: START_MS, catalog: { products: 500 }, customers: { customers: 5_000 }, ...options });
  return Array.from({ length: n }, () => sim.next());
}

const FAULTY: Partial<SimulatorOptions> = {
  lateFraction: 0.1,
  outOfOrderFraction: 0.1,
  duplicateFraction: 0.05,
  malformedFraction: 0.1,
};

test("Simulator gives byte-identical records for the same seed and start", () => {
  const a = take(FAULTY, 5_000);
  const b = take(FAULTY, 5_000);
  expect(a).toEqual(b);
});

test("Simulator gives a different stream for another seed", () => {
  expect(decoder.decode(take({ seed: 2 }, 1)[0]!.value)).not.toBe(decoder.decode(take({ seed: 1 }, 1)[0]!.value));
});

test("Simulator's clean records are all valid, keyed by user_id, and created at their emit time", () => {
  for (const record of take({}, 5_000)) {
    const result = validateOrder(record.value, { nowMs: record.emittedAtMs });
    expect(result.ok && result.event.user_id === record.key && result.eventTimeMs === record.emittedAtMs).toBe(true);
  }
});

test("Simulator's malformed records are rejected for exactly the reason they were given", () => {
  const records = take({ malformedFraction: 1 }, 3_000);
  const mismatches = records.flatMap((r) => {
    const result = validateOrder(r.value, { nowMs: r.emittedAtMs });
    return result.ok || result.reason !== r.fault ? [`${r.fault} → ${result.ok ? "ok" : result.reason}`] : [];
  });
  expect(mismatches).toEqual([]);
  expect(new Set(records.map((r) => r.fault))).toEqual(new Set(MALFORMED_KINDS));
});

test("Simulator never puts a newline byte in a record", () => {
  expect(take(FAULTY, 5_000).filter((r) => r.value.includes(10)).length).toBe(0);
});

test("Simulator's late and out-of-order records are as far behind stream time as their fault says", () => {
  const bad: string[] = [];
  for (const r of take(FAULTY, 10_000)) {
    const result = validateOrder(r.value, { nowMs: r.emittedAtMs });
    if (!result.ok || r.kind === "duplicate") continue;
    const behindMs = r.emittedAtMs - result.eventTimeMs;
    const expected =
      r.fault === "late_within_watermark"
        ? behindMs >= LATENESS_MS.withinWatermark.min && behindMs <= LATENESS_MS.withinWatermark.max
        : r.fault === "late_beyond_watermark"
          ? behindMs >= LATENESS_MS.beyondWatermark.min && behindMs <= LATENESS_MS.beyondWatermark.max
          : r.fault === "out_of_order"
            ? behindMs >= 1 && behindMs <= 5_000
            : behindMs === 0;
    if (!expected) bad.push(`${r.fault ?? r.kind}: ${behindMs} ms behind`);
  }
  expect(bad).toEqual([]);
});

test("Simulator re-sends a duplicate with the same key and bytes as an earlier record, soon after it", () => {
  const records = take({ duplicateFraction: 0.2 }, 5_000);
  const firstSeen = new Map<string, SimRecord>();
  let duplicates = 0;
  for (const r of records) {
    const text = decoder.decode(r.value);
    if (r.kind === "duplicate") {
      const original = firstSeen.get(text);
      expect(original?.key).toBe(r.key);
      expect(r.sequence - original!.sequence).toBeLessThanOrEqual(200);
      duplicates++;
    } else {
      expect(firstSeen.has(text)).toBe(false);
      firstSeen.set(text, r);
    }
  }
  expect(duplicates).toBeGreaterThan(700);
});

test("Simulator's stream time never goes backwards and averages the configured rate", () => {
  const startMs = Date.parse("2026-11-27T13:00:00.000Z");
  const records = take({ ratePerS: 2_000, flashSaleEveryMs: 0, startMs }, 20_000);
  for (let i = 1; i < records.length; i++) expect(records[i]!.emittedAtMs >= records[i - 1]!.emittedAtMs).toBe(true);
  // Ten seconds of stream time: the daily curve barely moves, so the rate is 2,000/s × the curve at 13:00.
  const seconds = (records.at(-1)!.emittedAtMs - startMs) / 1000;
  const expectedRate = 2_000 * dailyShape(startMs);
  expect(Math.abs(20_000 / seconds / expectedRate - 1)).toBeLessThan(0.05);
});

test("dailyShape() peaks in the evening (UTC) and averages 1 over a day", () => {
  let sum = 0;
  for (let h = 0; h < 24; h++) sum += dailyShape(h * 3_600_000);
  expect(Math.abs(sum / 24 - 1)).toBeLessThan(1e-9);
  expect(dailyShape(19 * 3_600_000)).toBe(1.5);
});

test("Simulator flash sales raise the traffic for a while", () => {
  const steady = take({ flashSaleEveryMs: 0 }, 50_000).at(-1)!.emittedAtMs;
  const bursty = take({ flashSaleEveryMs: 10_000 }, 50_000).at(-1)!.emittedAtMs;
  // The same number of orders takes less stream time when flash sales keep multiplying the rate.
  expect(bursty - START_MS).toBeLessThan((steady - START_MS) * 0.7);
});

test("Simulator rejects fractions outside 0..1 and jitter that would look late", () => {
  expect(() => take({ lateFraction: 1.5 }, 1)).toThrow(RangeError);
  expect(() => take({ jitterMs: 30_000 }, 1)).toThrow(RangeError);
});

test("Simulator's customers come back: some user_ids place many orders", () => {
  const perUser = new Map<string, number>();
  for (const r of take({}, 20_000)) perUser.set(r.key, (perUser.get(r.key) ?? 0) + 1);
  const counts = [...perUser.values()].sort((a, b) => b - a);
  expect(counts[0]!).toBeGreaterThan(20);
  expect(counts.filter((c) => c === 1).length).toBeGreaterThan(500);
});

/** sha256 (hex) over every field of the first `n` records, in order: key, value bytes, kind, fault, times. */
async function streamDigest(options: Omit<SimulatorOptions, "seed" | "startMs"> & { seed: number }, n: number): Promise<string> {
  const sim = new Simulator({ startMs: START_MS, ...options });
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (let i = 0; i < n; i++) {
    const r = sim.next();
    const meta = encoder.encode(`${r.key}|${r.kind}|${r.fault ?? "-"}|${r.emittedAtMs}|${r.sequence}|${r.value.length}\n`);
    parts.push(meta, r.value);
    size += meta.length + r.value.length;
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return Buffer.from(await crypto.subtle.digest("SHA-256", all)).toString("hex");
}

// Golden digests, taken before the simulator was optimised: any change to a single byte, key,
// kind or time of these streams fails here. Default catalog and customers, as the producer runs.
test("Simulator's first 50,000 records for seed 1 (flat, no faults) are pinned byte for byte", async () => {
  expect(await streamDigest({ seed: 1, dailyCurve: false, flashSaleEveryMs: 0 }, 50_000)).toBe("920195db301ad69960edbf33805ad92a97334fec561ced10ab80ad6c57563a58");
});

test("Simulator's first 50,000 records for seed 42 (daily curve, flash sales, all faults) are pinned byte for byte", async () => {
  expect(await streamDigest({ seed: 42, flashSaleEveryMs: 60_000, ...FAULTY, outOfOrderFraction: 0.1, jitterMs: 5_000 }, 50_000))
    .toBe("efa6df2377ef47f6532c5a551049d949b66953bb4425e365756954def8aef49d");
});
