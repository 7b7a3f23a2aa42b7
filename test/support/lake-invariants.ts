/**
 * The lake's stream invariants, used around every crash-and-restart and compaction test: the
 * lake holds each valid record of the topic exactly once (keyed by Kafka partition and offset,
 * with that record's event_id), nothing else, and — for a snapshot — exactly the valid records
 * below the snapshot's committed offsets. Returns the problems (empty when all hold).
 */
import type { LakeRow } from "../../lib/lake/schema.ts";
import { validateLakeEvent } from "../../lib/lake/schema.ts";

export interface ExpectedRecord {
  partition: number;
  offset: bigint;
  eventId: string;
}

/** The records of a topic (as readTopic returns them) the lake keeps: valid by the event's own rules, whatever their age. */
export function validRecords(records: Map<number, { offset: bigint; value: Uint8Array }[]>): ExpectedRecord[] {
  const out: ExpectedRecord[] = [];
  for (const [partition, list] of records) {
    for (const r of list) {
      const v = validateLakeEvent(r.value);
      if (v.ok) out.push({ partition, offset: r.offset, eventId: v.event.event_id });
    }
  }
  return out;
}

const key = (partition: number, offset: bigint) => `${partition}@${offset}`;

/**
 * Compares lake rows with the expected records. With `below`, only expected records under each
 * partition's offset count (a snapshot taken mid-stream); partitions missing from it count as 0.
 */
export function checkLakeRows(rows: readonly LakeRow[], expected: readonly ExpectedRecord[], below?: ReadonlyMap<number, bigint>): string[] {
  const problems: string[] = [];
  const want = new Map<string, ExpectedRecord>();
  for (const e of expected) {
    if (below && !(e.offset < (below.get(e.partition) ?? 0n))) continue;
    want.set(key(e.partition, e.offset), e);
  }
  const seen = new Set<string>();
  for (const row of rows) {
    const k = key(row.kafka_partition, row.kafka_offset);
    if (seen.has(k)) {
      problems.push(`record ${k} (${row.event_id}) is in the lake more than once`);
      continue;
    }
    seen.add(k);
    const e = want.get(k);
    if (!e) problems.push(`record ${k} (${row.event_id}) is in the lake but not expected`);
    else if (e.eventId !== row.event_id) problems.push(`record ${k} holds event ${row.event_id}, expected ${e.eventId}`);
  }
  let missing = 0;
  for (const k of want.keys()) if (!seen.has(k)) missing += 1;
  if (missing > 0) problems.push(`${missing} expected record(s) are missing from the lake, e.g. ${[...want.keys()].find((k) => !seen.has(k))}`);
  return problems.slice(0, 20);
}

/**
 * The lake against the expected records, as numbers: expected records that are missing (lost),
 * extra copies of a record (doubled), and rows of no expected record (unexpected).
 */
export function countLakeDifferences(rows: readonly LakeRow[], expected: readonly ExpectedRecord[]): { missing: number; doubled: number; unexpected: number } {
  const copies = new Map<string, number>();
  for (const row of rows) {
    const k = key(row.kafka_partition, row.kafka_offset);
    copies.set(k, (copies.get(k) ?? 0) + 1);
  }
  const wanted = new Set(expected.map((e) => key(e.partition, e.offset)));
  let missing = 0;
  for (const k of wanted) if (!copies.has(k)) missing += 1;
  let doubled = 0;
  let unexpected = 0;
  for (const [k, n] of copies) {
    if (wanted.has(k)) doubled += n - 1;
    else unexpected += n;
  }
  return { missing, doubled, unexpected };
}
