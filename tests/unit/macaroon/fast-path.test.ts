/**
 * The cold verification path was rewritten for speed: the HMAC chain on reused @noble/hashes states, base64 four
 * characters at a time, the V1 and V2 decoders without per-field objects, the caveat grammar without a regex.
 * Each rewrite is checked against the code it replaced (tests/unit/macaroon/reference/, from the git history)
 * or against noble's own hmac: the same value for every accepted input, and the same error code, message and
 * detail for every refused one, on vectors and on bit-flipped, substituted, truncated and extended tokens.
 */
import { describe, expect, test } from "bun:test";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { AgentError } from "../../../src/errors.ts";
import { base64Decode, base64StdEncode, base64UrlEncode } from "../../../src/macaroon/base64.ts";
import {
  deriveChainKey,
  firstPartySignature,
  hmacInto,
  hmacSchedule,
  hmacWithSchedule,
  initialSignature,
  rootKeySchedule,
  wipeSchedule,
} from "../../../src/macaroon/chain.ts";
import { parseCaveat } from "../../../src/macaroon/caveats/grammar.ts";
import { parseOp } from "../../../src/macaroon/caveats/op.ts";
import { decodeV1Binary, encodeV1Binary } from "../../../src/macaroon/codec/v1-binary.ts";
import { decodeV2Binary, encodeV2Binary } from "../../../src/macaroon/codec/v2-binary.ts";
import {
  addFirstPartyCaveat,
  addThirdPartyCaveat,
  DEFAULT_MACAROON_LIMITS,
  dockerCaveat,
  dockerCaveatChecker,
  emptyRevocations,
  type Keyring,
  type Macaroon,
  type MacaroonLimits,
  mint,
  mintToken,
  verifyToken,
} from "../../../src/macaroon/index.ts";
import { enc, hex, seededRandom, seededRng } from "./helpers.ts";
import { base64Decode as refBase64Decode } from "./reference/base64.ts";
import { parseCaveat as refParseCaveat, parseOp as refParseOp } from "./reference/grammar.ts";
import { decodeV1Binary as refDecodeV1Binary } from "./reference/v1-binary.ts";
import { decodeV2Binary as refDecodeV2Binary } from "./reference/v2-binary.ts";

type Outcome = { readonly ok: unknown } | { readonly error: string };

/** Plain data for comparison: byte arrays as hex, errors as constructor, code, message and detail. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return `bytes:${hex(value)}`;
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

function outcome(fn: () => unknown): Outcome {
  try {
    return { ok: plain(fn()) };
  } catch (err) {
    if (err instanceof AgentError) return { error: `AgentError ${err.code} ${err.message} [${err.detail}]` };
    return { error: `${(err as Error).constructor.name} ${(err as Error).message}` };
  }
}

const TIGHT: MacaroonLimits = { ...DEFAULT_MACAROON_LIMITS, maxFieldBytes: 40, maxCaveats: 2 };

/** Macaroons of every shape the decoders meet: locations, third-party caveats, binary ids, long fields. */
function sampleMacaroons(): Macaroon[] {
  const random = seededRandom(11);
  const key = enc.encode("differential root key");
  const out: Macaroon[] = [];
  out.push(mint(key, "plain"));
  out.push(mint(key, new Uint8Array([0, 255, 0xc3, 0x28]), "https://issuer.example/"));
  let m = mint(key, "agent1:k1:AAAAAAAAAAAAAAAAAAAAAA", "loc");
  for (
    const c of [
      "op = read",
      "container_id = " + "ab".repeat(32),
      "x".repeat(200),
      "expires = 2030-01-01T00:00:00Z",
    ]
  ) {
    m = addFirstPartyCaveat(m, c);
  }
  out.push(m);
  m = addThirdPartyCaveat(m, enc.encode("third party key"), "tp caveat", "https://tp.example/", random);
  out.push(m);
  m = addThirdPartyCaveat(m, enc.encode("another"), new Uint8Array([1, 2, 3]), undefined, random);
  out.push(addFirstPartyCaveat(m, new Uint8Array(130).fill(0x80)));
  return out;
}

/** Three bit flips per byte (lowest, middle, highest bit), every truncation, and a few extensions of `bytes`. */
function mutations(bytes: Uint8Array, seed: number): Uint8Array[] {
  const out: Uint8Array[] = [bytes];
  for (let i = 0; i < bytes.length; i++) {
    for (const bit of [0, 3, 7]) {
      const flipped = bytes.slice();
      flipped[i]! ^= 1 << bit;
      out.push(flipped);
    }
  }
  for (let n = 0; n < bytes.length; n++) out.push(bytes.slice(0, n));
  const rng = seededRng(seed);
  for (const extra of [[0], [0, 0], [6, 32], [0x0a], [0x30, 0x30, 0x30, 0x30]]) {
    const longer = new Uint8Array(bytes.length + extra.length);
    longer.set(bytes);
    longer.set(extra, bytes.length);
    out.push(longer);
  }
  for (let k = 0; k < 300; k++) {
    const copy = bytes.slice();
    const at = Math.floor(rng() * copy.length);
    copy[at] = Math.floor(rng() * 256);
    const cut = Math.floor(rng() * copy.length);
    out.push(rng() < 0.5 ? copy : copy.subarray(0, cut));
  }
  return out;
}

