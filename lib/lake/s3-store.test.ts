import { expect, test } from "bun:test";
import { parseS3Uri } from "./s3-store.ts";

test("parseS3Uri() takes s3://bucket and s3://bucket/prefix, prefix without slashes at either end", () => {
  expect(parseS3Uri("s3://lake")).toEqual({ bucket: "lake", prefix: "" });
  expect(parseS3Uri("s3://lake/")).toEqual({ bucket: "lake", prefix: "" });
  expect(parseS3Uri("s3://orderpulse-lake/tables/orders")).toEqual({ bucket: "orderpulse-lake", prefix: "tables/orders" });
  expect(parseS3Uri("s3://my.bucket-1/orders/")).toEqual({ bucket: "my.bucket-1", prefix: "orders" });
});

test("parseS3Uri() names what is wrong with anything else", () => {
  for (const bad of ["lake/orders", "s3:/lake", "s3://", "s3://Lake/x", "s3://ab", "file:///tmp/lake", "s3://lake_1/x"]) {
    expect(() => parseS3Uri(bad)).toThrow("is not an S3 URI: use s3://bucket or s3://bucket/prefix");
  }
  expect(() => parseS3Uri("s3://lake/a/../b")).toThrow('the prefix must not contain ".."');
});
