/** Caveat grammar, the registry and the Docker caveat kinds. */
import { describe, expect, test } from "bun:test";
import {
  CaveatRegistry,
  dockerCaveat,
  dockerCaveatChecker,
  expiresAfter,
  formatDockerCaveat,
  parseCaveat,
  parseDockerCaveat,
} from "../../../src/macaroon/index.ts";
import { expectAgentError } from "./helpers.ts";

const HEX64 = "0123456789abcdef".repeat(4);

describe("caveat grammar", () => {
  test("splits name = value, with or without spaces around =", () => {
    expect(parseCaveat("op = read")).toEqual({ name: "op", value: "read" });
    expect(parseCaveat("op=read")).toEqual({ name: "op", value: "read" });
    expect(parseCaveat("user = alice  smith")).toEqual({ name: "user", value: "alice  smith" });
  });

  test("refuses text that is not name = value in printable ASCII", () => {
    for (
      const bad of [
        "op",
        "= read",
        "op =",
        "Op = read",
        "op = read ",
        " op = read",
        "op = re\u00e9d",
        "op = a\nb",
        "1op = x",
      ]
    ) {
      expectAgentError(
        () => parseCaveat(bad),
        "ERR_MACAROON_CAVEAT",
        /^caveat ".*" is not of the form "name = value"$/,
      );
    }
  });
});

describe("registry", () => {
  test("registering a name twice is a programming error", () => {
    const r = new CaveatRegistry<string>([{ name: "a", parse: (v) => v }]);
    expectAgentError(() => r.register({ name: "a", parse: (v) => v }), "ERR_INTERNAL", "internal error");
  });

  test("unknown names fail closed", () => {
    expectAgentError(() => parseDockerCaveat("user = alice"), "ERR_MACAROON_CAVEAT", 'unknown caveat "user"');
    expect(new CaveatRegistry().names).toEqual([]);
  });
});

describe("op", () => {
  test("accepts read, write and both (normalised to read,write)", () => {
    expect(parseDockerCaveat("op = read")).toEqual({ name: "op", read: true, write: false });
    expect(parseDockerCaveat("op = write")).toEqual({ name: "op", read: false, write: true });
    expect(formatDockerCaveat(parseDockerCaveat("op = write,read"))).toBe("op = read,write");
  });

  test("refuses anything else", () => {
    for (const bad of ["all", "read,read", "read,", "READ", "read, write", "exec"]) {
      expectAgentError(
        () => dockerCaveat("op", bad),
        "ERR_MACAROON_CAVEAT",
        `invalid op "${bad}": expected read, write or read,write`,
      );
    }
  });
});

describe("container_id and image_id", () => {
  test("container ids must be the full 64 lowercase hex digits", () => {
    expect(dockerCaveat("container_id", HEX64)).toEqual({ name: "container_id", id: HEX64 });
    for (const bad of [HEX64.slice(1), HEX64.toUpperCase(), "web", `sha256:${HEX64}`]) {
      expectAgentError(
        () => dockerCaveat("container_id", bad),
        "ERR_MACAROON_CAVEAT",
        /^invalid container_id/,
      );
    }
  });

  test("image ids are normalised to sha256:<hex>", () => {
    expect(dockerCaveat("image_id", HEX64)).toEqual({ name: "image_id", id: `sha256:${HEX64}` });
    expect(formatDockerCaveat(dockerCaveat("image_id", `sha256:${HEX64}`))).toBe(
      `image_id = sha256:${HEX64}`,
    );
    for (const bad of ["ubuntu:latest", `sha512:${HEX64}`, `sha256:${HEX64.slice(2)}`]) {
      expectAgentError(() => dockerCaveat("image_id", bad), "ERR_MACAROON_CAVEAT", /^invalid image_id/);
    }
  });
});

describe("expires", () => {
  test("accepts RFC 3339 UTC times, with fractions, and writes a canonical form", () => {
    const c = parseDockerCaveat("expires = 2030-01-02T03:04:05Z");
    expect(c).toEqual({ name: "expires", atMs: Date.UTC(2030, 0, 2, 3, 4, 5) });
    expect(formatDockerCaveat(c)).toBe("expires = 2030-01-02T03:04:05Z");
    expect(formatDockerCaveat(dockerCaveat("expires", "2030-01-02t03:04:05.250z"))).toBe(
      "expires = 2030-01-02T03:04:05.250Z",
    );
    expect(dockerCaveat("expires", "2024-02-29T00:00:00Z")).toBeDefined();
  });

  test("refuses offsets, impossible dates and other spellings", () => {
    for (
      const bad of [
        "2030-01-02T03:04:05+01:00",
        "2030-01-02 03:04:05Z",
        "2030-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2030-13-01T00:00:00Z",
        "2030-01-01T24:00:00Z",
        "2030-01-01T00:60:00Z",
        "0099-01-01T00:00:00Z",
        "1767225600",
        "tomorrow",
      ]
    ) {
      expectAgentError(
        () => dockerCaveat("expires", bad),
        "ERR_MACAROON_CAVEAT",
        /^invalid expires ".*": expected an RFC 3339 UTC time/,
      );
    }
  });

  test("expiresAfter turns a duration in seconds into an absolute time", () => {
    const c = expiresAfter(new Date("2025-01-01T00:00:00Z"), 3600);
    expect(formatDockerCaveat(c)).toBe("expires = 2025-01-01T01:00:00Z");
    expectAgentError(
      () => expiresAfter(new Date(0), 0),
      "ERR_MACAROON_CAVEAT",
      "expiry must be a positive whole number of seconds",
    );
    expectAgentError(
      () => expiresAfter(new Date(0), 1.5),
      "ERR_MACAROON_CAVEAT",
      "expiry must be a positive whole number of seconds",
    );
    expectAgentError(
      () => expiresAfter(new Date(0), 2 ** 52),
      "ERR_MACAROON_CAVEAT",
      "expiry is out of range",
    );
  });
});

describe("ip caveat text", () => {
  test("formats canonically", () => {
    expect(formatDockerCaveat(dockerCaveat("ip", "10.0.0.0/8"))).toBe("ip = 10.0.0.0/8");
    expect(formatDockerCaveat(dockerCaveat("ip", "192.168.1.7/32"))).toBe("ip = 192.168.1.7");
    expect(formatDockerCaveat(dockerCaveat("ip", "2001:DB8:0:0:0:0:0:1"))).toBe("ip = 2001:db8::1");
  });
});

describe("round trip", () => {
  test("every kind parses back from its canonical text", () => {
    for (
      const text of [
        "op = read",
        `container_id = ${HEX64}`,
        `image_id = sha256:${HEX64}`,
        "ip = fe80::/10",
        "ip = ::ffff:10.0.0.0/104",
        "expires = 2030-01-01T00:00:00Z",
      ]
    ) {
      expect(formatDockerCaveat(parseDockerCaveat(text))).toBe(text);
    }
  });
});

describe("dockerCaveatChecker", () => {
  const check = dockerCaveatChecker((c) => (c.name === "op" && !c.write ? "write request" : true));

  test("passes parsed caveats to the typed check", () => {
    expect(check("op = read")).toBe("write request");
    expect(check("op = read,write")).toBe(true);
  });

  test("fails closed on unknown names and invalid values", () => {
    expect(check("user = alice")).toBe("unknown caveat");
    expect(check("op = everything")).toBe("invalid value");
    expect(check("garbage")).toBe("unknown caveat");
  });
});
