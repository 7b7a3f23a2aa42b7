/**
 * What creating files and directories costs where a lake would live: the lake writer makes one
 * file per event hour per flush, and a stream's stragglers make most of them new directories
 * (bench/results/lake.md). On some disks this is cheap everywhere; on this project's build
 * machine (ext4 without a journal, a much-used disk image) it depends on the directory, because
 * ext4 looks for a free inode near the parent directory's and skips recently freed ones.
 *
 *   bun run bench/fs-create.ts [DIR ...]   (default: the temporary directory, and a new directory at /)
 *
 * For each DIR: 750 directories (30 days of 24 hours, as dt=/hour= partitions) and then 1,440
 * empty files in them, in a new subdirectory of DIR that is deleted afterwards; prints the
 * system CPU time per call.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dirs = process.argv.length > 2 ? process.argv.slice(2) : [tmpdir(), "/"];

for (const dir of dirs) {
  let root: string;
  try {
    root = mkdtempSync(join(dir, "orderpulse-fs-create-"));
  } catch (error) {
    console.log(`${dir}: cannot create a directory there (${(error as Error).message}); skipped`);
    continue;
  }
  try {
    let before = process.cpuUsage();
    for (let d = 0; d < 30; d++) {
      mkdirSync(join(root, `dt=${d}`));
      for (let h = 0; h < 24; h++) mkdirSync(join(root, `dt=${d}`, `hour=${h}`));
    }
    const mkdirUs = process.cpuUsage(before).system / 750;
    before = process.cpuUsage();
    for (let d = 0; d < 30; d++) for (let h = 0; h < 24; h++) for (let k = 0; k < 2; k++) closeSync(openSync(join(root, `dt=${d}`, `hour=${h}`, `f${k}`), "wx"));
    const createUs = process.cpuUsage(before).system / 1_440;
    console.log(`${dir}: mkdir ${mkdirUs.toFixed(0)} µs, create ${createUs.toFixed(0)} µs of system CPU per call`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
