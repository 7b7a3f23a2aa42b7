import { expect, test } from "bun:test";
import { randomClusterId } from "./local-broker.ts";

test("randomClusterId() is 22 base64url characters that never start with '-'", () => {
  for (let i = 0; i < 5_000; i++) {
    const id = randomClusterId();
    expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  }
});
