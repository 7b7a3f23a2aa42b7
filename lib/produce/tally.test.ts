import { expect, test } from "bun:test";
import { formatBar, formatNotAcknowledged, formatProgress, formatSummary, ProduceTally } from "./tally.ts";

test("ProduceTally counts each record once, by kind and by fault", () => {
  const tally = new ProduceTally();
  tally.add([
    { kind: "valid", emittedAtMs: 2_000 },
    { kind: "valid", fault: "out_of_order", emittedAtMs: 1_000 },
    { kind: "late", fault: "late_beyond_watermark", emittedAtMs: 3_000 },
    { kind: "late", fault: "late_within_watermark", emittedAtMs: 3_000 },
    { kind: "duplicate", fault: "duplicate", emittedAtMs: 3_000 },
    { kind: "malformed", fault: "not_utf8", emittedAtMs: 3_000 },
  ]);
  const s = tally.summary(1_000);
  expect({ sent: s.sent, kinds: s.kinds, faults: s.faults, notUtf8: s.malformed.not_utf8, first: s.first_emitted_at }).toEqual({
    sent: 6,
    kinds: { valid: 2, late: 2, duplicate: 1, malformed: 1 },
    faults: { on_time: 1, out_of_order: 1, late_within_watermark: 1, late_beyond_watermark: 1, duplicate: 1, malformed: 1 },
    notUtf8: 1,
    first: "1970-01-01T00:00:01.000Z",
  });
});

test("ProduceTally's summary of nothing has zero rate and no stream times", () => {
  expect(new ProduceTally().summary(0)).toMatchObject({ sent: 0, events_per_s: 0, first_emitted_at: null });
});

test("formatBar() fills in proportion and caps at 100%", () => {
  expect([formatBar(5, 10, 10), formatBar(20, 10, 4)]).toEqual(["[#####.....]  50%", "[####] 100%"]);
});

test("formatProgress() and formatSummary() name the figures a person looks for", () => {
  expect(formatProgress({ sent: 12_345, errors: 1, inFlight: 2, elapsedMs: 2_000, rateNowPerS: 6_000 })).toBe(
    "sent 12,345 | 6,000/s now, 6,173/s average | in flight 2 | errors 1 | 2.0 s",
  );
  const text = formatSummary(new ProduceTally().summary(1), { destination: "topic orders", seed: "1", stoppedBy: "count" });
  expect(text).toContain("late, beyond watermark");
  expect(text).toContain("  not_utf8");
});

test("formatNotAcknowledged() says how many, why, and what to do", () => {
  expect(formatNotAcknowledged(1_234, { destination: "topic orders", timedOut: true, shutdownTimeoutMs: 3_000 })).toBe(
    '1,234 events were not acknowledged (no answer within the 3000 ms shutdown timeout): they may or may not be in topic orders, ' +
      'and the summary\'s "sent" counts none of them. Check that the broker is reachable, or give the stop more time with --shutdown-timeout.',
  );
});
