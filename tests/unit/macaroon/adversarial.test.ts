/**
 * Adversarial inputs: every single-byte change and every truncation of valid tokens in all four encodings must
 * be rejected (format or signature error; a changed discharge identifier is a discharge error), 100 seeded random flips likewise, and fuzzed input may only ever
 * produce ERR_MACAROON_FORMAT or ERR_MACAROON_LIMIT, never a raw exception.
 */
import { describe, expect, test } from "bun:test";
import { AgentError } from "../../../src/errors.ts";
import {
  addFirstPartyCaveat,
  addThirdPartyCaveat,
  bindForRequest,
  decodeMacaroon,
  decodeStack,
  encodeMacaroon,
  type Macaroon,
  type MacaroonFormat,
  mint,
  verify,
} from "../../../src/macaroon/index.ts";
import { acceptAll, b64urlDecode, b64urlEncode, dec, enc, seededRandom, seededRng } from "./helpers.ts";

const ROOT_KEY = enc.encode("adversarial root key");
const TP_KEY = enc.encode("adversarial third-party key");
const FORMATS: MacaroonFormat[] = ["v2", "v2j", "v1", "v1j"];
const REJECTIONS = ["ERR_MACAROON_FORMAT", "ERR_MACAROON_SIGNATURE"];
// A discharge whose identifier changed no longer names the caveat it was for, which is reported as such.
const DISCHARGE_REJECTIONS = [...REJECTIONS, "ERR_MACAROON_DISCHARGE"];
const accepted = (which: "root" | "discharge") => (which === "root" ? REJECTIONS : DISCHARGE_REJECTIONS);

// No locations: a location is an unsigned hint, so changing it is (by design) not detectable.
let root: Macaroon = mint(ROOT_KEY, "agent1:0a1b2c3d:AAAAAAAAAAAAAAAAAAAAAA");
root = addFirstPartyCaveat(root, "op = read");
root = addFirstPartyCaveat(root, "container_id = " + "ab".repeat(32));
root = addThirdPartyCaveat(root, TP_KEY, "tp-caveat", undefined, seededRandom(3));
root = addFirstPartyCaveat(root, "expires = 2030-01-01T00:00:00Z");
const discharge = bindForRequest(root, addFirstPartyCaveat(mint(TP_KEY, "tp-caveat"), "user = alice"));

const isBinary = (f: MacaroonFormat) => f === "v2" || f === "v1";

/** The bytes a format actually carries: binary for v2/v1, the JSON text for v2j/v1j. */
function carried(m: Macaroon, format: MacaroonFormat): Uint8Array {
  const text = encodeMacaroon(m, format);
  return isBinary(format) ? b64urlDecode(text) : enc.encode(text);
}

function asText(bytes: Uint8Array, format: MacaroonFormat): string {
  return isBinary(format) ? b64urlEncode(bytes) : dec.decode(bytes);
}

/** Decodes and verifies a changed root (with the genuine discharge) or a changed discharge (with the genuine root). */
function attempt(which: "root" | "discharge", text: string): void {
  if (which === "root") verify(decodeMacaroon(text), ROOT_KEY, [discharge], acceptAll);
  else verify(root, ROOT_KEY, [decodeMacaroon(text)], acceptAll);
}

function rejected(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof AgentError) return err.code;
    return `raw exception: ${String(err)}`;
  }
  return "accepted";
}

describe("the untouched tokens verify in every format", () => {
  for (const format of FORMATS) {
    test(`${format} root and discharge verify`, () => {
      const r = decodeMacaroon(encodeMacaroon(root, format));
      const d = decodeMacaroon(encodeMacaroon(discharge, format));
      expect(verify(r, ROOT_KEY, [d], acceptAll).predicates.length).toBe(4);
    });
  }
});

describe("single-byte changes", () => {
  for (const which of ["root", "discharge"] as const) {
    for (const format of FORMATS) {
      test(`rejects every byte of a ${format} ${which} flipped with masks 0x01, 0x20, 0x80 and 0xff`, () => {
        const m = which === "root" ? root : discharge;
        const bytes = carried(m, format);
        const failures: string[] = [];
        for (let i = 0; i < bytes.length; i++) {
          for (const mask of [0x01, 0x20, 0x80, 0xff]) {
            const changed = bytes.slice();
            changed[i]! ^= mask;
            const code = rejected(() => attempt(which, asText(changed, format)));
            if (!accepted(which).includes(code)) failures.push(`byte ${i} ^ ${mask}: ${code}`);
          }
        }
        expect(failures).toEqual([]);
      });

      test(`rejects every character of the ${format} ${which} text changed to a neighbouring character`, () => {
        const text = encodeMacaroon(which === "root" ? root : discharge, format);
        const failures: string[] = [];
        for (let i = 0; i < text.length; i++) {
          for (const delta of [1, -1]) {
            const changed = text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) + delta) +
              text.slice(i + 1);
            const code = rejected(() => attempt(which, changed));
            if (!accepted(which).includes(code)) failures.push(`char ${i} ${delta}: ${code}`);
          }
        }
        expect(failures).toEqual([]);
      });
    }
  }
});

