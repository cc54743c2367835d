/**
 * Macaroon verification figures, each beside pymacaroons (Debian python3-pymacaroons, /usr/bin/python3) and
 * libmacaroons (Debian libmacaroons-dev 0.3, through a small C verifier built here with `cc -O2 -lmacaroons`)
 * verifying the same token with the same five caveats in the same run:
 *  1. cold: decode the X-Macaroon header, recompute the HMAC chain, parse and check five caveats; measured on
 *     the agent's usual V2 token and on the V1 token (base64url of V1 packets), the one binary format
 *     libmacaroons 0.3 reads (it has no V2), so the agent and libmacaroons verify the same header text;
 *     Beside them: cold with the root key's HMAC schedule recomputed on every call, and noble's SHA-256 over
 *     exactly the 24 blocks a cold verification of this token needs at least (a ceiling for any verifier on it);
 *  2. cached: the plugin's macaroon gate on a repeated token (verification cache hit, caveats still checked
 *     against the request, names resolved from the resolver's cache).
 * The figures are measured in BENCH_ROUNDS interleaved rounds (default 3; another job on the machine slows
 * every figure of a round alike) and the median of each is printed with the ratios. BENCH_MS sets the measuring
 * time per figure and round (default 3000). Without `cc` or /usr/include/macaroons.h the libmacaroons figure is
 * skipped, with one line saying why.
 */
import "reflect-metadata"; // decide.ts reaches @peculiar/x509 (peer certificates), which needs it first
import { macaroonGate } from "../src/decide/macaroon-gate.ts";
import { buildFacts, isDecision } from "../src/decide/decide.ts";
import { cachedResolver } from "../src/docker/cached-resolver.ts";
import type { EngineClient } from "../src/docker/engine-client.ts";
import { sha256 } from "@noble/hashes/sha2.js";
import {
  dockerCaveat,
  dockerCaveatChecker,
  emptyRevocations,
  type Keyring,
  mintToken,
  verifyToken,
} from "../src/macaroon/index.ts";

import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const DURATION_MS = Number(process.env["BENCH_MS"] ?? 3000);
const ROUNDS = Math.max(1, Number(process.env["BENCH_ROUNDS"] ?? 3));
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
const minted = mintToken(keyring, random, CAVEATS.map(([n, v]) => dockerCaveat(n, v)));
const token = minted.token;
// The same macaroon (same identifier, so the same signature) in V1, the format libmacaroons 0.3 reads.
const tokenV1 = mintToken(keyring, random, CAVEATS.map(([n, v]) => dockerCaveat(n, v)), {
  format: "v1",
  nonce: minted.nonce,
}).token;

/** Runs `step` in batches for DURATION_MS after a warm-up; ops per second. Only promises are awaited. */
async function measure(step: () => unknown | Promise<unknown>): Promise<number> {
  for (let i = 0; i < 2000; i++) {
    const r = step();
    if (r instanceof Promise) await r;
  }
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < DURATION_MS) {
    for (let i = 0; i < 200; i++) {
      const r = step();
      if (r instanceof Promise) await r;
    }
    n += 200;
  }
  return n / ((performance.now() - start) / 1000);
}

// The request the caveats are judged against: POST /commit?container=web&repo=tiny (a write acting on the
// container web and naming the image tiny:latest), the only kind of call that touches both at once.
const request = { method: "POST", container: WEB_ID, image: TINY_ID, nowMs: Date.UTC(2026, 0, 1) };

/** A keyring whose key is a new object on every call: the root-key schedule cache never hits. */
const freshKeyring = (): Keyring => ({
  current: "bench",
  keys: [{ id: "bench", key: new TextEncoder().encode(KEY_TEXT), createdAt: "2026-01-01T00:00:00Z" }],
});

