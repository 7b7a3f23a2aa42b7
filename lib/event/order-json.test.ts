import { expect, test } from "bun:test";
import { encodeOrderEvent, sequenceUuid } from "./encode-order.ts";
import { IsoTimeWriter, MAX_ORDER_BYTES, type OrderDraft, OrderJsonWriter, putSequenceUuid, putUint } from "./order-json.ts";
import { orderEventOf } from "./simulator.ts";

const decoder = new TextDecoder();
const written = (write: (buf: Uint8Array, at: number) => number) => {
  const buf = new Uint8Array(MAX_ORDER_BYTES + 8).fill(0x7e);
  const end = write(buf, 3);
  return decoder.decode(buf.subarray(3, end));
};

function draft(overrides: Partial<OrderDraft> = {}): OrderDraft {
  return {
    orderNumber: 7,
    createdMs: Date.parse("2026-11-27T18:00:00.123Z"),
    userId: "u-000042",
    lines: 2,
    skus: ["SKU-000001", "SKU-004999"],
    categories: ["electronics", "books"],
    qtys: [1, 12],
    unitPrices: [0, 123_456_789],
    discountMinor: 10,
    amountMinor: 99,
    currency: "JPY",
    totalUsdCents: 1,
    country: "JP",
    paymentMethod: "card",
    channel: "ios",
    status: "paid",
    ...overrides,
  };
}

test("OrderJsonWriter writes the bytes encodeOrderEvent gives for the same order", () => {
  const cases = [
    draft(),
    draft({ lines: 1, orderNumber: 0, discountMinor: 0 }),
    draft({ orderNumber: 2 ** 32 + 5, createdMs: 0 }),
    draft({ orderNumber: Number.MAX_SAFE_INTEGER, amountMinor: 999_999_999_999_999, createdMs: 253_402_300_799_999 }),
    draft({ createdMs: -1 }), // before 1970: outside the cached fast form, same text as toISOString
    draft({ createdMs: 253_402_300_800_000 }), // year 10000
  ];
  for (const seed of [0, 1, -7, 2 ** 31 - 1]) {
    const writer = new OrderJsonWriter(seed);
    for (const d of cases) expect(written((buf, at) => writer.write(buf, at, d))).toBe(encodeOrderEvent(orderEventOf(d, seed)));
  }
});

test("putSequenceUuid writes sequenceUuid's text", () => {
  for (const seed of [0, 3, -1, 123_456_789]) {
    for (const sequence of [0, 1, 15, 65_535, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]) {
      expect(written((buf, at) => putSequenceUuid(buf, at, seed, sequence))).toBe(sequenceUuid(seed, sequence));
    }
  }
});

test("putUint writes every power-of-ten boundary as String() does", () => {
  for (let p = 1; p <= 1e15; p *= 10) {
    for (const n of [p - 1, p, p + 1]) expect(written((buf, at) => putUint(buf, at, n))).toBe(String(n));
  }
  expect(written((buf, at) => putUint(buf, at, Number.MAX_SAFE_INTEGER))).toBe(String(Number.MAX_SAFE_INTEGER));
});

test("IsoTimeWriter gives toISOString's text across second, day and year boundaries, in any order", () => {
  const time = new IsoTimeWriter();
  const base = Date.parse("2026-12-31T23:59:58.000Z");
  const times = [base, base + 999, base + 1_000, base + 2_001, base - 1, base + 1, 0, 1, 999, 1_000, 86_399_999];
  for (const ms of times) expect(written((buf, at) => time.put(buf, at, ms))).toBe(new Date(ms).toISOString());
});
