/**
 * Which files the compactor merges: pure planning over the files of a table snapshot.
 *
 * An hour partition is closed once its end lies `closeAfterMs` in the past; only closed hours
 * are compacted (an open hour still gets a file per flush). In a closed hour the small files —
 * under half the target size — are packed greedily, in path order, into groups of at most
 * `targetBytes` of input, and every group of at least `minFiles` becomes one compaction (one
 * output file, one Delta commit). Late events keep arriving for up to a day: they land as new
 * small files in an hour already compacted, and a later run merges them with whatever small
 * files are there, including an earlier output that stayed small.
 */
import { dirOf, hourEndMs } from "./layout.ts";

export interface SizedFile {
  path: string;
  bytes: number;
}

export interface PlanOptions {
  nowMs: number;
  /** An hour is closed this long after its end. */
  closeAfterMs: number;
  /** Input bytes per output file at most; files of half this or more are left alone. */
  targetBytes: number;
  /** Fewest small files worth a compaction. At least 2. */
  minFiles: number;
}

export interface PlannedCompaction {
  hour: string;
  inputs: SizedFile[];
}

export function planCompactions(files: readonly SizedFile[], options: PlanOptions): PlannedCompaction[] {
  if (!(options.targetBytes > 0)) throw new RangeError(`target size must be a positive number of bytes: got ${options.targetBytes}`);
  if (!(options.minFiles >= 2)) throw new RangeError(`a compaction merges at least 2 files: got minFiles ${options.minFiles}`);
  const byHour = new Map<string, SizedFile[]>();
  for (const f of files) {
    const hour = dirOf(f.path);
    const end = hourEndMs(hour);
    if (end === undefined || end + options.closeAfterMs > options.nowMs) continue;
    if (f.bytes >= options.targetBytes / 2) continue;
    let list = byHour.get(hour);
    if (!list) byHour.set(hour, (list = []));
    list.push(f);
  }
  const plans: PlannedCompaction[] = [];
  for (const hour of [...byHour.keys()].sort()) {
    const small = byHour.get(hour)!.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    let group: SizedFile[] = [];
    let groupBytes = 0;
    const close = () => {
      if (group.length >= options.minFiles) plans.push({ hour, inputs: group });
      group = [];
      groupBytes = 0;
    };
    for (const f of small) {
      if (group.length > 0 && groupBytes + f.bytes > options.targetBytes) close();
      group.push(f);
      groupBytes += f.bytes;
    }
    close();
  }
  return plans;
}
