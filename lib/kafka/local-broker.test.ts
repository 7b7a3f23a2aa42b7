import { expect, test } from "bun:test";
import { parseKafkaRelease, randomClusterId } from "./local-broker.ts";

test("randomClusterId() is 22 base64url characters that never start with '-'", () => {
  for (let i = 0; i < 5_000; i++) {
    const id = randomClusterId();
    expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  }
});

test("parseKafkaRelease() takes KRaft releases (3.3.0 on) and names why it refuses the rest", () => {
  for (const release of ["3.3.0", "3.3.2", "3.6.2", "3.9.1", "4.1.1", "10.0.0"]) expect(parseKafkaRelease(release)).toBe(release);
  expect(() => parseKafkaRelease("3.2.3")).toThrow("Kafka 3.2.3 needs ZooKeeper; the local broker runs KRaft, from 3.3.0 on");
  expect(() => parseKafkaRelease("2.8.2")).toThrow("needs ZooKeeper");
  for (const bad of ["4.1", "latest", "4.1.1 ", "v4.1.1", ""]) expect(() => parseKafkaRelease(bad)).toThrow("use a release number such as 3.6.2");
});
