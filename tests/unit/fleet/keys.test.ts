/** The fleet's key layout in etcd: a prefix that cannot escape or alias, and what each key under it holds. */
import { describe, expect, test } from "bun:test";
import { AgentError } from "../../../src/errors.ts";
import {
  checkPrefix,
  classifyKey,
  DEFAULT_PREFIX,
  fleetKeys,
  WHOLE_PIECES,
} from "../../../src/fleet/keys.ts";

function refusal(text: string): AgentError {
  try {
    checkPrefix(text);
  } catch (err) {
    if (err instanceof AgentError) return err;
    throw err;
  }
  throw new Error(`checkPrefix accepted ${JSON.stringify(text)}`);
}

describe("checkPrefix", () => {
  test("accepts slash-separated words and always ends with one slash", () => {
    expect(checkPrefix("/agent/prod")).toBe("/agent/prod/");
    expect(checkPrefix("/agent/prod/")).toBe("/agent/prod/");
    expect(checkPrefix(DEFAULT_PREFIX)).toBe("/agent/");
    expect(checkPrefix("/a")).toBe("/a/");
    expect(checkPrefix("/x_y-z.1/v2.0")).toBe("/x_y-z.1/v2.0/");
    expect(checkPrefix("/1/2/3/4/5/6/7/8")).toBe("/1/2/3/4/5/6/7/8/");
    const word = "w".repeat(63);
    expect(checkPrefix(`/${word}/${word}/${word}`)).toHaveLength(193);
  });

  const hostile: Record<string, string> = {
    "empty": "",
    "the root": "/",
    "no leading slash": "agent/prod",
    "a parent step": "/agent/../prod",
    "a parent step at the end": "/agent/..",
    "a dot step": "/agent/./prod",
    "a leading dot word": "/.agent/prod",
    "a doubled slash inside": "/agent//prod",
    "a doubled slash at the start": "//agent",
    "a doubled slash at the end": "/agent/prod//",
    "a space": "/agent/pr od",
    "a trailing space": "/agent/prod ",
    "a newline": "/agent/prod\n",
    "a NUL": "/agent/\u0000",
    "a tab": "/agent\t/prod",
    "non-ASCII letters": "/agent/pr\u00f6d",
    "a look-alike Cyrillic a": "/\u0430gent/prod",
    "a full-width slash": "/agent\uff0fprod",
    "a backslash": "/agent\\prod",
    "a glob star": "/agent/*",
    "a percent escape": "/agent/%2e%2e",
    "a word of 64 characters": `/${"w".repeat(64)}`,
    "nine levels": "/1/2/3/4/5/6/7/8/9",
    "over 200 characters": `/${"w".repeat(63)}/${"w".repeat(63)}/${"w".repeat(63)}/${"w".repeat(10)}`,
  };
  for (const [name, text] of Object.entries(hostile)) {
    test(`refuses ${name}`, () => {
      const err = refusal(text);
      expect(err.code).toBe("ERR_USAGE");
      expect(err.message).toContain("/agent/prod");
    });
  }

  test("the refusal quotes at most 60 characters, escaped (no raw control characters in a log line)", () => {
    const long = `/agent/${"x".repeat(70)}\n${"SECRET".repeat(20)}`;
    const err = refusal(long);
    expect(err.message).not.toContain("\n");
    expect(err.message).not.toContain("SECRET");
    expect(refusal("/a\nb").message).toContain("\\n");
  });
});

describe("fleetKeys", () => {
  test("every key sits under the normalised prefix", () => {
    const keys = fleetKeys("/agent/prod");
    expect(keys.prefix).toBe("/agent/prod/");
    expect(keys.piece).toEqual({
      policy: "/agent/prod/policy",
      ca: "/agent/prod/ca",
      keyring: "/agent/prod/keyring",
      apikeys: "/agent/prod/apikeys",
    });
    expect(keys.revoked).toBe("/agent/prod/revoked/");
    expect(keys.nodes).toBe("/agent/prod/nodes/");
  });

  test("refuses a hostile prefix too", () => {
    expect(() => fleetKeys("/agent/../etc")).toThrow(AgentError);
  });
});

describe("classifyKey", () => {
  const keys = fleetKeys("/agent/prod/");

  test("names each whole piece", () => {
    for (const piece of WHOLE_PIECES) {
      expect(classifyKey(keys, `/agent/prod/${piece}`)).toEqual({ kind: "piece", piece });
    }
  });

  test("revocations and nodes carry what follows their folder", () => {
    expect(classifyKey(keys, "/agent/prod/revoked/AAAAAAAAAAAAAAAAAAAAAA")).toEqual({
      kind: "revoked",
      nonce: "AAAAAAAAAAAAAAAAAAAAAA",
    });
    expect(classifyKey(keys, "/agent/prod/nodes/host-a")).toEqual({ kind: "node", name: "host-a" });
    // What follows is not checked here: the value's decoder refuses a key that is not a nonce.
    expect(classifyKey(keys, "/agent/prod/revoked/../policy")).toEqual({
      kind: "revoked",
      nonce: "../policy",
    });
    expect(classifyKey(keys, "/agent/prod/revoked/")).toEqual({ kind: "revoked", nonce: "" });
  });

  test("anything else is unknown: near misses, another cluster's keys, a sibling prefix", () => {
    for (
      const key of [
        "/agent/prod/policyx",
        "/agent/prod/policy/",
        "/agent/prod/Policy",
        "/agent/prod/revoked",
        "/agent/prod/nodes",
        "/agent/prod/other",
        "/agent/prod/",
        "/agent/prod",
        "/agent/production/policy",
        "/agent/staging/policy",
        "/agent/prod/sub/policy",
        "",
      ]
    ) {
      expect({ key, kind: classifyKey(keys, key).kind }).toEqual({ key, kind: "unknown" });
    }
  });
});
