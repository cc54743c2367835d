/** The four encodings: round trips, peer spellings that must be accepted, and structural rules that must hold. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ErrorCode } from "../../../src/errors.ts";
import {
  addFirstPartyCaveat,
  addThirdPartyCaveat,
  bindForRequest,
  decodeMacaroon,
  decodeStack,
  encodeMacaroon,
  encodeStack,
  type Macaroon,
  type MacaroonFormat,
  mint,
  verify,
} from "../../../src/macaroon/index.ts";
import {
  acceptAll,
  b64urlDecode,
  b64urlEncode,
  enc,
  expectAgentError,
  hex,
  seededRandom,
} from "./helpers.ts";

const ROOT_KEY = enc.encode("codec test root key");
const FORMATS: MacaroonFormat[] = ["v2", "v2j", "v1", "v1j"];

function sample(): Macaroon {
  let m = mint(ROOT_KEY, "agent1:0a1b2c3d:AAAAAAAAAAAAAAAAAAAAAA", "https://docker.example/");
  m = addFirstPartyCaveat(m, "op = read");
  m = addFirstPartyCaveat(m, "ip = 10.0.0.0/8");
  m = addThirdPartyCaveat(
    m,
    enc.encode("third party key"),
    "tp-caveat-1",
    "https://auth.example/",
    seededRandom(1),
  );
  return m;
}

function summary(m: Macaroon): unknown {
  return {
    location: m.location,
    identifier: hex(m.identifier),
    caveats: m.caveats.map((c) => [hex(c.identifier), c.location, c.verificationId && hex(c.verificationId)]),
    signature: hex(m.signature),
  };
}

/** V2 binary field: type, uvarint length, data. */
function field(type: number, data: Uint8Array | string): number[] {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  if (bytes.length >= 128) throw new Error("test helper handles short fields only");
  return [type, bytes.length, ...bytes];
}

const SIG = new Uint8Array(32).fill(7);

interface StructuralCase {
  id: string;
  title: string;
  source: string;
  token: string;
  expected: { code: ErrorCode; message: string; detail: string };
}
const adversarial = JSON.parse(
  readFileSync(join(import.meta.dir, "../../vectors/macaroon/adversarial.json"), "utf8"),
) as { cases: StructuralCase[] };
const v2 = (bytes: number[]) => b64urlEncode(Uint8Array.from(bytes));

describe("round trips", () => {
  for (const format of FORMATS) {
    test(`a macaroon with location, first- and third-party caveats survives ${format}`, () => {
      const m = sample();
      const decoded = decodeMacaroon(encodeMacaroon(m, format));
      expect(decoded.format).toBe(format);
      expect(summary(decoded)).toEqual(summary(m));
    });
  }

  test("V2 binary is the default and is unpadded base64url", () => {
    const text = encodeMacaroon(sample());
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeMacaroon(text).format).toBe("v2");
  });

  test("binary identifiers survive v2, v2j (as i64) and v1", () => {
    const m = mint(ROOT_KEY, Uint8Array.from([0xff, 0x00, 0xfe, 0x80]));
    for (const format of ["v2", "v2j", "v1"] as const) {
      expect(summary(decodeMacaroon(encodeMacaroon(m, format)))).toEqual(summary(m));
    }
    expect(encodeMacaroon(m, "v2j")).toContain('"i64":"_wD-gA"');
  });

  test("v1 JSON refuses binary identifiers", () => {
    const m = mint(ROOT_KEY, Uint8Array.from([0xff, 0x00]));
    expectAgentError(
      () => encodeMacaroon(m, "v1j"),
      "ERR_MACAROON_FORMAT",
      "this macaroon cannot be written as v1 JSON",
    );
  });

  test("an unknown format name is refused", () => {
    expectAgentError(
      () => encodeMacaroon(sample(), "v3" as MacaroonFormat),
      "ERR_MACAROON_FORMAT",
      "malformed macaroon",
    );
  });
});

