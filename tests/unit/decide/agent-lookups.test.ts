/**
 * The agent's own name lookups (builtin:agent-lookups): the internal token, and only it, gets exactly the
 * lookup routes over the unix socket without a policy rule, and still passes the macaroon gate like any token.
 */
import { describe, expect, test } from "bun:test";
import { decide } from "../../../src/decide/decide.ts";
import { macaroonGate } from "../../../src/decide/macaroon-gate.ts";
import { internalTokenSource } from "../../../src/decide/internal-token.ts";
import { policyGate } from "../../../src/decide/policy-gate.ts";
import {
  attenuateToken,
  decodeMacaroon,
  dockerCaveat,
  emptyRevocations,
  encodeMacaroon,
  expiresAfter,
  initKeyring,
  isTaggedNonce,
  mintToken,
  parseIdentifier,
  revoke,
  taggedNonce,
} from "../../../src/macaroon/index.ts";
import { loadPolicy } from "../../../src/policy/index.ts";
import { facts, fakeDaemon, movableClock, seededRandom } from "./macaroon-gate-helpers.ts";

const random = seededRandom("agent lookups");
const clock = movableClock();
const keyring = await initKeyring(undefined, random, clock);
const otherKeyring = await initKeyring(undefined, random, clock);

/** No rule for the unix socket at all: only bob, a TLS user, may do anything. */
const POLICY = loadPolicy(
  `version: 1
rules:
  - id: bob-all
    who: bob
    allow: ["*"]
`,
  "no-anonymous.yaml",
);

function gates(options: { revoked?: string } = {}) {
  const revocations = options.revoked === undefined
    ? emptyRevocations()
    : revoke(emptyRevocations(), options.revoked, clock);
  const gate = macaroonGate({ keyring, revocations, resolver: fakeDaemon(), clock, random });
  return { gate, all: [policyGate(POLICY), gate] as const };
}

const internalToken = (source = keyring) => internalTokenSource(source, random, clock)();
const nonceOf = (token: string) => parseIdentifier(decodeMacaroon(token).identifier).nonce!;

describe("tagged nonces", () => {
  test("only the key that tagged a nonce, with the same label, recognises it", () => {
    const key = keyring.keys[0]!.key;
    const nonce = taggedNonce(key, "label", random);
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(isTaggedNonce(key, "label", nonce)).toBe(true);
    expect(isTaggedNonce(key, "other label", nonce)).toBe(false);
    expect(isTaggedNonce(otherKeyring.keys[0]!.key, "label", nonce)).toBe(false);
    const flipped = nonce[3] === "A" ? "B" : "A";
    expect(isTaggedNonce(key, "label", nonce.slice(0, 3) + flipped + nonce.slice(4))).toBe(false);
    expect(isTaggedNonce(key, "label", "not a nonce")).toBe(false);
  });
});

describe("the macaroon gate recognises the agent's internal token, and nothing else", () => {
  test("the internal token it mints, and one minted by another process from the same keyring", () => {
    const { gate } = gates();
    const own = gate.internalHeaders()["X-Macaroon"]!;
    expect(gate.carriesInternalToken(facts("GET", "/containers/web/json", { token: own }))).toBe(true);
    // `agent id create` resolves names with a token from the same source and the keyring on disk.
    expect(gate.carriesInternalToken(facts("GET", "/containers/web/json", { token: internalToken() }))).toBe(
      true,
    );
  });

  test("not a token with the same caveats minted any other way, a forgery, another key's, or a revoked one", () => {
    const { gate } = gates();
    const lookalike =
      mintToken(keyring, random, [dockerCaveat("op", "read"), expiresAfter(clock(), 120)]).token;
    const internal = internalToken();
    const tampered = internal.slice(0, -4) + (internal.endsWith("AAAA") ? "BBBB" : "AAAA");
    const foreign = internalToken(otherKeyring);
    for (const token of [lookalike, tampered, foreign, "", "garbage"]) {
      expect({ token, internal: gate.carriesInternalToken(facts("GET", "/events", { token })) }).toEqual({
        token,
        internal: false,
      });
    }
    expect(gate.carriesInternalToken(facts("GET", "/events"))).toBe(false);
    const revoked = gates({ revoked: nonceOf(internal) }).gate;
    expect(revoked.carriesInternalToken(facts("GET", "/events", { token: internal }))).toBe(false);
  });

  test("a forged identifier with a copied nonce does not verify, so it is not the internal token", () => {
    const { gate } = gates();
    const copy = decodeMacaroon(internalToken());
    // Same identifier (and so the same tagged nonce), but a signature made without the key.
    const forged = encodeMacaroon({ ...copy, signature: new Uint8Array(32) }, "v2");
    expect(gate.carriesInternalToken(facts("GET", "/events", { token: forged }))).toBe(false);
  });
});

