/**
 * Macaroon verification figures, each beside pymacaroons (Debian python3-pymacaroons, /usr/bin/python3)
 * verifying the same token with the same five caveats in the same run:
 *  1. cold: decode the X-Macaroon header, recompute the HMAC chain, parse and check five caveats;
 *  2. cached: the plugin's macaroon gate on a repeated token (verification cache hit, caveats still checked
 *     against the request, names resolved from the resolver's cache).
 * Prints ops/s and the ratios. BENCH_MS sets the measuring time per figure (default 3000).
 */
import "reflect-metadata"; // decide.ts reaches @peculiar/x509 (peer certificates), which needs it first
import { macaroonGate } from "../src/decide/macaroon-gate.ts";
import { buildFacts, isDecision } from "../src/decide/decide.ts";
import {
  dockerCaveat,
  dockerCaveatChecker,
  emptyRevocations,
  type Keyring,
  mintToken,
  verifyToken,
} from "../src/macaroon/index.ts";

const DURATION_MS = Number(process.env["BENCH_MS"] ?? 3000);
const KEY_TEXT = "bench root key, shared with peers";
const WEB_ID = "3f2a9c".padEnd(64, "1");
const TINY_ID = `sha256:${"c0ffee".padEnd(64, "3")}`;
const CAVEATS: [string, string][] = [
  ["op", "read,write"],
  ["container_id", WEB_ID],
  ["image_id", TINY_ID],
  ["expires", "2099-01-01T00:00:00Z"],
  ["op", "write"],
];

const keyring: Keyring = {
  current: "bench",
  keys: [{ id: "bench", key: new TextEncoder().encode(KEY_TEXT), createdAt: "2026-01-01T00:00:00Z" }],
};
let counter = 0;
const random = (n: number) => Uint8Array.from({ length: n }, () => (counter++ * 151) & 0xff);
const token = mintToken(keyring, random, CAVEATS.map(([n, v]) => dockerCaveat(n, v))).token;

/** Runs `step` in batches for DURATION_MS after a warm-up; ops per second. */
async function measure(step: () => unknown | Promise<unknown>): Promise<number> {
  for (let i = 0; i < 2000; i++) await step();
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < DURATION_MS) {
    for (let i = 0; i < 200; i++) await step();
    n += 200;
  }
  return n / ((performance.now() - start) / 1000);
}

// The request the caveats are judged against: POST /commit?container=web&repo=tiny (a write acting on the
// container web and naming the image tiny:latest), the only kind of call that touches both at once.
const request = { method: "POST", container: WEB_ID, image: TINY_ID, nowMs: Date.UTC(2026, 0, 1) };

function coldVerify(): void {
  verifyToken(token, {
    keyring,
    revocations: emptyRevocations(),
    check: dockerCaveatChecker((c) => {
      switch (c.name) {
        case "op":
          return (request.method === "GET" ? c.read : c.write) || "op";
        case "container_id":
          return c.id === request.container || "container";
        case "image_id":
          return c.id === request.image || "image";
        case "expires":
          return request.nowMs < c.atMs || "expired";
        case "ip":
          return "ip";
      }
    }),
  });
}

const gate = macaroonGate({
  keyring,
  revocations: emptyRevocations(),
  clock: () => new Date(request.nowMs),
  resolver: {
    resolveContainer: (ref) => Promise.resolve(ref === "web" ? WEB_ID : undefined),
    resolveImage: (ref) => Promise.resolve(ref === "tiny:latest" ? TINY_ID : undefined),
    containerOfExec: () => Promise.resolve(undefined),
  },
});
const built = buildFacts(
  JSON.stringify({
    RequestMethod: "POST",
    RequestUri: "/v1.41/commit?container=web&repo=tiny&tag=latest",
    RequestHeaders: { "X-Macaroon": [token], "Content-Type": ["application/json"] },
    RequestBody: btoa("{}"),
  }),
  "request",
);
if (isDecision(built)) throw new Error(`bench request refused: ${built.reason}`);
const facts = built;

async function cachedGate(): Promise<void> {
  const verdict = await gate.check(facts);
  if (!verdict.allow) throw new Error(`bench token refused: ${verdict.reason}`);
}

const PYTHON = `
import json, sys, time
from pymacaroons import Macaroon, Verifier
req = json.load(sys.stdin)
request = {"op": "write", "container_id": req["container"], "image_id": req["image"]}
def check(predicate):
    name, _, value = predicate.partition(" = ")
    if name == "op":
        return request["op"] in value.split(",")
    if name in ("container_id", "image_id"):
        return value == request[name]
    if name == "expires":
        return value > "2026-01-01T00:00:00Z"
    return False
def step():
    m = Macaroon.deserialize(req["token"])
    v = Verifier()
    v.satisfy_general(check)
    v.verify(m, req["key"])
for _ in range(500):
    step()
start = time.perf_counter()
n = 0
while time.perf_counter() - start < req["seconds"]:
    for _ in range(50):
        step()
    n += 50
print(json.dumps({"ops": n / (time.perf_counter() - start)}))
`;

async function pymacaroons(): Promise<number | undefined> {
  try {
    const proc = Bun.spawn(["/usr/bin/python3", "-c", PYTHON], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    proc.stdin.write(
      JSON.stringify({
        token,
        key: KEY_TEXT,
        container: WEB_ID,
        image: TINY_ID,
        seconds: DURATION_MS / 1000,
      }),
    );
    await proc.stdin.end();
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    if (code !== 0) {
      console.log(`pymacaroons unavailable: ${err.trim().split("\n").at(-1)}`);
      return undefined;
    }
    return (JSON.parse(out) as { ops: number }).ops;
  } catch {
    console.log("pymacaroons unavailable: /usr/bin/python3 could not be run");
    return undefined;
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
console.log(
  `macaroon verification, a ${token.length}-character V2 token with 5 caveats (${DURATION_MS} ms each)`,
);
const cold = await measure(coldVerify);
const cached = await measure(cachedGate);
const py = await pymacaroons();
console.log(`  agent, cold (decode + HMAC chain + 5 caveats):        ${fmt(cold)} ops/s`);
console.log(`  agent gate, cached token (5 caveats vs the request): ${fmt(cached)} ops/s`);
if (py !== undefined) {
  console.log(`  pymacaroons 0.13 (deserialize + verify, 5 caveats):  ${fmt(py)} ops/s`);
  console.log(
    `  ratios: cold ${(cold / py).toFixed(1)}x pymacaroons, cached ${(cached / py).toFixed(1)}x pymacaroons`,
  );
}
console.log(
  `  cache speed-up: ${(cached / cold).toFixed(1)}x  (gate stats ${JSON.stringify(gate.cacheStats())})`,
);