function coldVerify(header: string, ring: Keyring = keyring): void {
  verifyToken(header, {
    keyring: ring,
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
  // The agent's own resolver (names cached, kept right by the daemon's events), over a daemon that knows web
  // and tiny:latest: after the first call every name is answered from the cache.
  resolver: cachedResolver({
    getJson: (path: string) =>
      Promise.resolve(
        path === "/containers/web/json"
          ? { Id: WEB_ID }
          : path === `/images/${encodeURIComponent("tiny:latest")}/json`
          ? { Id: TINY_ID }
          : undefined,
      ),
  } as unknown as EngineClient),
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

// libmacaroons' side: one step is macaroon_deserialize of the V1 header text, then macaroon_verify with a
// general caveat callback that checks each caveat against the request as the agent's checker does.
const LIBMACAROONS_C = String.raw`#include <macaroons.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct request {
  const char* container;
  const char* image;
};

/* The value of a predicate spelled exactly "name = value", or NULL for another name. */
static const unsigned char* value_of(const unsigned char* pred, size_t sz, const char* name, size_t* value_sz) {
  size_t n = strlen(name);
  if (sz < n + 3 || memcmp(pred, name, n) != 0 || memcmp(pred + n, " = ", 3) != 0) return NULL;
  *value_sz = sz - n - 3;
  return pred + n + 3;
}

static int equals(const unsigned char* value, size_t value_sz, const char* expected) {
  size_t n = strlen(expected);
  return value_sz == n && memcmp(value, expected, n) == 0;
}

/* The general caveat check: 0 when the caveat holds for the request (a write), non-zero otherwise. */
static int check(void* f, const unsigned char* pred, size_t sz) {
  const struct request* req = (const struct request*)f;
  const unsigned char* v;
  size_t vsz;
  if ((v = value_of(pred, sz, "op", &vsz)) != NULL) {
    size_t start = 0;
    for (size_t i = 0; i <= vsz; i++) {
      if (i == vsz || v[i] == ',') {
        if (i - start == 5 && memcmp(v + start, "write", 5) == 0) return 0;
        start = i + 1;
      }
    }
    return -1;
  }
  if ((v = value_of(pred, sz, "container_id", &vsz)) != NULL) return equals(v, vsz, req->container) ? 0 : -1;
  if ((v = value_of(pred, sz, "image_id", &vsz)) != NULL) return equals(v, vsz, req->image) ? 0 : -1;
  if ((v = value_of(pred, sz, "expires", &vsz)) != NULL) {
    /* RFC 3339 UTC times of one width compare as text: valid while now < expires */
    static const char now[] = "2026-01-01T00:00:00Z";
    return vsz == sizeof now - 1 && memcmp(v, now, vsz) > 0 ? 0 : -1;
  }
  return -1;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One cold verification: deserialize the header text, verify the chain and every caveat. 1 when it holds. */
static int step(const char* token, const char* key, struct request* req) {
  enum macaroon_returncode err = MACAROON_SUCCESS;
  struct macaroon* m = macaroon_deserialize(token, &err);
  if (m == NULL) return 0;
  struct macaroon_verifier* v = macaroon_verifier_create();
  int ok = v != NULL && macaroon_verifier_satisfy_general(v, check, req, &err) == 0 &&
           macaroon_verify(v, m, (const unsigned char*)key, strlen(key), NULL, 0, &err) == 0;
  if (v != NULL) macaroon_verifier_destroy(v);
  macaroon_destroy(m);
  return ok;
}

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s TOKEN KEY CONTAINER_ID IMAGE_ID MILLISECONDS\n", argv[0]);
    return 1;
  }
  struct request req = {argv[3], argv[4]};
  double duration = atof(argv[5]);
  for (int i = 0; i < 2000; i++) {
    if (!step(argv[1], argv[2], &req)) {
      fprintf(stderr, "libmacaroons refused the bench token\n");
      return 1;
    }
  }
  double start = now_ms();
  long n = 0;
  int ok = 1;
  while (now_ms() - start < duration) {
    for (int i = 0; i < 200; i++) ok &= step(argv[1], argv[2], &req);
    n += 200;
  }
  double elapsed = now_ms() - start;
  if (!ok) {
    fprintf(stderr, "libmacaroons refused the bench token\n");
    return 1;
  }
  printf("{\"ops\":%.1f}\n", n / (elapsed / 1000.0));
  return 0;
}
`;

type Libmacaroons = { readonly binary: string; readonly dir: string } | { readonly skipped: string };

/** Builds the C verifier in a temporary directory, or says why the comparison is skipped. */
async function buildLibmacaroons(): Promise<Libmacaroons> {
  const cc = Bun.which("cc");
  if (cc === null) return { skipped: "no C compiler (cc) on PATH" };
  if (!existsSync("/usr/include/macaroons.h")) {
    return { skipped: "/usr/include/macaroons.h not found (Debian package libmacaroons-dev)" };
  }
  const dir = mkdtempSync(join(tmpdir(), "bench-libmacaroons-"));
  const source = join(dir, "verify.c");
  const binary = join(dir, "verify");
  writeFileSync(source, LIBMACAROONS_C);
  const proc = Bun.spawn([cc, "-O2", "-o", binary, source, "-lmacaroons"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return { skipped: `cc -O2 ... -lmacaroons failed: ${err.trim().split("\n").at(-1)}` };
  }
  return { binary, dir };
}

async function libmacaroons(binary: string): Promise<number | undefined> {
  const proc = Bun.spawn([binary, tokenV1, KEY_TEXT, WEB_ID, TINY_ID, String(DURATION_MS)], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) {
    console.log(`libmacaroons failed: ${err.trim()}`);
    return undefined;
  }
  return (JSON.parse(out) as { ops: number }).ops;
}

// A cold verification of this token needs at least 24 SHA-256 compressions: sig0 (identifier block, outer
// block; K's pad blocks are cached per root key) and 4 or 5 per caveat (inner and outer pad blocks, message
// blocks, outer block). noble hashing exactly 24 blocks is the ceiling for any verifier on it.
const FLOOR_INPUT = new Uint8Array(24 * 64 - 9);
const floorHash = () => sha256(FLOOR_INPUT);

const median = (xs: readonly number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
console.log(
  `macaroon verification, 5 caveats: a ${token.length}-character V2 token and the same macaroon as a ` +
    `${tokenV1.length}-character V1 token (${ROUNDS} interleaved rounds of ${DURATION_MS} ms per figure)`,
);
const lib = await buildLibmacaroons();
const rounds: {
  v2: number;
  v2Uncached: number;
  v1: number;
  cached: number;
  floor: number;
  lib?: number;
  py?: number;
}[] = [];
try {
  for (let r = 0; r < ROUNDS; r++) {
    const v2 = await measure(() => coldVerify(token));
    const v2Uncached = await measure(() => coldVerify(token, freshKeyring()));
    const v1 = await measure(() => coldVerify(tokenV1));
    const cached = await measure(cachedGate);
    const floor = await measure(floorHash);
    const libOps = "binary" in lib ? await libmacaroons(lib.binary) : undefined;
    const py = await pymacaroons();
    rounds.push({ v2, v2Uncached, v1, cached, floor, lib: libOps, py });
    console.log(
      `  round ${r + 1}: cold v2 ${fmt(v2)} (key schedule uncached ${fmt(v2Uncached)}), cold v1 ${
        fmt(v1)
      }, ` +
        `cached ${fmt(cached)}, 24 noble blocks ${fmt(floor)}` +
        (libOps === undefined ? "" : `, libmacaroons ${fmt(libOps)} (v1/lib ${(v1 / libOps).toFixed(2)}x)`) +
        (py === undefined ? "" : `, pymacaroons ${fmt(py)}`) + " ops/s",
    );
  }
} finally {
  if ("dir" in lib) rmSync(lib.dir, { recursive: true, force: true });
}
const pick = (f: (r: (typeof rounds)[number]) => number | undefined) => {
  const xs = rounds.map(f).filter((x): x is number => x !== undefined);
  return xs.length === rounds.length ? median(xs) : undefined;
};
const cold = pick((r) => r.v2)!;
const coldUncached = pick((r) => r.v2Uncached)!;
const coldV1 = pick((r) => r.v1)!;
const floor = pick((r) => r.floor)!;
const cached = pick((r) => r.cached)!;
const libOps = pick((r) => r.lib);
const py = pick((r) => r.py);
console.log("  medians:");
console.log(`  agent, cold, V2 token (decode + HMAC chain + 5 caveats): ${fmt(cold)} ops/s`);
console.log(`  agent, cold, V2, root-key schedule not cached:          ${fmt(coldUncached)} ops/s`);
console.log(`  agent, cold, V1 token (decode + HMAC chain + 5 caveats): ${fmt(coldV1)} ops/s`);
console.log(
  `  noble SHA-256 over exactly 24 blocks (the cold ceiling): ${fmt(floor)} ops/s ` +
    `(cold V2 reaches ${(cold / floor).toFixed(2)}x of it)`,
);
console.log(`  agent gate, cached token (5 caveats vs the request):    ${fmt(cached)} ops/s`);
if ("skipped" in lib) {
  console.log(`  libmacaroons comparison skipped: ${lib.skipped}`);
} else if (libOps !== undefined) {
  console.log(`  libmacaroons 0.3 (deserialize V1 + verify, 5 caveats):  ${fmt(libOps)} ops/s`);
  console.log(
    `  ratios: cold ${(coldV1 / libOps).toFixed(2)}x libmacaroons on the same V1 token ` +
      `(median of per-round ${median(rounds.map((r) => r.v1 / r.lib!)).toFixed(2)}x), ` +
      `cold V2 ${(cold / libOps).toFixed(2)}x libmacaroons, cached ${
        (cached / libOps).toFixed(1)
      }x libmacaroons`,
  );
}
if (py !== undefined) {
  console.log(`  pymacaroons 0.13 (deserialize V2 + verify, 5 caveats):  ${fmt(py)} ops/s`);
  console.log(
    `  ratios: cold ${(cold / py).toFixed(1)}x pymacaroons, cached ${(cached / py).toFixed(1)}x pymacaroons`,
  );
}
console.log(
  `  cache speed-up: ${(cached / cold).toFixed(1)}x  (gate stats ${JSON.stringify(gate.cacheStats())})`,
);