describe("decoders: rewritten V2 and V1 equal the reference on vectors and mutated tokens", () => {
  const samples = sampleMacaroons();
  for (
    const [name, encode, decode, refDecode] of [
      ["v2", encodeV2Binary, decodeV2Binary, refDecodeV2Binary],
      ["v1", encodeV1Binary, decodeV1Binary, refDecodeV1Binary],
    ] as const
  ) {
    test(`${name}: same macaroon or same error, default and tight limits`, () => {
      let compared = 0;
      let accepted = 0;
      samples.forEach((m, i) => {
        for (const bytes of mutations(encode(m), i)) {
          for (const limits of [DEFAULT_MACAROON_LIMITS, TIGHT]) {
            const ours = outcome(() => decode(bytes.slice(), limits));
            expect(ours).toEqual(outcome(() => refDecode(bytes.slice(), limits)));
            if ("ok" in ours) accepted++;
            compared++;
          }
        }
      });
      expect(compared).toBeGreaterThan(10_000);
      expect(accepted).toBeGreaterThan(samples.length); // the vectors, and flips in unsigned location text
    });
  }

  test("the vectors decode to the macaroons they encode", () => {
    for (const m of sampleMacaroons()) {
      expect(plain(decodeV2Binary(encodeV2Binary(m), DEFAULT_MACAROON_LIMITS))).toEqual(plain(m));
      expect(plain(decodeV1Binary(encodeV1Binary(m), DEFAULT_MACAROON_LIMITS))).toEqual(plain(m));
    }
  });
});

describe("base64: the four-at-a-time decoder equals the reference", () => {
  test("random texts over both alphabets, padding, whitespace and non-ASCII", () => {
    const chars = "AQgw_-+/=9z \u00e9\u0100!.";
    const rng = seededRng(3);
    for (let k = 0; k < 40_000; k++) {
      const n = Math.floor(rng() * 14);
      let text = "";
      for (let i = 0; i < n; i++) text += chars[Math.floor(rng() * chars.length)];
      expect(outcome(() => base64Decode(text))).toEqual(outcome(() => refBase64Decode(text)));
    }
  });

  test("encodings of random bytes, each with every character substituted", () => {
    const random = seededRandom(4);
    const subs = ["A", "B", "-", "+", "_", "/", "=", "\u00ff", "*"];
    for (let len = 0; len < 40; len++) {
      const bytes = random(len);
      for (const text of [base64UrlEncode(bytes), base64StdEncode(bytes)]) {
        expect(base64Decode(text)).toEqual(bytes);
        for (let i = 0; i < text.length; i++) {
          for (const s of subs) {
            const t = text.slice(0, i) + s + text.slice(i + 1);
            expect(outcome(() => base64Decode(t))).toEqual(outcome(() => refBase64Decode(t)));
          }
          const cut = text.slice(0, i);
          expect(outcome(() => base64Decode(cut))).toEqual(outcome(() => refBase64Decode(cut)));
        }
      }
    }
  });
});

describe("caveat grammar: the one-pass parser equals the regex", () => {
  test("random texts", () => {
    const chars = "az_09 =~\t\x7f\u00e9:,A";
    const rng = seededRng(5);
    for (let k = 0; k < 40_000; k++) {
      const n = Math.floor(rng() * 16);
      let text = "";
      for (let i = 0; i < n; i++) text += chars[Math.floor(rng() * chars.length)];
      expect(outcome(() => parseCaveat(text))).toEqual(outcome(() => refParseCaveat(text)));
    }
  });

  test("edges: name lengths, spaces, value ends, text length", () => {
    const cases = [
      "",
      "=",
      "a=",
      "a= ",
      "a=b",
      "a =b",
      "a= b",
      "a  =  b c",
      "a = b ",
      "a = \u0000",
      "_a=b",
      "1a=b",
    ];
    for (const n of [31, 32, 33]) cases.push(`a${"b".repeat(n - 1)} = v`);
    for (const total of [1023, 1024, 1025]) cases.push(`name = ${"v".repeat(total - 7)}`);
    cases.push("op = read,write", "expires = 2030-01-01T00:00:00Z", "a = b = c", "a = ~", "a = \u007e\u007f");
    for (const text of cases) {
      expect(outcome(() => parseCaveat(text))).toEqual(outcome(() => refParseCaveat(text)));
    }
  });

  test("op values", () => {
    const parts = ["read", "write", "", "Read", "x"];
    const values: string[] = [];
    for (const a of parts) {
      values.push(a);
      for (const b of parts) {
        values.push(`${a},${b}`);
        for (const c of parts) values.push(`${a},${b},${c}`);
      }
    }
    for (const v of values) expect(outcome(() => parseOp(v))).toEqual(outcome(() => refParseOp(v)));
  });
});

