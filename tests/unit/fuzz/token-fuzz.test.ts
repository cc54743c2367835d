/**
 * Token fuzzing at the gate level (the library's own flips and truncations live in
 * tests/unit/macaroon/adversarial.test.ts): every byte flip, truncation, splice and duplicated field of
 * valid agent tokens in every encoding and as a header stack with a bound discharge must be refused by the
 * macaroon gate with a macaroon:* rule, and tokens with valid signatures but caveats the agent does not
 * know must be refused with a caveat:* rule. A refusal is never a raw exception.
 */
import { describe, expect, test } from "bun:test";
import type { GateVerdict } from "../../../src/decide/gate.ts";
import { macaroonGate } from "../../../src/decide/macaroon-gate.ts";
import {
  addFirstPartyCaveat,
  addThirdPartyCaveat,
  bindForRequest,
  currentKey,
  decodeStack,
  dockerCaveat,
  emptyRevocations,
  encodeMacaroon,
  encodeStack,
  formatIdentifier,
  initKeyring,
  type Macaroon,
  type MacaroonFormat,
  mint,
  mintToken,
  newNonce,
} from "../../../src/macaroon/index.ts";
import { facts, fakeDaemon, movableClock, seededRandom } from "../decide/macaroon-gate-helpers.ts";

const random = seededRandom("token-fuzz");
const clock = movableClock();
const keyring = await initKeyring(undefined, random, clock);
const gate = macaroonGate({
  keyring,
  revocations: emptyRevocations(),
  resolver: fakeDaemon(),
  clock,
  lookupTimeoutMs: 2_000,
  // Every mutation is a new header; a large cache only costs memory here.
  cacheEntries: 64,
});
const FORMATS: MacaroonFormat[] = ["v2", "v2j", "v1", "v1j"];
const THIRD_KEY = seededRandom("third-party")(32);

function minted(...caveats: [string, string][]): Macaroon {
  return mintToken(keyring, random, caveats.map(([n, v]) => dockerCaveat(n, v))).macaroon;
}

/**
 * A root with a third-party caveat and its bound discharge (which carries a first-party caveat too). No
 * locations: a location is an unsigned hint, so changing it is by design not detectable.
 */
function stackOf(root: Macaroon): string {
  const withThirdParty = addThirdPartyCaveat(root, THIRD_KEY, "user is alice", undefined, random);
  const discharge = addFirstPartyCaveat(mint(THIRD_KEY, "user is alice"), "op = read");
  return encodeStack([withThirdParty, bindForRequest(withThirdParty, discharge)]);
}

const A = minted(["op", "read"], ["expires", "2027-01-01T00:00:00Z"]);
const B = minted(["op", "read,write"], ["expires", "2027-06-01T00:00:00Z"]);

const isBinary = (f: MacaroonFormat) => f === "v2" || f === "v1";
const enc = new TextEncoder();
const dec = new TextDecoder();
function b64urlDecode(text: string): Uint8Array {
  const s = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(s + "=".repeat((4 - (s.length % 4)) % 4)), (c) => c.charCodeAt(0));
}
function b64urlEncode(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
const carried = (text: string, f: MacaroonFormat) => (isBinary(f) ? b64urlDecode(text) : enc.encode(text));
const asText = (
  bytes: Uint8Array,
  f: MacaroonFormat,
) => (isBinary(f) ? b64urlEncode(bytes) : dec.decode(bytes));

/** GET /containers/json: allowed by A, B and the stacks, so any refusal comes from the change. */
async function judge(token: string): Promise<GateVerdict | string> {
  try {
    return await gate.check(facts("GET", "/v1.41/containers/json", { token }));
  } catch (err) {
    return `raw exception: ${String(err)}`;
  }
}

/** The token in one canonical form: another spelling of a valid token (v2 JSON without "v") is that token. */
function canonical(text: string): string | undefined {
  try {
    return encodeStack([...decodeStack(text)]);
  } catch {
    return undefined;
  }
}

/**
 * Runs every candidate through the gate; returns the ones that were not refused with a typed rule. A candidate
 * that decodes to one of the originals (the same identifier, caveats and signature) is skipped, not counted.
 */
async function survivors(originals: readonly string[], candidates: Iterable<[string, string]>) {
  const failures: string[] = [];
  const same = new Set(originals.map(canonical));
  let count = 0;
  for (const [label, token] of candidates) {
    if (originals.includes(token) || same.has(canonical(token))) continue;
    count++;
    const v = await judge(token);
    if (typeof v === "string") failures.push(`${label}: ${v}`);
    else if (v.allow) failures.push(`${label}: allowed`);
    else if (!/^(macaroon|caveat):/.test(v.ruleId ?? "")) failures.push(`${label}: rule ${v.ruleId}`);
  }
  return { failures, count };
}

function* flips(text: string, f: MacaroonFormat): Generator<[string, string]> {
  const bytes = carried(text, f);
  for (let i = 0; i < bytes.length; i++) {
    for (const mask of [0x01, 0x02, 0x10, 0x40, 0x80, 0xff]) {
      const changed = bytes.slice();
      changed[i]! ^= mask;
      yield [`byte ${i}^${mask}`, asText(changed, f)];
    }
  }
  for (let i = 0; i < text.length; i++) {
    for (const delta of [1, -1, 32]) {
      yield [
        `char ${i}+${delta}`,
        text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) + delta) + text.slice(i + 1),
      ];
    }
  }
}

