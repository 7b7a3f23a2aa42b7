import { expect, test } from "bun:test";
import { tallyJunit, unescapeXml } from "./junit.ts";

const report = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="bun test" tests="5" failures="1" skipped="2">
  <testsuite name="a.test.ts" file="a.test.ts" tests="4">
    <testcase name="one" classname="" time="0.0003" file="a.test.ts" line="2" assertions="1" />
    <testcase name="two" classname="" time="0" file="a.test.ts" line="3" assertions="0">
      <skipped />
    </testcase>
    <testcase name="three" classname="" time="0" file="a.test.ts" line="4" assertions="0">
      <skipped message="TODO" />
    </testcase>
    <testcase name="four" classname="" time="0.0002" file="a.test.ts" line="5" assertions="1">
      <failure type="AssertionError" message="expect(received).toBe(expected)&#10;">AssertionError: expect(received).toBe(expected)&#10;&#10;Expected: &quot;a &amp; b&quot;&#10;      at a.test.ts:5:3&#10;</failure>
    </testcase>
  </testsuite>
  <testsuite name="b.test.ts" file="test/b.test.ts" tests="1">
    <testsuite name="nested describe" file="test/b.test.ts" tests="1">
      <testcase name="five" classname="nested describe" time="0.1" file="test/b.test.ts" line="9" assertions="3" />
    </testsuite>
  </testsuite>
</testsuites>`;

test("tallyJunit() counts passed, failed and skipped test cases, nested suites included", () => {
  expect(tallyJunit(report)).toEqual({
    passed: 2,
    failed: 1,
    skipped: 2,
    files: new Map([["a.test.ts", 4], ["test/b.test.ts", 1]]),
    failures: [{ file: "a.test.ts", name: "four", text: 'AssertionError: expect(received).toBe(expected)\n\nExpected: "a & b"\n      at a.test.ts:5:3\n' }],
  });
});

test("tallyJunit() finds no tests in a report without test cases", () => {
  expect(tallyJunit(`<testsuites name="bun test" tests="0"></testsuites>`)).toEqual({
    passed: 0,
    failed: 0,
    skipped: 0,
    files: new Map(),
    failures: [],
  });
});

test("tallyJunit() takes a failure's message when it has no text, and an <error> counts as a failure", () => {
  const xml = `<testsuites><testsuite file="c.test.ts">
    <testcase name="a &lt;b&gt;" file="c.test.ts"><failure message="timed out&#x0A;after 5000 ms" /></testcase>
    <testcase name="b" file="c.test.ts"><error message="boom">Error: boom</error></testcase>
  </testsuite></testsuites>`;
  expect(tallyJunit(xml).failures).toEqual([
    { file: "c.test.ts", name: "a <b>", text: "timed out\nafter 5000 ms" },
    { file: "c.test.ts", name: "b", text: "Error: boom" },
  ]);
});

test("unescapeXml() reads named, decimal and hex references, and leaves unknown ones", () => {
  expect(unescapeXml("&lt;a&gt; &amp;amp; &#233;&#x1F600; &nbsp;")).toBe("<a> &amp; é😀 &nbsp;");
});
