/** Random (version 4) UUIDs from the injected random source. */
import type { RandomBytes } from "../ports.ts";
import { bytesToHex } from "@noble/hashes/utils.js";

export function randomUuid(random: RandomBytes): string {
  const b = random(16);
  if (b.length !== 16) throw new RangeError("randomUuid: short random read");
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = bytesToHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
