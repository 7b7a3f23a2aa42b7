/**
 * The aggregator's state in Kafka: a {@link StateStore} per partition over a compacted changelog
 * topic (one changelog partition per input partition), in the record format of
 * lib/window/changelog.ts. Workers need nothing but the brokers: a partition's state moves with
 * it to whichever worker the group assigns it to. docs/state.md has the design.
 *
 * `load()` reads the changelog partition from its start to its end, writes the state it read again
 * under its own keys, claims the partition (a new epoch), reads on to its own claim to check that
 * no other worker claimed the same epoch first, and tombstones the earlier writers' keys: from the
 * claim on, what an earlier owner still writes cannot change what a restore reads. `save()`
 * appends what changed.
 */
import type { OrderConsumer, OrderProducer } from "../kafka/client.ts";
import { GroupFetcher } from "../kafka/group-fetcher.ts";
import { type ChangelogRecord, ChangelogWriter, claimWon, inspectChangelog, type Restored, replayChangelog } from "../window/changelog.ts";
import { CheckpointError } from "../window/checkpoint.ts";
import type { PartitionSnapshot } from "../window/partition-aggregator.ts";
import { type StateStore, type StateStoreContext, StateWriteError } from "../window/state-store.ts";

/** The topic settings the aggregator creates its changelog with (and expects, if pre-created). */
export const CHANGELOG_TOPIC_CONFIG: Readonly<Record<string, string>> = {
  // Latest value per key; a tombstone removes the key.
  "cleanup.policy": "compact",
  // Segments roll each minute (or at 64 MiB), so a closed window's records can be cleaned soon.
  "segment.ms": "60000",
  "segment.bytes": String(64 * 1024 * 1024),
  // Clean once a quarter of the log is dead, and in any case within 5 minutes.
  "min.cleanable.dirty.ratio": "0.25",
  "max.compaction.lag.ms": "300000",
  // Tombstones stay readable for 10 minutes: far longer than a restore takes to read past them.
  "delete.retention.ms": "600000",
  // A chunk record is at most 40,000 fingerprints of each kind (about 1 MB); room above that.
  "max.message.bytes": String(4 * 1024 * 1024),
};

/** What every partition's store shares: the clients and the topic. */
export interface ChangelogTopic {
  /** For metadata, offsets and fetches (the aggregator's group consumer). */
  consumer: OrderConsumer;
  /** Idempotent, acks from all in-sync replicas, no compression (fingerprints do not compress). */
  producer: OrderProducer;
  topic: string;
  /**
   * Makes sure the topic exists (with {@link CHANGELOG_TOPIC_CONFIG}), before the first read:
   * the worker creates it on the first assignment, when the input topic's partitions are known.
   */
  ensure(): Promise<void>;
}

/** Claims a load makes before it gives up: another worker winning each time means two owners that do not settle. */
const CLAIM_ATTEMPTS = 10;

/** Bytes per produce request: one batch, well under the topic's max.message.bytes. */
const APPEND_BYTES = 1024 * 1024;

function recordBytes(record: ChangelogRecord): number {
  return record.key.length + (record.value?.byteLength ?? 0);
}

export class ChangelogStore implements StateStore {
  bytesWritten = 0;
  #writer: ChangelogWriter | undefined;
  #tookOver = false;
  readonly #fetcher: GroupFetcher;

  constructor(
    private readonly changelog: ChangelogTopic,
    private readonly context: StateStoreContext,
  ) {
    // Prefetch off: a restore reads up to an end and stops.
    this.#fetcher = new GroupFetcher(changelog.consumer, changelog.topic, { maxBytes: 32 * 1024 * 1024, partitionMaxBytes: 16 * 1024 * 1024, prefetch: false });
  }

  async load(): Promise<PartitionSnapshot | undefined> {
    await this.changelog.ensure();
    // Two workers claim at once only while a rebalance is under way (both briefly hold the
    // partition): the loser reads again, now with the winner's claim, and claims the next epoch.
    // Whichever keeps the partition once the group settles writes on; a restore reads the newest
    // claimant's state, which is whole either way.
    for (let attempt = 1; ; attempt++) {
      const loaded = await this.#claim();
      if (loaded) return loaded.snapshot;
      if (attempt === CLAIM_ATTEMPTS) {
        throw new Error(
          `${this.changelog.topic}/${this.context.partition}: another worker claimed this partition's state ${attempt} times in a row, ` +
            "each time just before this one: two workers of the group keep owning it at once; restart this worker",
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt + Math.random() * 200 * attempt));
    }
  }

