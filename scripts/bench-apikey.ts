/**
 * API key authentication cost per request, with 10,000 keys stored, beside its own floor in the same run:
 *  1. the whole check the listener runs: parse `Authorization: Basic`, check the key's format and checksum,
 *     one SHA-256, one digest-index lookup, constant-time compares of digest and user, expiry;
 *  2. the floor: one SHA-256 of the same 53-byte key alone.
 * Prints ops/s, us per check and the ratio. BENCH_MS sets the measuring time per figure (default 3000).
 */
import { sha256 } from "@noble/hashes/sha2.js";
import {
  type ApiKeySet,
  createApiKey,
  emptyApiKeySet,
  indexApiKeys,
  parseBasicAuthorization,
  verifyApiKey,
} from "../src/apikey/index.ts";

const DURATION_MS = Number(process.env["BENCH_MS"] ?? 3000);
const KEYS = 10_000;
const now = new Date("2026-12-01T00:00:00Z");
const clock = () => now;
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

let set: ApiKeySet = emptyApiKeySet();
let probe = "";
for (let i = 0; i < KEYS; i++) {
  const created = createApiKey(set, { user: `user${i}` }, random, clock);
  set = created.set;
  if (i === KEYS / 2) probe = created.key;
}
indexApiKeys(set);
const header = `Basic ${btoa(`user${KEYS / 2}:${probe}`)}`;
const keyBytes = new TextEncoder().encode(probe);

function measure(name: string, once: () => void): number {
  for (let i = 0; i < 20_000; i++) once();
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < DURATION_MS) {
    for (let i = 0; i < 1000; i++) once();
    n += 1000;
  }
  const opsPerSecond = n / ((performance.now() - started) / 1000);
  console.log(
    `${name.padEnd(58)} ${Math.round(opsPerSecond).toLocaleString("en")} ops/s (${
      (1e6 / opsPerSecond).toFixed(2)
    } us)`,
  );
  return opsPerSecond;
}

console.log(`API key authentication, ${KEYS.toLocaleString("en")} keys stored`);
const full = measure("parse Basic + verify (format, SHA-256, index, constant time)", () => {
  const parsed = parseBasicAuthorization(header);
  if (!parsed.ok || !verifyApiKey(set, parsed.credentials.user, parsed.credentials.key, now).ok) {
    throw new Error("the bench key did not verify");
  }
});
const floor = measure("floor: SHA-256 of the key alone", () => void sha256(keyBytes));
console.log(`ratio: the whole check costs x${(floor / full).toFixed(2)} of one SHA-256`);