describe("HMAC on reused noble states equals noble's hmac", () => {
  const random = seededRandom(6);
  const keyLengths = [0, 1, 23, 32, 63, 64, 65, 100, 200];
  const messageLengths = [0, 1, 31, 32, 55, 56, 63, 64, 65, 119, 120, 127, 128, 200];

  test("hmacInto, hmacSchedule/hmacWithSchedule, every key and message length", () => {
    for (const kl of keyLengths) {
      const key = random(kl);
      const schedule = hmacSchedule(key);
      for (const ml of messageLengths) {
        const message = random(ml);
        const expected = hmac(sha256, key, message);
        const out = new Uint8Array(32);
        hmacInto(key, message, out);
        expect(out).toEqual(expected);
        const scheduled = new Uint8Array(32);
        hmacWithSchedule(schedule, message, scheduled);
        expect(scheduled).toEqual(expected);
      }
      wipeSchedule(schedule);
    }
  });

  test("in place (out is the key), and the chain helpers", () => {
    const key = random(32);
    const message = random(80);
    const expected = hmac(sha256, key, message);
    const sig = key.slice();
    hmacInto(sig, message, sig);
    expect(sig).toEqual(expected);
    const root = enc.encode("root");
    const k = hmac(sha256, enc.encode("macaroons-key-generator"), root);
    expect(deriveChainKey(root)).toEqual(k);
    expect(initialSignature(k, message)).toEqual(hmac(sha256, k, message));
    expect(firstPartySignature(k, message)).toEqual(hmac(sha256, k, message));
  });

  test("the root-key schedule cache notices a key changed in place", () => {
    const rootKey = random(32);
    const id = enc.encode("agent1:k:AAAAAAAAAAAAAAAAAAAAAA");
    const sig = () => {
      const out = new Uint8Array(32);
      hmacWithSchedule(rootKeySchedule(rootKey), id, out);
      return out;
    };
    expect(sig()).toEqual(hmac(sha256, deriveChainKey(rootKey), id));
    expect(sig()).toEqual(hmac(sha256, deriveChainKey(rootKey), id)); // cached
    rootKey[5]! ^= 1;
    expect(sig()).toEqual(hmac(sha256, deriveChainKey(rootKey), id));
    rootKey.fill(0);
    expect(sig()).toEqual(hmac(sha256, deriveChainKey(rootKey), id));
  });
});

describe("verifyToken on mutated headers", () => {
  const keyText = "bench root key, shared with peers";
  const keyring: Keyring = {
    current: "bench",
    keys: [{ id: "bench", key: enc.encode(keyText), createdAt: "2026-01-01T00:00:00Z" }],
  };
  const caveats = [
    dockerCaveat("op", "read,write"),
    dockerCaveat("container_id", "3f2a9c".padEnd(64, "1")),
    dockerCaveat("image_id", `sha256:${"c0ffee".padEnd(64, "3")}`),
    dockerCaveat("expires", "2099-01-01T00:00:00Z"),
    dockerCaveat("op", "write"),
  ];
  const minted = mintToken(keyring, seededRandom(7), caveats);
  const v1 = mintToken(keyring, seededRandom(7), caveats, { format: "v1", nonce: minted.nonce });
  const seen: string[] = [];
  const options = {
    keyring,
    revocations: emptyRevocations(),
    check: dockerCaveatChecker((c) => {
      seen.push(c.name);
      return true;
    }),
  };
  const subs = ["A", "B", "g", "-", "_", "+", "=", "!"];

  for (
    const [name, token, refDecode] of [
      ["v2", minted.token, refDecodeV2Binary],
      ["v1", v1.token, refDecodeV1Binary],
    ] as const
  ) {
    test(`${name}: only headers that decode to the same macaroon verify; decode errors are the reference's`, () => {
      const original = plain(refDecode(refBase64Decode(token)!, DEFAULT_MACAROON_LIMITS));
      const texts: string[] = [];
      for (let i = 0; i < token.length; i++) {
        for (const s of subs) texts.push(token.slice(0, i) + s + token.slice(i + 1));
        texts.push(token.slice(0, i));
      }
      let verified = 0;
      for (const text of texts) {
        seen.length = 0;
        const ours = outcome(() => verifyToken(text, options));
        const bytes = refBase64Decode(text);
        const ref = bytes === undefined || bytes.length === 0
          ? undefined
          : outcome(() => refDecode(bytes, DEFAULT_MACAROON_LIMITS));
        if ("ok" in ours) {
          verified++;
          expect(ref).toEqual({ ok: original });
          expect(seen).toEqual(["op", "container_id", "image_id", "expires", "op"]);
        } else if (ref !== undefined && "error" in ref && bytes![0] === token.charCodeAt(0)) {
          // Same first byte, so the same decoder: its error is the header's error.
          expect(ours).toEqual(ref);
          expect(seen).toEqual([]);
        } else {
          // Anything that decodes but does not verify never reaches a caveat check.
          if (ours.error.includes("ERR_MACAROON_SIGNATURE")) expect(seen).toEqual([]);
        }
      }
      expect(verified).toBeGreaterThanOrEqual(1); // a character substituted by itself: the untouched header
    });
  }
});
