import { expect, test } from "bun:test";
import { FaultCensus } from "./fault-census.ts";
import { ProduceTally } from "./tally.ts";
import { Simulator } from "../event/simulator.ts";

test("FaultCensus sees, from the bytes alone, exactly the faults the simulator injected", () => {
  const sim = new Simulator({
    seed: 21,
    startMs: Date.parse("2026-11-27T18:00:00.000Z"),
    lateFraction: 0.1,
    outOfOrderFraction: 0.1,
    duplicateFraction: 0.05,
    malformedFraction: 0.1,
    catalog: { products: 300 },
    customers: { customers: 3_000 },
  });
  const tally = new ProduceTally();
  const census = new FaultCensus();
  for (let i = 0; i < 20_000; i++) {
    const record = sim.next();
    tally.add([record]);
    census.observe(record.value, record.emittedAtMs);
  }
  const produced = tally.summary(1);
  expect({ messages: census.counts.messages, faults: census.counts.faults, malformed: census.counts.malformed, unexplained: 0 })
    .toEqual({ messages: produced.sent, faults: produced.faults, malformed: produced.malformed, unexplained: census.counts.unexplained });
});

test("FaultCensus counts the second copy of an event id as the duplicate", () => {
  const sim = new Simulator({ seed: 1, startMs: 0, catalog: { products: 50 }, customers: { customers: 50 } });
  const record = sim.next();
  const census = new FaultCensus();
  census.observe(record.value, record.emittedAtMs);
  census.observe(record.value, record.emittedAtMs);
  expect(census.counts.faults).toMatchObject({ on_time: 1, duplicate: 1 });
});
