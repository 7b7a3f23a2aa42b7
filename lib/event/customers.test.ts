import { expect, test } from "bun:test";
import { MINOR_DIGITS } from "./currency.ts";
import { Customers, MARKETS } from "./customers.ts";
import { CURRENCIES, PAYMENT_METHODS } from "./order-event.ts";

test("Customers is the same for the same seed, with unique user ids", () => {
  const a = new Customers(9, { customers: 1_000 });
  expect(a.customers).toEqual(new Customers(9, { customers: 1_000 }).customers);
  expect(new Set(a.customers.map((c) => c.userId)).size).toBe(1_000);
});

test("each market's payment weights cover every payment method and its currency is known", () => {
  for (const market of MARKETS) {
    expect(market.payments.length).toBe(PAYMENT_METHODS.length);
    expect(MINOR_DIGITS[market.currency]).toBeDefined();
  }
});

test("a customer pays in their market's currency", () => {
  for (const c of new Customers(9, { customers: 500 }).customers) {
    expect(CURRENCIES[c.currencyIndex]).toBe(MARKETS[c.marketIndex]!.currency);
  }
});