describe("peer spellings that are accepted", () => {
  test("standard-base64 V1 JSON, as the 2015 Docker remote-API proposal sent it", () => {
    const m = sample();
    const blob = btoa(encodeMacaroon(m, "v1j"));
    const decoded = decodeMacaroon(blob);
    expect(decoded.format).toBe("v1j");
    expect(summary(decoded)).toEqual(summary(m));
  });

  test("base64 of V2 JSON, surrounding whitespace, and padded base64", () => {
    const m = sample();
    expect(summary(decodeMacaroon(b64urlEncode(enc.encode(encodeMacaroon(m, "v2j")))))).toEqual(summary(m));
    expect(summary(decodeMacaroon(`  ${encodeMacaroon(m)}\n`))).toEqual(summary(m));
    const padded = encodeMacaroon(m, "v1");
    expect(summary(decodeMacaroon(padded + "=".repeat((4 - (padded.length % 4)) % 4)))).toEqual(summary(m));
  });

  test('V2 JSON without "v", with "v":"2", and with the signature as UTF-8 text', () => {
    const s64 = b64urlEncode(SIG);
    expect(decodeMacaroon(`{"i":"id","s64":"${s64}"}`).format).toBe("v2j");
    expect(decodeMacaroon(`{"v":"2","i":"id","s64":"${s64}"}`).format).toBe("v2j");
    const m = decodeMacaroon(`{"v":2,"i":"id","c":[],"s":"${"\\u0007".repeat(32)}"}`);
    expect(hex(m.signature)).toBe(hex(SIG));
  });

  test("an empty location field (as pymacaroons writes) reads as no location", () => {
    const bytes = [2, ...field(1, ""), ...field(2, "id"), 0, 0, ...field(6, SIG)];
    expect(decodeMacaroon(v2(bytes)).location).toBeUndefined();
  });

  test('V1 JSON with "caveats": null (go-macaroon) and an empty "vid" (a first-party caveat)', () => {
    const sig = hex(SIG);
    expect(decodeMacaroon(`{"location":"","identifier":"id","caveats":null,"signature":"${sig}"}`).caveats)
      .toEqual([]);
    const m = decodeMacaroon(`{"identifier":"id","caveats":[{"cid":"a = b","vid":""}],"signature":"${sig}"}`);
    expect(m.caveats[0]!.verificationId).toBeUndefined();
  });
});

describe("structural rules", () => {
  for (const c of adversarial.cases) {
    test(`${c.id}: ${c.title} (${c.source})`, () => {
      const err = expectAgentError(() => decodeMacaroon(c.token), c.expected.code, c.expected.message);
      expect(err.detail).toContain(c.expected.detail);
    });
  }

  function v1(packets: [string, Uint8Array | string][]): string {
    const parts = packets.map(([k, v]) => {
      const value = typeof v === "string" ? enc.encode(v) : v;
      const len = 4 + k.length + 1 + value.length + 1;
      return [...enc.encode(len.toString(16).padStart(4, "0") + k + " "), ...value, 0x0a];
    });
    return b64urlEncode(Uint8Array.from(parts.flat()));
  }

  test("refuses V1 binary whose packet length uses uppercase hex", () => {
    const good = b64urlDecode(v1([["identifier", "ABCDEFGHIJKLMNOPQRSTUVWXYZABCD"], ["signature", SIG]]));
    expect(String.fromCharCode(good[2]!, good[3]!)).toBe("2e");
    good[3] = "E".charCodeAt(0);
    const err = expectAgentError(
      () => decodeMacaroon(b64urlEncode(good)),
      "ERR_MACAROON_FORMAT",
      "malformed macaroon",
    );
    expect(err.detail).toBe("v1: bad packet length");
  });

  test("refuses empty text, text that is neither JSON nor base64, and unknown leading bytes", () => {
    for (const bad of ["", "   ", "!!!", b64urlEncode(Uint8Array.from([0x01, 0x02])), "[]"]) {
      expectAgentError(() => decodeMacaroon(bad), "ERR_MACAROON_FORMAT", "malformed macaroon");
    }
  });

  test("refuses values that are not strings at all", () => {
    expectAgentError(
      () => decodeMacaroon(42 as unknown as string),
      "ERR_MACAROON_FORMAT",
      "malformed macaroon",
    );
  });
});

