/** The key format: agt_ + base62(256 random bits, width 43) + base62(crc32, width 6). */
import { describe, expect, test } from "bun:test";
import { utf8ToBytes } from "@noble/hashes/utils.js";
import {
  API_KEY_LENGTH,
  apiKeyFormatProblem,
  describeFormatProblem,
  displayPrefix,
  formatApiKey,
  isWellFormedApiKey,
  newApiKey,
} from "../../../src/apikey/index.ts";
import { base62Decode, base62Encode, bytesToBigInt } from "../../../src/apikey/base62.ts";
import { crc32 } from "../../../src/apikey/crc32.ts";
import { freshRandom, seededRandom } from "./helpers.ts";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

describe("the building blocks", () => {
  test("crc32 matches the standard check value (crc32('123456789') = 0xCBF43926)", () => {
    expect(crc32(utf8ToBytes("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
  });

  test("base62 is fixed width, round-trips and refuses a value that does not fit", () => {
    expect(base62Encode(0n, 6)).toBe("000000");
    expect(base62Encode(61n, 2)).toBe("0z");
    expect(base62Encode(62n, 2)).toBe("10");
    expect(base62Encode(0xffffffffn, 6)).toBe("4gfFC3");
    expect(base62Decode("4gfFC3")).toBe(0xffffffffn);
    expect(() => base62Encode(62n ** 6n, 6)).toThrow(RangeError);
    expect(base62Decode("ab-c")).toBeUndefined();
    const max = bytesToBigInt(new Uint8Array(32).fill(0xff));
    expect(max).toBe(2n ** 256n - 1n);
    expect(base62Encode(max, 43)).toHaveLength(43);
  });
});

describe("API key format", () => {
  test("a key is agt_, 43 random base62 characters and a 6-character checksum: 53 in all", () => {
    const key = newApiKey(freshRandom());
    expect(API_KEY_LENGTH).toBe(53);
    expect(key).toMatch(/^agt_[0-9A-Za-z]{49}$/);
    expect(isWellFormedApiKey(key)).toBe(true);
    expect(apiKeyFormatProblem(key)).toBeUndefined();
    expect(displayPrefix(key)).toBe(key.slice(0, 12));
  });

  test("the random part spells the 32 random bytes and the checksum is crc32 of that text", () => {
    const bytes = seededRandom("vector")(32);
    const key = formatApiKey(bytes);
    const random = key.slice(4, 47);
    expect(base62Decode(random)).toBe(bytesToBigInt(bytes));
    expect(base62Decode(key.slice(47))).toBe(BigInt(crc32(utf8ToBytes(random))));
    expect(formatApiKey(bytes)).toBe(key);
  });

  test("extreme random values (all zero, all 0xff) still make well-formed keys of the same length", () => {
    for (const fill of [0, 0xff]) {
      const key = formatApiKey(new Uint8Array(32).fill(fill));
      expect(key).toHaveLength(API_KEY_LENGTH);
      expect(isWellFormedApiKey(key)).toBe(true);
    }
  });

  test("refuses random input of the wrong length", () => {
    expect(() => formatApiKey(new Uint8Array(31))).toThrow();
    expect(() => newApiKey(() => new Uint8Array(16))).toThrow();
  });

  test("1,000 keys from random bytes all check, and are all different", () => {
    const random = freshRandom();
    const keys = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const key = newApiKey(random);
      expect(apiKeyFormatProblem(key)).toBeUndefined();
      keys.add(key);
    }
    expect(keys.size).toBe(1000);
  });

  test("the checksum catches every single-character change, anywhere after the prefix", () => {
    const random = freshRandom();
    let tried = 0;
    for (let k = 0; k < 3; k++) {
      const key = newApiKey(random);
      for (let i = 4; i < key.length; i++) {
        for (const c of BASE62) {
          if (c === key[i]) continue;
          const changed = key.slice(0, i) + c + key.slice(i + 1);
          expect(apiKeyFormatProblem(changed)).toBe("checksum");
          tried++;
        }
      }
    }
    expect(tried).toBe(3 * 49 * 61);
  });

  test("the checksum catches swapped neighbours and a dropped-and-added character", () => {
    const key = newApiKey(freshRandom());
    let caught = 0;
    for (let i = 4; i + 1 < key.length; i++) {
      if (key[i] === key[i + 1]) continue;
      const swapped = key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2);
      expect(isWellFormedApiKey(swapped)).toBe(false);
      caught++;
    }
    expect(caught).toBeGreaterThan(40);
    expect(isWellFormedApiKey(key.slice(0, 10) + key.slice(11) + "A")).toBe(false);
  });

  test("a changed prefix, length or character set is refused, each with its own reason", () => {
    const key = newApiKey(freshRandom());
    expect(apiKeyFormatProblem("ghp_" + key.slice(4))).toBe("prefix");
    expect(apiKeyFormatProblem("AGT_" + key.slice(4))).toBe("prefix");
    expect(apiKeyFormatProblem(key.slice(4))).toBe("prefix");
    expect(apiKeyFormatProblem("")).toBe("prefix");
    expect(apiKeyFormatProblem(" " + key)).toBe("prefix");
    expect(apiKeyFormatProblem(key.slice(0, -1))).toBe("length");
    expect(apiKeyFormatProblem(key + "0")).toBe("length");
    expect(apiKeyFormatProblem(key + "\n")).toBe("length");
    expect(apiKeyFormatProblem("agt_")).toBe("length");
    expect(apiKeyFormatProblem(key.slice(0, 20) + "-" + key.slice(21))).toBe("characters");
    expect(apiKeyFormatProblem(key.slice(0, 20) + "_" + key.slice(21))).toBe("characters");
    expect(apiKeyFormatProblem(key.slice(0, 52) + "\u00e9")).toBe("characters");
    expect(apiKeyFormatProblem("agt_" + "z".repeat(49))).toBe("checksum"); // checksum digits above 2^32
  });

  test("never throws, whatever it is given, and never repeats the text in its reason", () => {
    const random = freshRandom();
    const samples: unknown[] = [undefined, null, 42, {}, "agt_\u0000", "x".repeat(100_000)];
    for (let i = 0; i < 500; i++) {
      const bytes = random(1 + (i % 60));
      samples.push("agt_" + Array.from(bytes, (b) => String.fromCharCode(33 + (b % 94))).join(""));
    }
    for (const s of samples) {
      const problem = apiKeyFormatProblem(s as string);
      expect(problem).toBeDefined();
      const reason = describeFormatProblem(problem!);
      if (typeof s === "string" && s.length > 8) expect(reason).not.toContain(s.slice(4));
    }
  });
});
