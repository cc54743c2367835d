/** The join bundle: round trip, refusals, and never the secret key in an error message. */
import { describe, expect, test } from "bun:test";
import { AgentError } from "../../../src/errors.ts";
import { decodeBundle, encodeBundle, type JoinBundle } from "../../../src/fleet/join-bundle.ts";
import { base64UrlEncode } from "../../../src/macaroon/base64.ts";
import { seededRandom } from "./helpers.ts";

const KEY_PEM = "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL0123456789\n-----END PRIVATE KEY-----\n";
const BUNDLE: JoinBundle = {
  endpoints: ["https://etcd1:2379", "https://etcd2:2379"],
  prefix: "/agent/prod/",
  name: "host-b",
  caPem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
  certPem: "-----BEGIN CERTIFICATE-----\nNODE\n-----END CERTIFICATE-----\n",
  keyPem: KEY_PEM,
  fleetKey: seededRandom("bundle fleet key")(32),
};
const FLEET_KEY_TEXT = base64UrlEncode(BUNDLE.fleetKey);
const PATH = "/tmp/host-b.join";

function fields(): Record<string, unknown> {
  return JSON.parse(encodeBundle(BUNDLE)) as Record<string, unknown>;
}

function refusal(text: string): AgentError {
  try {
    decodeBundle(text, PATH);
  } catch (err) {
    if (err instanceof AgentError) return err;
    throw err;
  }
  throw new Error(`accepted ${text.slice(0, 100)}`);
}

describe("the join bundle", () => {
  test("round-trips; a prefix without a trailing slash is normalised", () => {
    expect(decodeBundle(encodeBundle(BUNDLE), PATH)).toEqual(BUNDLE);
    const loose = JSON.stringify({ ...fields(), prefix: "/agent/prod", endpoints: ["https://etcd1:2379/"] });
    const decoded = decodeBundle(loose, PATH);
    expect(decoded.prefix).toBe("/agent/prod/");
    expect(decoded.endpoints).toEqual(["https://etcd1:2379"]);
  });

  test("says what it is and holds the fleet key as base64url", () => {
    const f = fields();
    expect(f["kind"]).toBe("agent fleet join bundle");
    expect(f["version"]).toBe(1);
    expect(f["fleetKey"]).toBe(FLEET_KEY_TEXT);
  });

  const bad: Record<string, [unknown, string]> = {
    "not JSON": ["{", "not JSON"],
    "null": [null, "unknown kind"],
    "a list": [[], "unknown kind"],
    "another kind": [{ kind: "agent something else" }, "unknown kind"],
    "version 2": [{ version: 2 }, "unknown kind or version"],
    "endpoints not a list": [{ endpoints: "https://etcd1:2379" }, "endpoints is not a list"],
    "a hostile endpoint": [{ endpoints: ["https://evil:2379/path"] }, "etcd endpoint"],
    "no endpoints": [{ endpoints: [] }, "1 to 16"],
    "a hostile prefix": [{ prefix: "/agent/../" }, "prefix"],
    "a hostile name": [{ name: "../../etc" }, "node name"],
    "no name": [{ name: "" }, "name is missing"],
    "a short fleet key": [{ fleetKey: base64UrlEncode(new Uint8Array(31)) }, "not 32 bytes"],
    "a long fleet key": [{ fleetKey: base64UrlEncode(new Uint8Array(33)) }, "not 32 bytes"],
    "a fleet key that is not base64": [{ fleetKey: "!!!!" }, "not 32 bytes"],
    "no fleet key": [{ fleetKey: undefined }, "fleetKey is missing"],
    "a certificate that is not PEM": [{ certPem: "MIIB..." }, "certPem is not PEM"],
    "a CA that is not text": [{ caPem: 5 }, "caPem is missing"],
    "a key that is not PEM": [{ keyPem: "TOPSECRETKEYMATERIAL" }, "keyPem is not PEM"],
  };
  for (const [name, [change, words]] of Object.entries(bad)) {
    test(`refuses ${name}, naming the file and never echoing a secret`, () => {
      const text = typeof change === "string" ? change : JSON.stringify(
        change === null || Array.isArray(change) ? change : { ...fields(), ...(change as object) },
      );
      const err = refusal(text);
      expect(err.code).toBe("ERR_FLEET_CONFIG");
      expect(err.message).toStartWith(`${PATH} is not a join bundle`);
      expect(err.message).toContain(words);
      expect(err.message).not.toContain("TOPSECRETKEYMATERIAL");
      expect(err.message).not.toContain(FLEET_KEY_TEXT);
      expect(err.message).not.toContain(FLEET_KEY_TEXT.slice(0, 12));
    });
  }

  test("a wrong key of 31 bytes is not echoed either", () => {
    const short = base64UrlEncode(seededRandom("short")(31));
    const err = refusal(JSON.stringify({ ...fields(), fleetKey: short }));
    expect(err.message).not.toContain(short.slice(0, 10));
  });
});
