/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial), synchronous and platform-neutral.
 *
 * Used as the checkpoint checksum: it catches truncation, bit flips and torn writes, which is
 * what a checkpoint on local disk meets. It is not a defence against deliberate tampering (a
 * SHA-256 would be, but `crypto.subtle` is async and a checkpoint decode should not be).
 */
const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 of `bytes`, as an unsigned 32-bit integer. */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
