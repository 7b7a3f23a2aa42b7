import { expect, test } from "bun:test";
import { readConfig } from "../runtime/config.ts";
import { influxSettings, influxTarget } from "./influx-config.ts";

const noFiles = (path: string): string => {
  throw new Error(`ENOENT: ${path}`);
};

test("influxTarget() is undefined without INFLUX_URL: no InfluxDB sink", () => {
  expect(influxTarget(readConfig(influxSettings, {}), noFiles)).toBeUndefined();
});

test("influxTarget() builds a 2.x target with the token from the environment", () => {
  const config = readConfig(influxSettings, { INFLUX_URL: "http://influx:8086", INFLUX_TOKEN: "s3cret", INFLUX_ORG: "shop" });
  expect(influxTarget(config, noFiles)).toEqual({ api: "v2", url: "http://influx:8086", org: "shop", bucket: "orders", token: "s3cret" });
});

test("influxTarget() reads the token from INFLUX_TOKEN_FILE", () => {
  const config = readConfig(influxSettings, { INFLUX_URL: "http://influx:8086", INFLUX_TOKEN_FILE: "/run/secrets/t" });
  expect(influxTarget(config, (path) => (path === "/run/secrets/t" ? "from-file\n" : noFiles(path)))).toMatchObject({ token: "from-file" });
});

test("influxTarget() refuses the 2.x API without a token, naming the variables", () => {
  const config = readConfig(influxSettings, { INFLUX_URL: "http://influx:8086" });
  expect(() => influxTarget(config, noFiles)).toThrow(/INFLUX_TOKEN or INFLUX_TOKEN_FILE is required/);
});

test("influxTarget() builds a 1.x target with database, retention policy and credentials", () => {
  const config = readConfig(influxSettings, {
    INFLUX_URL: "http://influx:8086",
    INFLUX_API: "v1",
    INFLUX_DB: "shop",
    INFLUX_RP: "week",
    INFLUX_USER: "writer",
    INFLUX_PASSWORD: "pw",
  });
  expect(influxTarget(config, noFiles)).toEqual({ api: "v1", url: "http://influx:8086", db: "shop", retentionPolicy: "week", user: "writer", password: "pw" });
});

test("a bad INFLUX_URL or INFLUX_API is a configuration error that hides no secret", () => {
  expect(() => readConfig(influxSettings, { INFLUX_URL: "influx:8086", INFLUX_TOKEN: "s3cret" })).toThrow(/INFLUX_URL: expected http\(s\):\/\/host:port/);
  expect(() => readConfig(influxSettings, { INFLUX_API: "v3" })).toThrow(/INFLUX_API: expected v2 or v1/);
});
