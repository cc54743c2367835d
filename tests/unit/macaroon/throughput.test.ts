/**
 * Throughput of the request path: decode an X-Macaroon header, verify a token with five first-party caveats.
 * Prints ops/s; the assertion is a loose floor so slow CI machines still pass.
 */
import { expect, test } from "bun:test";
import {
  dockerCaveat,
  dockerCaveatChecker,
  emptyRevocations,
  initKeyring,
  ipMatches,
  mintToken,
  verifyToken,
} from "../../../src/macaroon/index.ts";
import { fixedClock, seededRandom } from "./helpers.ts";

test("decode + verify of a token with 5 first-party caveats runs well above 2,000 per second", async () => {
  const random = seededRandom(5);
  const keyring = await initKeyring(undefined, random, fixedClock());
  const minted = mintToken(keyring, random, [
    dockerCaveat("op", "read"),
    dockerCaveat("container_id", "ab".repeat(32)),
    dockerCaveat("image_id", "cd".repeat(32)),
    dockerCaveat("ip", "10.0.0.0/8"),
    dockerCaveat("expires", "2030-01-01T00:00:00Z"),
  ]);
  const now = Date.UTC(2025, 0, 1);
  const check = dockerCaveatChecker((c) => {
    if (c.name === "ip") return ipMatches(c.range, "10.1.2.3") || "address";
    if (c.name === "expires") return now < c.atMs || "expired";
    return true;
  });
  const options = { keyring, revocations: emptyRevocations(), check };
  for (let i = 0; i < 500; i++) verifyToken(minted.token, options); // warm up
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < 400) {
    for (let i = 0; i < 100; i++) verifyToken(minted.token, options);
    n += 100;
  }
  const perSecond = Math.round(n / ((performance.now() - start) / 1000));
  console.log(`macaroon verify throughput: ${perSecond} ops/s (decode + 5 caveats + verify)`);
  expect(perSecond).toBeGreaterThan(2000);
});
