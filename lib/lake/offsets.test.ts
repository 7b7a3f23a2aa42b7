import { describe, expect, test } from "bun:test";
import { claimAfter, decodeOffsets, encodeOffsets, isAbandonedWriterFile, isCommittedWriterFile, type PartitionOffsets } from "./offsets.ts";

const head: PartitionOffsets = {
  topic: "orders",
  partition: 3,
  seq: 7,
  epoch: 4,
  owner: "w4",
  firstEpoch: 1,
  nextOffset: 900n,
  closed: [{ epoch: 2, endOffset: 300n }],
  skipped: [{ from: 10n, to: 20n }],
  writtenAtMs: 1,
};
const file = (epoch: number, lastOffset: bigint, temp = false) => ({ name: { epoch, lastOffset }, temp });
const next = { topic: "orders", partition: 3, owner: "w5", writtenAtMs: 2 };

describe("partition offsets", () => {
  test("an entry round-trips through its JSON", () => {
    expect(decodeOffsets(encodeOffsets(head), "x")).toEqual(head);
  });
  test("a writer file is committed below its epoch's end: the current epoch's next offset, or a closed epoch's end", () => {
    expect([isCommittedWriterFile(head, { epoch: 4, lastOffset: 899n }), isCommittedWriterFile(head, { epoch: 4, lastOffset: 900n })]).toEqual([true, false]);
    expect([isCommittedWriterFile(head, { epoch: 2, lastOffset: 299n }), isCommittedWriterFile(head, { epoch: 2, lastOffset: 300n }), isCommittedWriterFile(head, { epoch: 3, lastOffset: 0n })]).toEqual([
      true,
      false,
      false,
    ]);
  });
  test("only files of this log's ended epochs outside what they committed are abandoned; older epochs' files are not judged", () => {
    expect(isAbandonedWriterFile(head, { epoch: 2, lastOffset: 300n })).toBe(true); // a fenced or crashed flush of epoch 2
    expect(isAbandonedWriterFile(head, { epoch: 3, lastOffset: 5n })).toBe(true); // epoch 3 never committed what it wrote
    expect(isAbandonedWriterFile(head, { epoch: 4, lastOffset: 950n })).toBe(false); // the current epoch's own
    expect(isAbandonedWriterFile(head, { epoch: 0, lastOffset: 5n })).toBe(false); // before the log
  });
  test("claimAfter() takes the next seq and an epoch above all, copies the position and closes the old epoch where it stands", () => {
    const claim = claimAfter(head, [file(2, 299n), file(4, 899n), file(6, 1200n, true)], next);
    expect(claim).toEqual({ ...next, seq: 8, epoch: 7, firstEpoch: 1, nextOffset: 900n, closed: [{ epoch: 2, endOffset: 300n }, { epoch: 4, endOffset: 900n }], skipped: head.skipped });
  });
  test("claimAfter() drops a closed epoch once none of its committed files is on disk", () => {
    expect(claimAfter(head, [file(4, 899n), file(2, 300n)], next).closed).toEqual([{ epoch: 4, endOffset: 900n }]);
  });
  test("claimAfter() on a lake without offsets starts a log whose first epoch is above every file's", () => {
    expect(claimAfter(undefined, [file(5, 10n)], next)).toMatchObject({ seq: 1, epoch: 6, firstEpoch: 6, nextOffset: undefined, closed: [] });
  });
  test("claimAfter() after an offsets file from before the log closes epoch 0 there and judges its files", () => {
    const legacy: PartitionOffsets = { ...head, seq: 0, epoch: 0, owner: "", firstEpoch: 0, nextOffset: 500n, closed: [], skipped: [] };
    expect(claimAfter(legacy, [file(0, 499n)], next)).toMatchObject({ seq: 1, epoch: 1, firstEpoch: 0, nextOffset: 500n, closed: [{ epoch: 0, endOffset: 500n }] });
  });
});