function* truncations(text: string, f: MacaroonFormat): Generator<[string, string]> {
  const bytes = carried(text, f);
  for (let n = 0; n < bytes.length; n++) yield [`bytes[0..${n}]`, asText(bytes.subarray(0, n), f)];
  for (let n = 1; n < text.length; n++) yield [`text[0..${n}]`, text.slice(0, n)];
  for (let n = 1; n < text.length; n++) yield [`text[${n}..]`, text.slice(n)];
}

/** Prefix of one valid token + suffix of another, at every cut point of both (bytes) and of the text. */
function* splices(x: string, y: string, f: MacaroonFormat): Generator<[string, string]> {
  const bx = carried(x, f);
  const by = carried(y, f);
  for (let i = 0; i <= bx.length; i++) {
    for (const j of new Set([i, i - 1, i + 1, i - 16, i + 16, by.length - (bx.length - i)])) {
      if (j < 0 || j > by.length) continue;
      const joined = new Uint8Array(i + by.length - j);
      joined.set(bx.subarray(0, i));
      joined.set(by.subarray(j), i);
      yield [`x[..${i}]+y[${j}..]`, asText(joined, f)];
    }
  }
  for (let i = 0; i <= x.length; i++) yield [`text x[..${i}]+y[${i}..]`, x.slice(0, i) + y.slice(i)];
}

/** Every window of 1, 2, 4, 8 and 33 bytes repeated in place: a duplicated packet, field or length. */
function* duplications(text: string, f: MacaroonFormat): Generator<[string, string]> {
  const bytes = carried(text, f);
  for (const len of [1, 2, 4, 8, 33]) {
    for (let i = 0; i + len <= bytes.length; i++) {
      const joined = new Uint8Array(bytes.length + len);
      joined.set(bytes.subarray(0, i + len));
      joined.set(bytes.subarray(i), i + len);
      yield [`dup ${i}+${len}`, asText(joined, f)];
    }
  }
}

/** JSON forms: each top-level field written twice, once with the other token's value, in both orders. */
function* duplicateJsonKeys(x: string, y: string): Generator<[string, string]> {
  const ox = JSON.parse(x) as Record<string, unknown>;
  const oy = JSON.parse(y) as Record<string, unknown>;
  const body = (o: Record<string, unknown>) => JSON.stringify(o).slice(1, -1);
  for (const key of Object.keys(ox)) {
    if (!(key in oy)) continue;
    const extra = `${JSON.stringify(key)}:${JSON.stringify(oy[key])}`;
    yield [`dup key ${key} after`, `{${body(ox)},${extra}}`];
    yield [`dup key ${key} before`, `{${extra},${body(ox)}}`];
    yield [`dup key ${key} same value`, `{${body(ox)},${JSON.stringify(key)}:${JSON.stringify(ox[key])}}`];
  }
}

const totals: Record<string, number> = {};
function tally(name: string, n: number) {
  totals[name] = (totals[name] ?? 0) + n;
}

describe("the untouched tokens pass the gate", () => {
  test("A, B and the stacks are allowed for GET /containers/json in every format", async () => {
    for (const f of FORMATS) {
      expect((await judge(encodeMacaroon(A, f))) as GateVerdict).toMatchObject({ allow: true });
      expect((await judge(encodeMacaroon(B, f))) as GateVerdict).toMatchObject({ allow: true });
    }
    expect((await judge(stackOf(A))) as GateVerdict).toMatchObject({ allow: true });
  });
});

describe("mutated tokens are refused by the gate with a typed rule", () => {
  for (const f of FORMATS) {
    const x = encodeMacaroon(A, f);
    const y = encodeMacaroon(B, f);
    test(`refuses every byte and character flip of a ${f} token`, async () => {
      const r = await survivors([x], flips(x, f));
      tally("flips", r.count);
      expect(r.failures).toEqual([]);
    });
    test(`refuses every truncation of a ${f} token, from either end`, async () => {
      const r = await survivors([x], truncations(x, f));
      tally("truncations", r.count);
      expect(r.failures).toEqual([]);
    });
    test(`refuses splices of two valid ${f} tokens at every cut point`, async () => {
      const r1 = await survivors([x, y], splices(x, y, f));
      const r2 = await survivors([x, y], splices(y, x, f));
      tally("splices", r1.count + r2.count);
      expect([...r1.failures, ...r2.failures]).toEqual([]);
    });
    test(`refuses a ${f} token with any short run of bytes duplicated`, async () => {
      const r = await survivors([x], duplications(x, f));
      tally("duplications", r.count);
      expect(r.failures).toEqual([]);
    });
  }

  for (const f of ["v2j", "v1j"] as const) {
    test(`refuses a ${f} token whose JSON fields are duplicated`, async () => {
      const x = encodeMacaroon(A, f);
      const r = await survivors([x], duplicateJsonKeys(x, encodeMacaroon(B, f)));
      tally("duplicate JSON keys", r.count);
      expect(r.failures).toEqual([]);
    });
  }
});