  /** One read-and-claim; undefined when another worker's claim of the same epoch came first. */
  async #claim(): Promise<{ snapshot: PartitionSnapshot | undefined } | undefined> {
    const [start, end] = await Promise.all([this.#offset(-2n), this.#offset(-1n)]);
    const records = await this.#read(start, end);
    let restored: Restored;
    let problem: CheckpointError | undefined;
    try {
      restored = replayChangelog(records, this.context);
    } catch (error) {
      if (!(error instanceof CheckpointError)) throw error;
      // Claimed all the same: with --reset the engine starts the partition empty, and its first
      // save then replaces everything this changelog held.
      problem = error;
      restored = { snapshot: undefined, ...inspectChangelog(records) };
    }
    const writer = new ChangelogWriter(restored, this.context.settings);
    // The state again under this writer's keys, complete before the claim that makes it the one a
    // restore reads: whatever the previous owner still writes cannot take it away.
    if (restored.snapshot) {
      const copy = writer.checkpoint(restored.snapshot);
      await this.#append(copy.records);
      copy.done();
    }
    const claimOffset = await this.#append([writer.claim()]);
    if (!claimWon(await this.#read(end, claimOffset + 1n, "claim/"), writer)) return undefined;
    this.#writer = writer;
    this.#tookOver = false;
    if (problem) throw problem;
    if (restored.snapshot) {
      const retire = writer.retire();
      if (retire.records.length > 0) await this.#append(retire.records);
      retire.done();
      this.#tookOver = true;
    }
    return { snapshot: restored.snapshot };
  }

  async save(snapshot: PartitionSnapshot): Promise<void> {
    const writer = this.#writer;
    if (!writer) throw new Error("ChangelogStore.save() before load()");
    const save = this.#tookOver ? writer.checkpoint(snapshot) : writer.takeOver(snapshot);
    await this.#append(save.records);
    save.done();
    this.#tookOver = true;
  }

  /**
   * Appends `records` to this partition, in order, in requests of at most about 1 MiB (one record
   * batch each: a batch larger than the topic's max.message.bytes is refused whole); resolves
   * with the first record's offset once all are acknowledged.
   */
  async #append(records: ChangelogRecord[]): Promise<bigint> {
    let first: bigint | undefined;
    for (let from = 0; from < records.length; ) {
      let to = from;
      let bytes = 0;
      while (to < records.length && (to === from || bytes + recordBytes(records[to]!) <= APPEND_BYTES)) bytes += recordBytes(records[to++]!);
      const messages = records.slice(from, to).map(({ key, value }) => ({
        topic: this.changelog.topic,
        partition: this.context.partition,
        key,
        // null: a tombstone (the client writes a null value for it).
        value: (value === null ? null : Buffer.from(value.buffer, value.byteOffset, value.byteLength)) as Buffer,
      }));
      let result;
      try {
        result = await this.changelog.producer.send({ messages });
      } catch (error) {
        throw new StateWriteError(`writing ${messages.length} record(s) to the changelog ${this.changelog.topic}/${this.context.partition} failed`, { cause: error });
      }
      this.bytesWritten += bytes;
      const offset = result.offsets?.find((o) => o.topic === this.changelog.topic && o.partition === this.context.partition)?.offset;
      if (offset === undefined) throw new Error(`${this.changelog.topic}/${this.context.partition}: the broker did not report where the changelog records went`);
      first ??= BigInt(offset);
      from = to;
    }
    if (first === undefined) throw new RangeError("nothing to append");
    return first;
  }

  /**
   * The changelog partition's records from `from` up to (not including) `to`; with `keyPrefix`,
   * only those whose key starts with it (the others' values are not copied).
   */
  async #read(from: bigint, to: bigint, keyPrefix = ""): Promise<ChangelogRecord[]> {
    const records: ChangelogRecord[] = [];
    const partition = this.context.partition;
    const decoder = new TextDecoder();
    let at = from;
    while (at < to) {
      const fetched = await this.#fetcher.fetchRanges(new Map([[partition, at]]), (_p, offset, data, valueStart, valueEnd, keyStart, keyEnd) => {
        if (offset >= Number(to)) return;
        const key = keyStart < 0 ? "" : decoder.decode(data.subarray(keyStart, keyEnd));
        if (!key.startsWith(keyPrefix)) return;
        // A copy: `data` is a fetch response or a decompression buffer that the next batch reuses.
        records.push({ key, value: valueStart < 0 ? null : Uint8Array.prototype.slice.call(data, valueStart, valueEnd) });
      });
      const next = fetched.nextPositions.get(partition);
      const end = fetched.highWatermarks.get(partition);
      if (next !== undefined && next > at) {
        at = next;
        continue;
      }
      if (end !== undefined && end <= at) {
        throw new Error(`${this.changelog.topic}/${partition}: the changelog ends at ${end}, before offset ${to} it reported earlier (was the topic recreated?)`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50)); // no progress (a leader moving): ask again shortly
    }
    return records;
  }

  /** The changelog partition's earliest (-2) or latest (-1) offset. */
  async #offset(timestamp: -2n | -1n): Promise<bigint> {
    const offsets = await this.changelog.consumer.listOffsets({ topics: [this.changelog.topic], timestamp });
    const offset = offsets.get(this.changelog.topic)?.[this.context.partition];
    if (offset === undefined) {
      throw new Error(
        `the changelog topic ${this.changelog.topic} has no partition ${this.context.partition}: it needs as many partitions as the input topic; ` +
          "delete it (the state is rebuilt with --reset earliest) or add partitions",
      );
    }
    return offset;
  }
}
