/**
 * The lake writer's committed position per Kafka partition, `_offsets/partition-N.json`: the
 * next offset to read. It is the lake's own record of what it holds — the source of truth for
 * where the writer resumes, and for which writer files readers may see (a writer file of
 * partition N is committed when its last offset is below N's next offset). Rewritten
 * atomically by the one writer that owns the partition, after the files it covers.
 */

export interface PartitionOffsets {
  topic: string;
  partition: number;
  /** The first offset not yet in the lake. */
  nextOffset: bigint;
  /** When it was written, ms since the epoch (for people; nothing depends on it). */
  writtenAtMs: number;
}

export function encodeOffsets(o: PartitionOffsets): Uint8Array {
  const json = { version: 1, topic: o.topic, partition: o.partition, nextOffset: o.nextOffset.toString(), writtenAtMs: o.writtenAtMs };
  return new TextEncoder().encode(`${JSON.stringify(json)}\n`);
}

export function decodeOffsets(bytes: Uint8Array, path: string): PartitionOffsets {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  } catch (error) {
    throw new TypeError(`${path} is not JSON (${(error as Error).message}); it is written atomically, so the disk or a person changed it`);
  }
  if (
    v.version !== 1 || typeof v.topic !== "string" || typeof v.partition !== "number" ||
    typeof v.nextOffset !== "string" || !/^\d{1,19}$/.test(v.nextOffset) || typeof v.writtenAtMs !== "number"
  ) {
    throw new TypeError(`${path} is not a version-1 offsets file (topic, partition, nextOffset as a decimal string)`);
  }
  return { topic: v.topic, partition: v.partition, nextOffset: BigInt(v.nextOffset), writtenAtMs: v.writtenAtMs };
}
