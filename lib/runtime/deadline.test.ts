import { expect, test } from "bun:test";
import { beforeDeadline, TIMED_OUT } from "./deadline.ts";

test("beforeDeadline() gives the promise's value when it settles first", async () => {
  expect(await beforeDeadline(Bun.sleep(5).then(() => "done"), performance.now() + 1_000)).toBe("done");
});

test("beforeDeadline() passes on the promise's rejection when it settles first", async () => {
  await expect(beforeDeadline(Promise.reject(new Error("refused")), performance.now() + 1_000)).rejects.toThrow("refused");
});

test("beforeDeadline() gives TIMED_OUT at the deadline for a promise that never settles, not before", async () => {
  const started = performance.now();
  expect(await beforeDeadline(new Promise(() => {}), started + 50)).toBe(TIMED_OUT);
  expect(performance.now() - started).toBeGreaterThanOrEqual(45);
});

test("beforeDeadline() with a deadline already passed lets a settled promise win, and times out a pending one at once", async () => {
  const past = performance.now() - 10;
  expect(await beforeDeadline(Promise.resolve(7), past)).toBe(7);
  const started = performance.now();
  expect(await beforeDeadline(new Promise(() => {}), past)).toBe(TIMED_OUT);
  expect(performance.now() - started).toBeLessThan(500);
});
