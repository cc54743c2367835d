/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial 0xEDB88320 reflected): the API key checksum. It is no
 * protection against forgery (anyone can compute it); it catches typos and foreign strings offline. A CRC-32
 * detects every burst error of up to 32 bits, so any change confined to one character (8 bits) is caught.
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

/** CRC-32 of `bytes` as an unsigned 32-bit number (crc32("123456789") = 0xCBF43926). */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) crc = TABLE[(crc ^ b) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