describe("truncation", () => {
  for (const format of FORMATS) {
    test(`rejects the ${format} root truncated at every length, as bytes and as text`, () => {
      const bytes = carried(root, format);
      const text = encodeMacaroon(root, format);
      const failures: string[] = [];
      for (let n = 0; n < bytes.length; n++) {
        const code = rejected(() => attempt("root", asText(bytes.subarray(0, n), format)));
        if (!REJECTIONS.includes(code)) failures.push(`bytes ${n}: ${code}`);
      }
      for (let n = 0; n < text.length; n++) {
        const code = rejected(() => attempt("root", text.slice(0, n)));
        if (!REJECTIONS.includes(code)) failures.push(`text ${n}: ${code}`);
      }
      expect(failures).toEqual([]);
    });
  }
});

test("100 seeded random byte-flip rounds are all rejected", () => {
  const rng = seededRng(20250102);
  const failures: string[] = [];
  for (let round = 0; round < 100; round++) {
    const format = FORMATS[Math.floor(rng() * FORMATS.length)]!;
    const which = rng() < 0.75 ? "root" : "discharge";
    const bytes = carried(which === "root" ? root : discharge, format);
    const flips = 1 + Math.floor(rng() * 3);
    for (let f = 0; f < flips; f++) bytes[Math.floor(rng() * bytes.length)]! ^= 1 + Math.floor(rng() * 255);
    const code = rejected(() => attempt(which, asText(bytes, format)));
    if (!accepted(which).includes(code)) failures.push(`round ${round} (${format} ${which}): ${code}`);
  }
  expect(failures).toEqual([]);
});

describe("fuzzing the decoders", () => {
  const allowed = ["ERR_MACAROON_FORMAT", "ERR_MACAROON_LIMIT"];

  function decodeOnly(text: string): string {
    try {
      decodeStack(text);
      decodeMacaroon(text);
      return "ok";
    } catch (err) {
      if (err instanceof AgentError) return err.code;
      return `raw exception: ${err instanceof Error ? err.stack : String(err)}`;
    }
  }

  test("random bytes as base64 and as text raise only format or limit errors", () => {
    const rng = seededRng(99);
    const random = seededRandom(99);
    const bad: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const bytes = random(Math.floor(rng() * 200));
      if (i % 3 === 0 && bytes.length > 0) bytes[0] = [0x02, 0x7b, 0x30, 0x5b][i % 4]!; // steer into each decoder
      const text = i % 2 === 0 ? b64urlEncode(bytes) : dec.decode(bytes);
      const code = decodeOnly(text);
      if (code !== "ok" && !allowed.includes(code)) bad.push(code);
    }
    expect(bad).toEqual([]);
  });

  test("valid tokens with random insertions, deletions and splices raise only format or limit errors", () => {
    const rng = seededRng(7);
    const sources = FORMATS.flatMap((f) => [carried(root, f), carried(discharge, f)]);
    const bad: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const format = FORMATS[i % 4]!;
      const src = [...sources[(i % 4) * 2 + (i % 2)]!];
      const edits = 1 + Math.floor(rng() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rng() * (src.length + 1));
        const op = rng();
        if (op < 0.33) src.splice(at, 1);
        else if (op < 0.66) src.splice(at, 0, Math.floor(rng() * 256));
        else src.splice(at, 0, ...src.slice(Math.floor(rng() * src.length), Math.floor(rng() * src.length)));
      }
      const code = decodeOnly(asText(Uint8Array.from(src), format));
      if (code !== "ok" && !allowed.includes(code)) bad.push(code);
    }
    expect(bad).toEqual([]);
  });

  test("hostile JSON shapes raise only format or limit errors", () => {
    const shapes = [
      "{",
      "}",
      "[",
      "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]",
      '{"i":{"i":{"i":{"i":{"i":{"i":{"i":{"i":{"i":{}}}}}}}}}}',
      '{"__proto__":{"i":"x"},"i":"a","s64":"AAAA"}',
      '{"constructor":1}',
      '{"i":"a","c":[null]}',
      '{"i":"a","c":[1]}',
      '{"i":"a","s64":1}',
      '{"i":null}',
      '{"v":2.0,"i":"a"}',
      '{"i":"\\u12"}',
      '{"i":"\\x"}',
      '"just a string"',
      "1e400",
      '{"identifier":1}',
      '{"identifier":"a","caveats":[{"cid":1}]}',
      '{"identifier":"a","caveats":"x"}',
      "[1,2]",
      "[{}]",
      "-",
      "tru",
      "nul",
      '{"a" 1}',
      '{"a":1,}',
      "[1,]",
      "\u0000",
      '{"i":"a"\u2028}',
    ];
    const bad = shapes.map(decodeOnly).filter((c) => c !== "ok" && !allowed.includes(c));
    expect(bad).toEqual([]);
  });

  test("very long varints, huge declared lengths and deep nesting are refused cheaply", () => {
    const longVarint = b64urlEncode(Uint8Array.from([2, 2, 0xff, 0xff, 0xff, 0xff, 0x7f]));
    expect(decodeOnly(longVarint)).toBe("ERR_MACAROON_FORMAT");
    const deep = "[".repeat(5000) + "]".repeat(5000);
    expect(decodeOnly(deep)).toBe("ERR_MACAROON_FORMAT");
  });
});
