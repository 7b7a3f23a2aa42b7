/**
 * The cold path's answer to "what should the aggregator have written?": the lake's rows fed
 * through the aggregator's own state machine ({@link PartitionAggregator}), per Kafka partition
 * in Kafka offset order (the lineage columns), exactly as the live aggregator saw them. The lake
 * holds every valid event, duplicates and late ones included, so the state machine drops and
 * judges them itself; at the end an idle advance far past the last event closes every window.
 *
 * The lake keeps events of any age; the aggregator does not. A row is judged as the aggregator
 * judged its record: `created_at` more than `maxFutureMs` after the row's `kafka_timestamp`, or
 * more than `maxPastMs` before it, makes it invalid (the aggregator sent it to the DLQ, so it is
 * `"invalid"` here and counts nowhere), and the timestamp caps how far the event moves the
 * watermark. A row without `kafka_timestamp` (written before the lake kept it; such lakes held
 * only events within the bounds) is judged by its event time alone.
 *
 * Equal to the live results when the live aggregator's watermarks were moved by events only:
 * an idle advance in the middle of a partition's stream (no records for --idle-timeout of wall
 * time, then more) depends on wall-clock time, which the lake does not record (see
 * lib/window/partition-aggregator.ts).
 */
import type { OrderEvent } from "../event/order-event.ts";
import { DEFAULT_MAX_FUTURE_MS, DEFAULT_MAX_PAST_MS } from "../event/validate-order.ts";
import { type AddOutcome, type AggregatorOptions, PartitionAggregator } from "../window/partition-aggregator.ts";
import type { LakeRow } from "../lake/schema.ts";
import type { WindowResult } from "../window/window-aggregate.ts";

/** The order event a lake row was written from (the inverse of `toLakeRow`). */
export function lakeRowToEvent(row: LakeRow): OrderEvent {
  return {
    schema_version: row.schema_version as OrderEvent["schema_version"],
    event_id: row.event_id,
    order_id: row.order_id,
    user_id: row.user_id,
    created_at: row.created_at.toISOString(),
    items: row.items.map((i) => ({ sku: i.sku, category: i.category, qty: i.qty, unit_price_minor: Number(i.unit_price_minor) })),
    discount_minor: Number(row.discount_minor),
    total: { amount_minor: Number(row.total_minor), currency: row.currency as OrderEvent["total"]["currency"] },
    total_usd_cents: Number(row.total_usd_cents),
    country: row.country,
    payment_method: row.payment_method as OrderEvent["payment_method"],
    channel: row.channel as OrderEvent["channel"],
    status: row.status as OrderEvent["status"],
  };
}

export interface LakeReplay {
  /** The final result of every window, ordered by windowStartMs, then partition. */
  windows: WindowResult[];
  /** Each row with the state machine's verdict, per partition in offset order. */
  judged: { row: LakeRow; outcome: AddOutcome }[];
}

/** How often (in rows) closed windows are collected, so memory stays bounded by the open ones. */
const COLLECT_EVERY_ROWS = 10_000;

/**
 * Replays `rows` (any order; each (kafka_partition, kafka_offset) at most once, as the lake
 * reader guarantees) under the aggregator's settings. Throws a RangeError on a repeated
 * (partition, offset): that would be a broken lake, and counting it would hide the break.
 */
export function replayLake(
  rows: readonly LakeRow[],
  options: AggregatorOptions & { topic?: string; maxFutureMs?: number; maxPastMs?: number } = {},
): LakeReplay {
  const maxFutureMs = options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
  const maxPastMs = options.maxPastMs ?? DEFAULT_MAX_PAST_MS;
  const sorted = [...rows].sort((a, b) =>
    a.kafka_partition - b.kafka_partition || (a.kafka_offset < b.kafka_offset ? -1 : a.kafka_offset > b.kafka_offset ? 1 : 0),
  );
  const windows: WindowResult[] = [];
  const judged: LakeReplay["judged"] = [];
  let state: PartitionAggregator | undefined;
  let previous: LakeRow | undefined;
  const finish = () => {
    if (!state) return;
    state.advanceIdle(Number.MAX_SAFE_INTEGER);
    for (const r of state.collect(0)) if (r.final) windows.push(r);
  };
  for (const row of sorted) {
    if (previous?.kafka_partition === row.kafka_partition && previous.kafka_offset === row.kafka_offset) {
      throw new RangeError(`the lake holds partition ${row.kafka_partition} offset ${row.kafka_offset} twice`);
    }
    if (state?.partition !== row.kafka_partition) {
      finish();
      state = new PartitionAggregator(options.topic ?? "orders", row.kafka_partition, options);
    }
    const eventTimeMs = row.created_at.getTime();
    const timestampMs = row.kafka_timestamp ? row.kafka_timestamp.getTime() : -1;
    let outcome: AddOutcome;
    if (timestampMs >= 0 && (eventTimeMs > timestampMs + maxFutureMs || eventTimeMs < timestampMs - maxPastMs)) {
      state.skip(row.kafka_offset);
      outcome = "invalid";
    } else {
      outcome = state.add(row.kafka_offset, lakeRowToEvent(row), eventTimeMs, timestampMs);
    }
    judged.push({ row, outcome });
    if (judged.length % COLLECT_EVERY_ROWS === 0) for (const r of state.collect(0)) if (r.final) windows.push(r);
    previous = row;
  }
  finish();
  windows.sort((a, b) => a.windowStartMs - b.windowStartMs || a.partition - b.partition);
  return { windows, judged };
}
