import { describe, expect, test } from "bun:test";
import derVectors from "../../vectors/ca/der-integer.json";
import { bytesToHex } from "@noble/hashes/utils.js";
import { derInteger, hexToBytes } from "../../../src/ca/der.ts";
import { canonicalSerial, newSerialNumber } from "../../../src/ca/serial.ts";
import { decodeBase64Strict, decodePem, encodePem } from "../../../src/ca/pem.ts";
import { LruCache } from "../../../src/ca/lru.ts";
import { randomUuid } from "../../../src/ca/uuid.ts";
import { lifetimeDays, parseDays, validityFor } from "../../../src/ca/validity.ts";
import { AgentError } from "../../../src/errors.ts";
import { seededRandom } from "./helpers.ts";

function thrown(fn: () => unknown): AgentError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AgentError) return err;
    throw err;
  }
  throw new Error("expected an AgentError");
}

describe("DER integers (tests/vectors/ca/der-integer.json)", () => {
  for (const c of derVectors.cases) {
    test(`${c.id}: ${c.title}`, () => {
      expect(bytesToHex(derInteger(BigInt(c.value)))).toBe(c.der);
    });
  }

  test("refuses a negative number", () => {
    expect(() => derInteger(-1n)).toThrow(RangeError);
  });

  test("round-trips hex", () => {
    expect(bytesToHex(hexToBytes("00ff10"))).toBe("00ff10");
    expect(() => hexToBytes("abc")).toThrow(RangeError);
  });
});

describe("serial numbers", () => {
  test("are 16 bytes, positive, with no leading zero, whatever the random bytes", () => {
    const extremes = [new Uint8Array(16), new Uint8Array(16).fill(0xff)];
    for (const bytes of extremes) {
      const serial = newSerialNumber(() => bytes.slice());
      expect(serial).toHaveLength(32);
      expect(serial).toMatch(/^[4-7][0-9a-f]{31}$/);
    }
  });

  test("differ between draws", () => {
    const random = seededRandom("serials");
    const serials = new Set(Array.from({ length: 100 }, () => newSerialNumber(random)));
    expect(serials.size).toBe(100);
  });

  test("refuses a short random read", () => {
    expect(() => newSerialNumber(() => new Uint8Array(8))).toThrow(RangeError);
  });

  test("canonical form drops colons, case, 0x and leading zeros", () => {
    expect(canonicalSerial("00:4A:bc")).toBe("4abc");
    expect(canonicalSerial("0x0001")).toBe("1");
    expect(canonicalSerial("000")).toBe("0");
    expect(canonicalSerial("alice")).toBeUndefined();
    expect(canonicalSerial("")).toBeUndefined();
    expect(canonicalSerial("f".repeat(65))).toBeUndefined();
  });
});

describe("PEM", () => {
  test("wraps at 64 columns with the given label and reads back", () => {
    const der = new Uint8Array(100).map((_, i) => i);
    const pem = encodePem(der, "X509 CRL");
    expect(pem.startsWith("-----BEGIN X509 CRL-----\n")).toBe(true);
    expect(pem.endsWith("-----END X509 CRL-----\n")).toBe(true);
    expect(pem.split("\n").every((line) => line.length <= 64)).toBe(true);
    expect(decodePem(pem, "X509 CRL", "ERR_CA_CERTIFICATE", "bad")).toEqual(der);
  });

  test("rejects a wrong label, two blocks, and a broken body with the caller's code and message", () => {
    const pem = encodePem(Uint8Array.of(1, 2, 3), "CERTIFICATE");
    for (const text of [encodePem(Uint8Array.of(1), "CRL"), pem + pem, pem.replace("AQID", "A*ID"), ""]) {
      const err = thrown(() => decodePem(text, "CERTIFICATE", "ERR_CA_CERTIFICATE", "fixed text"));
      expect(err.code).toBe("ERR_CA_CERTIFICATE");
      expect(err.message).toBe("fixed text");
    }
  });

  test("strict base64 refuses whitespace, bad padding and foreign characters", () => {
    expect(decodeBase64Strict("AQID")).toEqual(Uint8Array.of(1, 2, 3));
    for (const bad of ["AQI", "AQ ID", "AQ==AQ==", "AQ-_", "A===", "\u00e9AAA"]) {
      expect(decodeBase64Strict(bad)).toBeUndefined();
    }
  });
});

describe("LRU cache", () => {
  test("evicts the least recently used entry beyond its limit", () => {
    const cache = new LruCache<string, number>(2);
    cache.set("a", 1);
    cache.set("b", 2);
    expect(cache.get("a")).toBe(1);
    cache.set("c", 3);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe(1);
    expect(cache.get("c")).toBe(3);
    expect(cache.size).toBe(2);
  });

  test("refuses a limit below one", () => {
    expect(() => new LruCache(0)).toThrow(RangeError);
  });
});

describe("validity", () => {
  const now = new Date("2026-03-01T10:20:30.789Z");

  test("backdates notBefore five minutes and counts days from the whole second", () => {
    const v = validityFor(now, 30);
    expect(v.notBefore.toISOString()).toBe("2026-03-01T10:15:30.000Z");
    expect(v.notAfter.toISOString()).toBe("2026-03-31T10:20:30.000Z");
    expect(lifetimeDays(v.notBefore, v.notAfter)).toBe(30);
  });

  test("accepts whole days from 1 to 36500 and rejects the rest with ERR_USAGE", () => {
    expect(parseDays(undefined, 365)).toBe(365);
    expect(parseDays(7, 365)).toBe(7);
    expect(parseDays("90", 365)).toBe(90);
    for (const bad of [0, -1, 1.5, 36501, "ten", "1e3", "", Number.NaN, true]) {
      const err = thrown(() => parseDays(bad, 365));
      expect(err.code).toBe("ERR_USAGE");
      expect(err.message).toBe("--days must be a whole number from 1 to 36500");
    }
  });
});

describe("cluster ids", () => {
  test("are version 4 UUIDs built from the injected random source", () => {
    const id = randomUuid(seededRandom("uuid"));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(randomUuid(seededRandom("uuid"))).toBe(id);
  });
});