describe("limits", () => {
  test("refuses token text longer than 16 KiB before decoding it", () => {
    const err = expectAgentError(
      () => decodeMacaroon("A".repeat(16 * 1024 + 1)),
      "ERR_MACAROON_LIMIT",
      "macaroon exceeds a size limit",
    );
    expect(err.detail).toBe("token text too long");
  });

  test("minting refuses a 65th caveat and a field over 4 KiB", () => {
    let m = mint(ROOT_KEY, "id");
    for (let i = 0; i < 64; i++) m = addFirstPartyCaveat(m, `n${i} = ${i}`);
    expectAgentError(
      () => addFirstPartyCaveat(m, "one = more"),
      "ERR_MACAROON_LIMIT",
      "macaroon exceeds a size limit",
    );
    expectAgentError(
      () => mint(ROOT_KEY, "x".repeat(4097)),
      "ERR_MACAROON_LIMIT",
      "macaroon exceeds a size limit",
    );
  });

  test("decoding refuses more caveats or longer fields than the limits allow, in every format", () => {
    let m = mint(ROOT_KEY, "id");
    for (let i = 0; i < 5; i++) m = addFirstPartyCaveat(m, `n${i} = ${i}`);
    for (const format of FORMATS) {
      const text = encodeMacaroon(m, format);
      expect(decodeMacaroon(text, { maxCaveats: 5 }).caveats.length).toBe(5);
      expectAgentError(
        () => decodeMacaroon(text, { maxCaveats: 4 }),
        "ERR_MACAROON_LIMIT",
        "macaroon exceeds a size limit",
      );
      expectAgentError(
        () => decodeMacaroon(text, { maxFieldBytes: 5 }),
        "ERR_MACAROON_LIMIT",
        "macaroon exceeds a size limit",
      );
    }
  });

  test("limits must be positive integers", () => {
    expectAgentError(
      () => decodeMacaroon("x", { maxCaveats: 0 }),
      "ERR_USAGE",
      "macaroon limits must be positive integers",
    );
  });
});

describe("stacks for the X-Macaroon header", () => {
  const root = sample();
  const discharge = bindForRequest(
    root,
    addFirstPartyCaveat(
      mint(enc.encode("third party key"), "tp-caveat-1", "https://auth.example/"),
      "user = alice",
    ),
  );

  test("comma-separated tokens: root first, then discharges; spaces around commas allowed", () => {
    const text = encodeStack([root, discharge]);
    expect(text.split(",").length).toBe(2);
    const [r, ...d] = decodeStack(text);
    expect(summary(r)).toEqual(summary(root));
    expect(d.map(summary)).toEqual([summary(discharge)]);
    expect(decodeStack(text.replace(",", " , ")).length).toBe(2);
    verify(r, ROOT_KEY, d, acceptAll);
  });

  test("JSON arrays, raw or base64 in either alphabet (pymacaroons / bakery style)", () => {
    const json = encodeStack([root, discharge], "v2j");
    expect(json.startsWith("[{")).toBe(true);
    for (const text of [json, btoa(json), b64urlEncode(enc.encode(json))]) {
      const [r, ...d] = decodeStack(text);
      expect(summary(r)).toEqual(summary(root));
      expect(d.length).toBe(1);
    }
  });

  test("a single token in any format is a stack of one", () => {
    for (const format of FORMATS) expect(decodeStack(encodeMacaroon(root, format)).length).toBe(1);
  });

  test("refuses an empty stack, an empty element and more than 8 discharges", () => {
    expectAgentError(() => decodeStack(""), "ERR_MACAROON_FORMAT", "malformed macaroon");
    expectAgentError(() => decodeStack("[]"), "ERR_MACAROON_FORMAT", "malformed macaroon");
    expectAgentError(
      () => decodeStack(encodeMacaroon(root) + ","),
      "ERR_MACAROON_FORMAT",
      "malformed macaroon",
    );
    expectAgentError(() => encodeStack([]), "ERR_MACAROON_FORMAT", "malformed macaroon");
    const ten = encodeStack(Array.from({ length: 10 }, () => discharge));
    expectAgentError(() => decodeStack(ten), "ERR_MACAROON_LIMIT", "macaroon exceeds a size limit");
    expectAgentError(
      () => decodeStack(`[${ten.split(",").map(() => encodeMacaroon(root, "v2j")).join(",")}]`),
      "ERR_MACAROON_LIMIT",
      "macaroon exceeds a size limit",
    );
  });
});
