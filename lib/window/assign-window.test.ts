import { expect, test } from "bun:test";
import { assignWindow } from "./assign-window.ts";

test("assignWindow() returns the start of the window that contains the event", () => {
  expect([assignWindow(0, 60_000), assignWindow(59_999, 60_000), assignWindow(125_000, 60_000)]).toEqual([0, 0, 120_000]);
});

test("assignWindow() puts an event on the boundary into the later window", () => {
  expect(assignWindow(60_000, 60_000)).toEqual(60_000);
});

test("assignWindow() floors negative event times into the window that contains them", () => {
  expect([assignWindow(-1, 60_000), assignWindow(-60_000, 60_000), assignWindow(-60_001, 60_000)]).toEqual([
    -60_000,
    -60_000,
    -120_000,
  ]);
});