describe("decide(): builtin:agent-lookups", () => {
  test("the internal token gets the lookup routes over the unix socket without a policy rule", async () => {
    const { all } = gates();
    const token = internalToken();
    for (
      const uri of [
        "/containers/web/json",
        "/v1.41/images/tiny%3Alatest/json",
        `/exec/${"e1".padEnd(64, "5")}/json`,
        "/events?since=1&filters=%7B%22type%22%3A%5B%22container%22%2C%22image%22%5D%7D",
      ]
    ) {
      const decision = await decide(facts("GET", uri, { token }), all);
      expect({ uri, allow: decision.allow, ruleId: decision.ruleId }).toEqual({
        uri,
        allow: true,
        ruleId: "builtin:agent-lookups",
      });
    }
  });

  test("the response phase of the event stream is allowed too", async () => {
    const { all } = gates();
    const decision = await decide(
      facts("GET", "/events", { token: internalToken(), phase: "response" }),
      all,
    );
    expect(decision).toMatchObject({ allow: true, ruleId: "builtin:agent-lookups" });
  });

  test("the internal token on any other route gets the normal policy", async () => {
    const { all } = gates();
    const token = internalToken();
    for (
      const [method, uri] of [
        ["GET", "/containers/json"],
        ["GET", "/containers/web/logs"],
        ["HEAD", "/containers/web/json"],
        ["GET", "/containers/web/attach/ws?stream=1&stdin=1"],
        ["POST", "/containers/web/stop"],
        ["GET", "/info"],
      ] as const
    ) {
      const decision = await decide(facts(method, uri, { token }), all);
      expect({ method, uri, allow: decision.allow, by: decision.decidedBy }).toEqual({
        method,
        uri,
        allow: false,
        by: "policy",
      });
    }
  });

  test("a read route with an Upgrade header is not a lookup", async () => {
    const { all } = gates();
    const headers = { "Connection": ["Upgrade"], "Upgrade": ["tcp"] };
    const decision = await decide(
      facts("GET", "/containers/web/json", { token: internalToken(), headers }),
      all,
    );
    expect(decision).toMatchObject({ allow: false, decidedBy: "policy", ruleId: undefined });
  });

  test("nobody else gets it: a look-alike token, a TLS user with the internal token, no token", async () => {
    const { all } = gates();
    const lookalike =
      mintToken(keyring, random, [dockerCaveat("op", "read"), expiresAfter(clock(), 120)]).token;
    const attempts = [
      facts("GET", "/containers/web/json", { token: lookalike }),
      facts("GET", "/containers/web/json", { token: internalToken(), user: "mallory" }),
      facts("GET", "/containers/web/json"),
    ];
    for (const attempt of attempts) {
      expect((await decide(attempt, all)).allow).toBe(false);
    }
  });

  test("a caller cannot claim the token: agentToken in the facts is replaced by the gate's verification", async () => {
    const { all } = gates();
    const claimed = { ...facts("GET", "/containers/web/json"), agentToken: true };
    expect((await decide(claimed, all)).allow).toBe(false);
    expect((await decide(claimed, [policyGate(POLICY)])).allow).toBe(false);
  });

  test("still through the macaroon gate: an expired internal token is refused there", async () => {
    const local = movableClock();
    const gate = macaroonGate({
      keyring,
      revocations: emptyRevocations(),
      resolver: fakeDaemon(),
      clock: local,
    });
    const token = internalTokenSource(keyring, random, local)();
    local.advance(121);
    const decision = await decide(facts("GET", "/containers/web/json", { token }), [
      policyGate(POLICY),
      gate,
    ]);
    expect(decision).toMatchObject({ allow: false, decidedBy: "macaroon", ruleId: "caveat:expires" });
  });

  test("an attenuated internal token is still the agent's (attenuation only narrows it)", async () => {
    const { all } = gates();
    const narrowed = attenuateToken(internalToken(), [dockerCaveat("op", "read")]);
    expect((await decide(facts("GET", "/events", { token: narrowed }), all)).ruleId).toBe(
      "builtin:agent-lookups",
    );
  });
});
