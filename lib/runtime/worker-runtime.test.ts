import { expect, test } from "bun:test";
import { join } from "node:path";
import { STOP_BACKSTOP_GRACE_MS } from "./worker-runtime.ts";

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

/**
 * A child Bun process running `body` as runMain's main: its exit code, its stdout after "ready",
 * its stderr and the ms from SIGTERM to exit. A timer keeps the child alive until `body` clears
 * `alive`, as a worker's open sockets do: without it, a child waiting only for the signal would
 * find its event loop empty and exit 0 before the SIGTERM arrives.
 */
async function stoppedMain(body: string): Promise<{ code: number; stdout: string; stderr: string; stopMs: number }> {
  const runtime = join(import.meta.dir, "worker-runtime.ts");
  const script = `
    import { runMain } from ${JSON.stringify(runtime)};
    const alive = setInterval(() => {}, 1_000);
    runMain(async (signal, { stopWithin }) => { ${body} });
  `;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  // "ready" on stdout: the signal handlers are in place.
  let out = "";
  while (!out.includes("ready\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the child exited before it was ready: ${await new Response(child.stderr).text()}`);
    out += decoder.decode(value, { stream: true });
  }
  const started = performance.now();
  child.kill("SIGTERM");
  const code = await child.exited;
  const stopMs = performance.now() - started;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out += decoder.decode(value, { stream: true });
  }
  return { code, stdout: out.slice(out.indexOf("ready\n") + "ready\n".length), stderr: await new Response(child.stderr).text(), stopMs };
}

test("runMain() ends a stop that outlasts its declared shutdown timeout: exit 1, saying so, not before the grace", async () => {
  // A cleanup waiting on something that never answers, with a timer keeping the process alive.
  const hung = await stoppedMain(`
    stopWithin(300);
    console.log("ready");
    await new Promise((resolve) => signal.addEventListener("abort", resolve));
    console.log("stopping");
    await new Promise(() => {});
  `);
  expect(hung.stdout).toBe("stopping\n");
  expect(hung.code).toBe(1);
  expect(hung.stderr).toContain("error: the stop did not finish within its 300 ms shutdown timeout (and 2000 ms more); exiting without the rest of its cleanup");
  expect(hung.stopMs).toBeGreaterThanOrEqual(300 + STOP_BACKSTOP_GRACE_MS - 50);
});

test("runMain() lets a stop that finishes within its shutdown timeout exit as it chooses", async () => {
  const clean = await stoppedMain(`
    stopWithin(300);
    console.log("ready");
    await new Promise((resolve) => signal.addEventListener("abort", resolve));
    await Bun.sleep(100);
    console.log("stopped");
    clearInterval(alive);
  `);
  expect(clean).toMatchObject({ code: 0, stdout: "stopped\n", stderr: "" });
  expect(clean.stopMs).toBeLessThan(300 + STOP_BACKSTOP_GRACE_MS);
});
