/** The ip caveat's address and CIDR parser and matcher. */
import { describe, expect, test } from "bun:test";
import { formatIpRange, ipMatches, parseIpAddress, parseIpRange } from "../../../src/macaroon/index.ts";
import { expectAgentError, hex } from "./helpers.ts";

describe("parseIpAddress", () => {
  test("reads IPv4 as v4-mapped bytes", () => {
    const a = parseIpAddress("192.0.2.1")!;
    expect(a.family).toBe(4);
    expect(hex(a.bytes)).toBe("00000000000000000000ffffc0000201");
  });

  test("reads the IPv6 text forms", () => {
    const cases: [string, string][] = [
      ["::", "00000000000000000000000000000000"],
      ["::1", "00000000000000000000000000000001"],
      ["1::", "00010000000000000000000000000000"],
      ["2001:db8::ff00:42:8329", "20010db8000000000000ff0000428329"],
      ["2001:0DB8:0000:0000:0000:FF00:0042:8329", "20010db8000000000000ff0000428329"],
      ["1:2:3:4:5:6:7::", "00010002000300040005000600070000"],
      ["::2:3:4:5:6:7:8", "00000002000300040005000600070008"],
      ["::ffff:192.0.2.1", "00000000000000000000ffffc0000201"],
      ["64:ff9b::192.0.2.33", "0064ff9b0000000000000000c0000221"],
      ["1:2:3:4:5:6:1.2.3.4", "00010002000300040005000601020304"],
    ];
    for (const [text, bytes] of cases) expect(hex(parseIpAddress(text)!.bytes)).toBe(bytes);
  });

  test("refuses malformed addresses", () => {
    for (
      const bad of [
        "",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3.04",
        "1.2.3.-1",
        " 1.2.3.4",
        "1.2.3.4 ",
        ":::",
        "1:::2",
        "1::2::3",
        ":1::",
        "1::2:",
        "12345::",
        "g::",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8::",
        "::1.2.3",
        "1.2.3.4::",
        "::1.2.3.4:5",
        "fe80::1%eth0",
        "[::1]",
        "1.2.3.4:80",
        "0x7f.0.0.1",
        "localhost",
      ]
    ) {
      expect(parseIpAddress(bad)).toBeUndefined();
    }
  });
});

describe("parseIpRange", () => {
  test("accepts addresses and CIDR ranges", () => {
    expect(parseIpRange("10.0.0.0/8").prefix).toBe(104);
    expect(parseIpRange("10.1.2.3").prefix).toBe(128);
    expect(parseIpRange("0.0.0.0/0").prefix).toBe(96);
    expect(parseIpRange("::/0").prefix).toBe(0);
    expect(parseIpRange("2001:db8::/32").prefix).toBe(32);
  });

  test("refuses host bits, bad prefixes and bad addresses with the reason", () => {
    expectAgentError(
      () => parseIpRange("10.1.2.3/8"),
      "ERR_MACAROON_CAVEAT",
      'invalid ip "10.1.2.3/8": host bits set',
    );
    expectAgentError(
      () => parseIpRange("2001:db8::1/32"),
      "ERR_MACAROON_CAVEAT",
      'invalid ip "2001:db8::1/32": host bits set',
    );
    for (const bad of ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/08", "::/129", "::/-1", "10.0.0.0/8/8"]) {
      expectAgentError(
        () => parseIpRange(bad),
        "ERR_MACAROON_CAVEAT",
        `invalid ip "${bad}": bad prefix length`,
      );
    }
    expectAgentError(
      () => parseIpRange("example.com"),
      "ERR_MACAROON_CAVEAT",
      'invalid ip "example.com": not an IPv4 or IPv6 address',
    );
  });

  test("formats canonically (RFC 5952 for IPv6)", () => {
    const cases: [string, string][] = [
      ["10.0.0.0/8", "10.0.0.0/8"],
      ["10.0.0.1/32", "10.0.0.1"],
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["0:0:0:0:0:0:0:0/0", "::/0"],
      ["::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104"],
      ["FE80::/10", "fe80::/10"],
    ];
    for (const [input, output] of cases) expect(formatIpRange(parseIpRange(input))).toBe(output);
  });
});

describe("ipMatches", () => {
  test("matches IPv4 ranges and single addresses", () => {
    expect(ipMatches("10.0.0.0/8", "10.255.1.2")).toBe(true);
    expect(ipMatches("10.0.0.0/8", "11.0.0.1")).toBe(false);
    expect(ipMatches("192.168.1.7", "192.168.1.7")).toBe(true);
    expect(ipMatches("192.168.1.7", "192.168.1.8")).toBe(false);
    expect(ipMatches("172.16.0.0/12", "172.31.255.255")).toBe(true);
    expect(ipMatches("172.16.0.0/12", "172.32.0.0")).toBe(false);
    expect(ipMatches("0.0.0.0/0", "8.8.8.8")).toBe(true);
  });

  test("a v4 range matches the v4-mapped IPv6 spelling of an address, and the other way round", () => {
    expect(ipMatches("10.0.0.0/8", "::ffff:10.1.2.3")).toBe(true);
    expect(ipMatches("10.0.0.0/8", "::ffff:a01:203")).toBe(true);
    expect(ipMatches("::ffff:10.0.0.0/104", "10.9.9.9")).toBe(true);
    expect(ipMatches("10.0.0.0/8", "::10.1.2.3")).toBe(false); // v4-compatible is not v4-mapped
    expect(ipMatches("0.0.0.0/0", "2001:db8::1")).toBe(false); // "any IPv4" is not "any address"
    expect(ipMatches("::/0", "8.8.8.8")).toBe(true);
  });

  test("matches IPv6 ranges on non-byte prefix boundaries", () => {
    expect(ipMatches("fe80::/10", "fe80::1")).toBe(true);
    expect(ipMatches("fe80::/10", "febf:ffff::1")).toBe(true);
    expect(ipMatches("fe80::/10", "fec0::1")).toBe(false);
    expect(ipMatches("2001:db8::/33", "2001:db8:7fff::1")).toBe(true);
    expect(ipMatches("2001:db8::/33", "2001:db8:8000::1")).toBe(false);
  });

  test("an address that does not parse never matches", () => {
    expect(ipMatches("0.0.0.0/0", "")).toBe(false);
    expect(ipMatches("::/0", "not an address")).toBe(false);
    expect(ipMatches("::/0", "[::1]:8080")).toBe(false);
    expect(ipMatches("::/0", undefined as unknown as string)).toBe(false);
  });

  test("takes a parsed range too (what a verified ip caveat carries)", () => {
    expect(ipMatches(parseIpRange("10.0.0.0/8"), "10.0.0.1")).toBe(true);
  });
});
