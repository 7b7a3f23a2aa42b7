/**
 * Events per second through PartitionAggregator.add() alone (no parsing or validation), with
 * a collect every 10,000 events: the core's share of the worker's 250k events/s budget.
 * Run: bun bench/partition-aggregator.ts
 */
import type { OrderEvent } from "../lib/event/order-event.ts";
import { PartitionAggregator } from "../lib/window/partition-aggregator.ts";

const EVENTS = 2_000_000;
const CATEGORIES = ["books", "toys", "garden", "games", "audio", "kitchen"];
const COUNTRIES = ["US", "DE", "FR", "JP", "BR", "IN", "GB", "CA"];

// Prebuilt events (ids unique), ~1 event per ms of event time with some disorder, as at 1k/s per partition
// sped up: what matters is the per-event work, windows opening and closing, and the dedup set's size.
const events: { event: OrderEvent; eventTimeMs: number }[] = [];
for (let i = 0; i < EVENTS; i++) {
  const lines = 1 + (i % 3);
  const items = [];
  for (let l = 0; l < lines; l++) items.push({ sku: `s${l}`, category: CATEGORIES[(i + l * 7) % CATEGORIES.length]!, qty: 1 + (l % 2), unit_price_minor: 999 + l * 350 });
  const amount = items.reduce((s, x) => s + x.qty * x.unit_price_minor, 0);
  events.push({
    eventTimeMs: 1_800_000_000_000 + i - ((i * 7919) % 5000),
    event: {
      schema_version: 1,
      event_id: `e-${i}`,
      order_id: `o-${i}`,
      user_id: `u-${(i * 31) % 50_000}`,
      created_at: "",
      items,
      discount_minor: 0,
      total: { amount_minor: amount, currency: "USD" },
      total_usd_cents: amount,
      country: COUNTRIES[i % COUNTRIES.length]!,
      payment_method: "card",
      channel: "web",
      status: "paid",
    },
  });
}

const state = new PartitionAggregator("orders", 0, { windowSizeMs: 60_000, watermarkDelayMs: 120_000 });
const started = performance.now();
let emitted = 0;
for (let i = 0; i < EVENTS; i++) {
  const e = events[i]!;
  state.add(BigInt(i), e.event, e.eventTimeMs);
  if (i % 10_000 === 0) emitted += state.collect(i).length;
}
const seconds = (performance.now() - started) / 1000;
console.log(`partition-aggregator: ${Math.round(EVENTS / seconds).toLocaleString("en-US")} events/s (${EVENTS.toLocaleString("en-US")} events, ${emitted} results, ${state.stats().openWindows} open windows)`);
