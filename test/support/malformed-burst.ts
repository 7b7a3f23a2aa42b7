/**
 * A burst of malformed messages of every kind — random bytes, deeply nested JSON, wrong types,
 * NaN and Infinity, far-past and far-future timestamps, invalid UTF-8, an empty key, no value
 * at all — plus one 10 MB value, for the suites that prove bad input never crashes a worker and
 * never vanishes (test/malformed-burst.test.ts, test/reliability.test.ts).
 */
import { createAdmin, createProducer, type KafkaConnection } from "../../lib/kafka/client.ts";
import { Prng } from "../../lib/event/prng.ts";

/** A canonical-looking order whose fields are then broken one way or another. */
function validLooking(i: number, createdAt: string): Record<string, unknown> {
  return {
    schema_version: 1,
    event_id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    order_id: `o-bad-${i}`,
    user_id: `u-bad-${i % 997}`,
    created_at: createdAt,
    items: [{ sku: "SKU-000001", category: "books", qty: 1, unit_price_minor: 1000 }],
    discount_minor: 0,
    total: { amount_minor: 1000, currency: "USD" },
    total_usd_cents: 1000,
    country: "US",
    payment_method: "card",
    channel: "web",
    status: "paid",
  };
}

/** Message i of the burst: one of many kinds of bad input, each a Buffer (or null: no value). */
export function malformed(i: number, prng: Prng, nowMs: number): { key: string | undefined; value: Buffer | undefined } {
  const key = i % 50 === 0 ? "" : `u-bad-${i % 997}`;
  const at = new Date(nowMs - 3_600_000).toISOString();
  switch (i % 14) {
    case 0:
      return { key, value: Buffer.from(Array.from({ length: prng.int(1, 300) }, () => prng.int(0, 255))) };
    case 1:
      return { key, value: Buffer.from(`${"[".repeat(100_000)}${"]".repeat(100_000)}`) };
    case 2:
      return { key, value: Buffer.from(JSON.stringify({ ...validLooking(i, at), total_usd_cents: "1000" })) };
    case 3:
      return { key, value: Buffer.from(JSON.stringify(validLooking(i, at)).replace('"total_usd_cents":1000', '"total_usd_cents":NaN')) };
    case 4:
      return { key, value: Buffer.from(JSON.stringify(validLooking(i, at)).replace('"discount_minor":0', '"discount_minor":Infinity')) };
    case 5:
      return { key, value: Buffer.from(JSON.stringify(validLooking(i, at)).replace('"discount_minor":0', '"discount_minor":1e999')) };
    case 6:
      return { key, value: Buffer.from(JSON.stringify(validLooking(i, new Date(nowMs - 30 * 86_400_000).toISOString()))) };
    case 7:
      return { key, value: Buffer.from(JSON.stringify(validLooking(i, new Date(nowMs + 3 * 86_400_000).toISOString()))) };
    case 8: {
      const bytes = Buffer.from(JSON.stringify(validLooking(i, at)));
      bytes[bytes.indexOf("books")] = 0xff; // invalid UTF-8 inside a string
      return { key, value: bytes };
    }
    case 9:
      return { key, value: Buffer.from(JSON.stringify({ ...validLooking(i, at), items: [{ sku: "x", category: "books", qty: -1, unit_price_minor: 1000 }] })) };
    case 10:
      return { key, value: Buffer.from(JSON.stringify({ ...validLooking(i, at), total: { amount_minor: 1000, currency: "XYZ" } })) };
    case 11:
      return { key, value: undefined };
    case 12:
      return { key, value: Buffer.from("") };
    default:
      return { key: undefined, value: Buffer.from(JSON.stringify([validLooking(i, at)])) };
  }
}

/** The key of the one 10 MB message a burst ends with. */
export const HUGE_KEY = "u-huge";

/** Lets `topics` take the 10 MB message (topics take 1 MB messages by default). */
export function allowHugeMessages(conn: KafkaConnection, topics: string[]): Promise<void> {
  return setMaxMessageBytes(conn, topics, 16 * 1024 * 1024);
}

/** Sets the `max.message.bytes` of `topics` (the largest record batch each takes) to `bytes`. */
export async function setMaxMessageBytes(conn: KafkaConnection, topics: string[], bytes: number): Promise<void> {
  const admin = createAdmin(conn);
  try {
    await admin.alterConfigs({
      resources: topics.map((name) => ({ resourceType: 2, resourceName: name, configs: [{ name: "max.message.bytes", value: String(bytes) }] })),
    });
  } finally {
    await admin.close();
  }
}

/**
 * Sends `count` incompressible values of `bytes` random bytes each (never valid JSON: the first
 * byte is 0xff) to `topic`, keyed `k-<i>` (with `headers(i)` when given), in the order given;
 * returns them, index i at offset i of the topic's only partition when it was empty.
 */
export async function sendRandomBurst(
  conn: KafkaConnection,
  topic: string,
  count: number,
  bytes: number,
  options: { seed: number; headers?: (i: number) => Record<string, string> },
): Promise<Buffer[]> {
  const prng = new Prng(options.seed);
  const values = Array.from({ length: count }, () => {
    const value = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; i++) value[i] = prng.int(0, 255);
    value[0] = 0xff;
    return value;
  });
  const producer = createProducer(conn, { role: "random-burst" });
  try {
    for (let start = 0; start < count; start += 200) {
      const messages = values.slice(start, start + 200).map((value, i) => ({ topic, key: `k-${start + i}`, value, ...(options.headers ? { headers: options.headers(start + i) } : {}) }));
      await producer.send({ messages });
    }
  } finally {
    await producer.close();
  }
  return values;
}

/**
 * Sends `count` malformed messages (seeded), then one 10 MB value keyed {@link HUGE_KEY}, to
 * `topic` (which must take it: {@link allowHugeMessages}). Timestamps are relative to `nowMs`.
 */
export async function sendMalformedBurst(conn: KafkaConnection, topic: string, count: number, options: { seed: number; nowMs: number }): Promise<void> {
  const producer = createProducer(conn, { role: "malformed" });
  const prng = new Prng(options.seed);
  try {
    for (let start = 0; start < count; start += 500) {
      const messages = [];
      for (let i = start; i < Math.min(count, start + 500); i++) {
        const { key, value } = malformed(i, prng, options.nowMs);
        messages.push({ topic, key, value });
      }
      await producer.send({ messages });
    }
    await producer.send({ messages: [{ topic, key: HUGE_KEY, value: Buffer.alloc(10 * 1024 * 1024, 0x7b) }] });
  } finally {
    await producer.close();
  }
}
