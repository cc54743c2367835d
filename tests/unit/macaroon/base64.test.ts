import { describe, expect, test } from "bun:test";
import { base64Decode, base64StdEncode, base64UrlEncode } from "../../../src/macaroon/base64.ts";
import { hex, seededRandom } from "./helpers.ts";

describe("base64", () => {
  test("round-trips every length 0..64 in both alphabets, padded and unpadded", () => {
    const random = seededRandom(7);
    for (let n = 0; n <= 64; n++) {
      const bytes = random(n);
      const url = base64UrlEncode(bytes);
      const std = base64StdEncode(bytes);
      expect(url).toBe(Buffer.from(bytes).toString("base64url"));
      expect(std).toBe(Buffer.from(bytes).toString("base64"));
      for (const text of [url, std, std.replace(/=+$/, ""), url + "=".repeat((4 - (url.length % 4)) % 4)]) {
        expect(hex(base64Decode(text)!)).toBe(hex(bytes));
      }
    }
  });

  test("refuses mixed alphabets, bad padding, whitespace and stray characters", () => {
    for (
      const bad of [
        "a-b+",
        "a_b/",
        "QQ=",
        "QQ===",
        "QUJD=",
        "Q",
        "QUJDR",
        "QU JD",
        "QUJD\n",
        "QU*D",
        "=QUJ",
        "Q=Q=",
      ]
    ) {
      expect(base64Decode(bad)).toBeUndefined();
    }
  });

  test("refuses non-zero trailing bits, so a changed last character never decodes to the same bytes", () => {
    expect(hex(base64Decode("QQ")!)).toBe("41");
    expect(base64Decode("QR")).toBeUndefined();
    expect(hex(base64Decode("QUI")!)).toBe("4142");
    expect(base64Decode("QUJ")).toBeUndefined();
  });

  test("refuses non-ASCII characters", () => {
    expect(base64Decode("QU\u00e9D")).toBeUndefined();
    expect(base64Decode("QU\u0130D")).toBeUndefined();
  });
});
