/**
 * Snapshots with their fingerprint runs (lib/window/fingerprint-set.ts) as plain arrays, so that
 * `toEqual` compares what they hold: a run is an object with a function, which `toEqual` would
 * compare by identity.
 */
import type { PartitionSnapshot } from "../../lib/window/partition-aggregator.ts";
import type { WindowSnapshot } from "../../lib/window/window-aggregate.ts";

export function plainWindow(w: WindowSnapshot): Omit<WindowSnapshot, "customers" | "eventIds"> & { customers: number[]; eventIds: number[] } {
  return { ...w, customers: [...w.customers.entries()], eventIds: [...w.eventIds.entries()] };
}

export function plainPartition(p: PartitionSnapshot) {
  return { ...p, windows: p.windows.map(plainWindow) };
}

export function plainCheckpoint<T extends { partitions: PartitionSnapshot[] }>(c: T) {
  return { ...c, partitions: c.partitions.map(plainPartition) };
}
