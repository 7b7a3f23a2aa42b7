import { expect, test } from "bun:test";
import { Catalog, CATEGORIES, shelfPrice } from "./catalog.ts";
import { Prng } from "./prng.ts";

test("Catalog is the same for the same seed", () => {
  expect(new Catalog(4, { products: 200 }).products).toEqual(new Catalog(4, { products: 200 }).products);
});

test("Catalog popularity has a long tail: the top 1% of SKUs take a large share of picks", () => {
  const catalog = new Catalog(4, { products: 1_000 });
  const prng = new Prng(1);
  const counts = new Array<number>(1_000).fill(0);
  for (let i = 0; i < 100_000; i++) counts[catalog.pick(prng)]! += 1;
  const sorted = counts.sort((a, b) => b - a);
  const top10 = sorted.slice(0, 10).reduce((a, b) => a + b, 0);
  expect(top10 / 100_000).toBeGreaterThan(0.2);
  expect(sorted.filter((c) => c > 0).length).toBeGreaterThan(800);
});

test("Catalog.pickInCategory() only returns products of that category", () => {
  const catalog = new Catalog(4, { products: 500 });
  const prng = new Prng(2);
  for (let i = 0; i < 1_000; i++) expect(catalog.products[catalog.pickInCategory(prng, 3)]!.category).toBe(CATEGORIES[3]!.name);
});

test("shelfPrice() ends two-digit currencies in 99 and rounds yen to tens", () => {
  expect([shelfPrice(1_999, "EUR") % 100, shelfPrice(1_999, "JPY") % 10, shelfPrice(1_999, "USD")]).toEqual([99, 0, 1_999]);
});

test("Catalog rejects fewer products than categories", () => {
  expect(() => new Catalog(1, { products: 3 })).toThrow(RangeError);
});
