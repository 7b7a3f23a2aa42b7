import { expect, test } from "bun:test";
import { join } from "node:path";

const MB = 1e6;

/** A child Bun process that allocates `allocateMb` and prints peakRssBytes() and maxRSS, in bytes. */
async function childPeak(allocateMb: number): Promise<{ peak: number; maxRss: number }> {
  const runtime = join(import.meta.dir, "worker-runtime.ts");
  const script = `
    import { peakRssBytes } from ${JSON.stringify(runtime)};
    const ballast = new Uint8Array(${allocateMb * MB}).fill(7);
    console.log(JSON.stringify({ peak: peakRssBytes(), maxRss: process.resourceUsage().maxRSS * 1024, touched: ballast[1] }));
  `;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(child.stdout).text();
  expect(await child.exited).toBe(0);
  return JSON.parse(out);
}

test("peakRssBytes() is the process's own peak, not the one Linux carries over from its parent", async () => {
  // The parent (this test) grows past 600 MB before it starts the child.
  const ballast = new Uint8Array(600 * MB).fill(1);
  const small = await childPeak(0);
  const large = await childPeak(300);
  expect(ballast[0]).toBe(1);
  if (process.platform === "linux") {
    // What the workers used to log: maxRSS includes the parent's 600 MB.
    expect(small.maxRss).toBeGreaterThan(600 * MB);
    expect(small.peak).toBeLessThan(200 * MB);
  }
  // The child's own 300 MB shows, and its peak is at least what it holds.
  expect(large.peak).toBeGreaterThan(300 * MB);
  expect(large.peak - small.peak).toBeGreaterThan(250 * MB);
});
