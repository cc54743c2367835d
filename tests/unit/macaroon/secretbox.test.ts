/** XSalsa20-Poly1305 secretbox against libsodium vectors (tests/vectors/macaroon/secretbox.json). */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openBox, sealBox } from "../../../src/macaroon/secretbox.ts";
import { fromHex, hex } from "./helpers.ts";

interface BoxCase {
  id: string;
  title: string;
  source: string;
  key: string;
  nonce: string;
  plaintext: string;
  expected: string;
}

const file = JSON.parse(
  readFileSync(join(import.meta.dir, "../../vectors/macaroon/secretbox.json"), "utf8"),
) as {
  cases: BoxCase[];
};

describe("secretbox vectors (libsodium)", () => {
  for (const c of file.cases) {
    test(`${c.id}: ${c.title} (${c.source}) seals to the expected box and opens back`, () => {
      const key = fromHex(c.key);
      const nonce = fromHex(c.nonce);
      const sealed = sealBox(key, nonce, fromHex(c.plaintext));
      expect(hex(sealed.subarray(0, 24))).toBe(c.nonce);
      expect(hex(sealed.subarray(24))).toBe(c.expected);
      const opened = openBox(key, sealed);
      expect(opened && hex(opened)).toBe(c.plaintext);
    });
  }
});

describe("secretbox rejections", () => {
  const c = file.cases[0]!;
  const key = fromHex(c.key);
  const sealed = sealBox(key, fromHex(c.nonce), fromHex(c.plaintext));

  test("refuses a box with any single bit flipped (nonce, tag or ciphertext)", () => {
    for (let i = 0; i < sealed.length; i++) {
      const bad = sealed.slice();
      bad[i]! ^= 1 << (i % 8);
      expect(openBox(key, bad)).toBeUndefined();
    }
  });

  test("refuses a box opened with a different key", () => {
    const other = key.slice();
    other[31]! ^= 0x80;
    expect(openBox(other, sealed)).toBeUndefined();
  });

  test("refuses boxes shorter than nonce plus tag, and keys that are not 32 bytes", () => {
    expect(openBox(key, sealed.subarray(0, 39))).toBeUndefined();
    expect(openBox(key.subarray(0, 31), sealed)).toBeUndefined();
  });

  test("sealing with a wrong-size key or nonce is an internal AgentError, not a raw exception", () => {
    expect(() => sealBox(key.subarray(0, 16), new Uint8Array(24), new Uint8Array(1))).toThrow(
      "internal error",
    );
    expect(() => sealBox(key, new Uint8Array(8), new Uint8Array(1))).toThrow("internal error");
  });
});