describe("header stacks with a bound discharge", () => {
  const stack = stackOf(A);
  const other = stackOf(B);
  const [root = "", discharge = ""] = stack.split(",");
  const [otherRoot = "", otherDischarge = ""] = other.split(",");

  test("refuses every flip, truncation and duplicated run of the stack text and of the discharge", async () => {
    const all = [
      await survivors([stack], flips(stack, "v2j")), // text-level: the stack is text
      await survivors([stack], truncations(stack, "v2j")),
      await survivors(
        [discharge],
        (function* () {
          for (const [l, d] of flips(discharge, "v2")) {
            yield [`discharge ${l}`, `${root},${d}`] as [
              string,
              string,
            ];
          }
          for (const [l, d] of duplications(discharge, "v2")) {
            yield [`discharge ${l}`, `${root},${d}`] as [
              string,
              string,
            ];
          }
        })(),
      ),
    ];
    tally("stack mutations", all.reduce((n, r) => n + r.count, 0));
    expect(all.flatMap((r) => r.failures)).toEqual([]);
  });

  test("refuses splices of two stacks and discharges bound to another root", async () => {
    const r = await survivors([stack, other], [
      ...splices(stack, other, "v2j"),
      ["root A + discharge bound to B", `${root},${otherDischarge}`],
      ["root B + discharge bound to A", `${otherRoot},${discharge}`],
      ["root without its discharge", root],
      ["discharge alone", discharge],
      ["discharge first", `${discharge},${root}`],
      ["root twice", `${root},${root}`],
    ]);
    tally("stack splices", r.count);
    expect(r.failures).toEqual([]);
  });

  test("refuses a stack with its discharge repeated or an extra discharge (unused discharges are an error)", async () => {
    for (const token of [`${root},${discharge},${discharge}`, `${root},${discharge},${otherDischarge}`]) {
      const v = (await judge(token)) as GateVerdict;
      expect(v.allow).toBe(false);
      expect(v.ruleId).toStartWith("macaroon:");
    }
  });
});

describe("validly signed tokens with caveats the agent does not know", () => {
  const key = currentKey(keyring);
  const signed = (...predicates: string[]) => {
    let m = mint(key.key, formatIdentifier(key.id, newNonce(random)));
    for (const p of predicates) m = addFirstPartyCaveat(m, p);
    return encodeMacaroon(m);
  };
  const cases: [string, string][] = [
    ["time < 2030", "caveat:invalid"],
    ["time = 2030", "caveat:unknown"],
    ["container_id = short", "caveat:container_id"],
    ["op = READ", "caveat:op"],
    ["op = read ", "caveat:invalid"],
    ["op = admin", "caveat:op"],
    ["op = read,admin", "caveat:op"],
    ["Op = read", "caveat:invalid"],
    ["op == read", "caveat:op"],
    ["op: read", "caveat:invalid"],
    ["", "caveat:invalid"],
    [" ", "caveat:invalid"],
    ["=", "caveat:invalid"],
    ["user = alice", "caveat:unknown"],
    ["expires = tomorrow", "caveat:expires"],
    ["expires = 2030-01-01", "caveat:expires"],
    ["ip = 10.0.0.0/33", "caveat:ip"],
    ["op = read\u0000", "caveat:invalid"],
    ["op = r\u00e9ad", "caveat:invalid"],
    ["image_id = ", "caveat:invalid"],
    ["x".repeat(2000), "caveat:invalid"],
  ];
  for (const [predicate, rule] of cases) {
    test(`refuses a signed token with caveat ${JSON.stringify(predicate.slice(0, 40))} (${rule})`, async () => {
      const v = (await judge(signed("op = read", predicate))) as GateVerdict;
      expect(v.allow).toBe(false);
      expect(v.ruleId).toBe(rule);
      expect(v.reason).toStartWith("macaroon caveat ");
    });
  }

  test("prints how many mutated tokens the gate refused", () => {
    const total = Object.values(totals).reduce((a, b) => a + b, 0);
    console.log(`token fuzz: ${total} mutated tokens refused (${JSON.stringify(totals)})`);
    expect(total).toBeGreaterThan(10_000);
  });
});
