import { describe, expect, test } from "bun:test";
import vectors from "../../vectors/ca/names.json";
import { AgentError } from "../../../src/errors.ts";
import {
  parseSubjectAltName,
  uniqueSubjectAltNames,
  validateCaName,
  validateHost,
  validateOrganizationalUnit,
  validateOrganizationalUnits,
  validateUserName,
} from "../../../src/ca/names.ts";

interface NameCase {
  id: string;
  title: string;
  source: string;
  check: "user" | "ou" | "caName" | "san";
  input: string;
  expect: { value?: string; type?: string; code?: string };
}

const checks: Record<NameCase["check"], (input: string) => unknown> = {
  user: validateUserName,
  ou: validateOrganizationalUnit,
  caName: validateCaName,
  san: parseSubjectAltName,
};

function outcome(c: NameCase): unknown {
  try {
    return checks[c.check](c.input);
  } catch (err) {
    expect(err).toBeInstanceOf(AgentError);
    return { code: (err as AgentError).code };
  }
}

describe("name vectors (tests/vectors/ca/names.json)", () => {
  for (const c of vectors.cases as NameCase[]) {
    test(`${c.id}: ${c.title} [${c.source}]`, () => {
      const result = outcome(c);
      if (c.expect.code !== undefined) expect(result).toEqual({ code: c.expect.code });
      else if (c.check === "san") expect(result).toEqual({ type: c.expect.type, value: c.expect.value });
      else expect(result).toBe(c.expect.value);
    });
  }
});

describe("name validation messages", () => {
  test("rejects a DN string, naming it quoted with anything unprintable escaped", () => {
    let caught: unknown;
    try {
      validateUserName("CN=alice, OU=x");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AgentError);
    const err = caught as AgentError;
    expect(err.code).toBe("ERR_CA_NAME");
    expect(err.message).toBe(
      "invalid name: use 1 to 64 letters, digits, '.', '_', '@' or '-', not starting with '-' or '.' " +
        '(got "CN=alice, OU=x")',
    );
    expect(() => validateUserName("a\u001b[2J\u202e")).toThrow('(got "a\\u001b[2J\\u202e")');
  });

  test("rejects values that are not strings", () => {
    for (const value of [undefined, null, 42, ["alice"], { cn: "alice" }]) {
      expect(() => validateUserName(value)).toThrow(AgentError);
      expect(() => parseSubjectAltName(value)).toThrow(AgentError);
    }
  });

  test("rejects a server host longer than a CN may be, pointing at --san", () => {
    const host = `${"a".repeat(60)}.example.com`;
    expect(parseSubjectAltName(host).value).toBe(host);
    expect(() => validateHost(host)).toThrow(
      "host name too long for a certificate name (at most 64 characters; add longer names with --san)",
    );
  });

  test("deduplicates organizational units and caps their number", () => {
    expect(validateOrganizationalUnits(["a", "b", "a"])).toEqual(["a", "b"]);
    const many = Array.from({ length: 17 }, (_, i) => `g${i}`);
    expect(() => validateOrganizationalUnits(many)).toThrow("too many organizational units (at most 16)");
  });

  test("deduplicates subject alternative names by type and value", () => {
    const sans = ["localhost", "LOCALHOST", "::1", "0:0:0:0:0:0:0:1"].map(parseSubjectAltName);
    expect(uniqueSubjectAltNames(sans)).toEqual([{ type: "dns", value: "localhost" }, {
      type: "ip",
      value: "::1",
    }]);
  });
});
