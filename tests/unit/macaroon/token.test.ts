/** Agent tokens end to end: mint with the keyring, attenuate, verify an X-Macaroon header. */
import { describe, expect, test } from "bun:test";
import {
  addFirstPartyCaveat,
  addThirdPartyCaveat,
  attenuateToken,
  bindForRequest,
  decodeMacaroon,
  describeMacaroon,
  type DockerCaveat,
  dockerCaveat,
  dockerCaveatChecker,
  emptyRevocations,
  encodeMacaroon,
  encodeStack,
  initKeyring,
  ipMatches,
  mint,
  mintToken,
  retire,
  revoke,
  rotate,
  verifyToken,
} from "../../../src/macaroon/index.ts";
import { acceptAll, enc, expectAgentError, fixedClock, seededRandom } from "./helpers.ts";

const clock = fixedClock();
const random = seededRandom(11);
const keyring = await initKeyring(undefined, random, clock);
const revocations = emptyRevocations();

/** A stand-in for the lead's request check: a GET from 10.1.2.3 at the fixed clock. */
const requestCheck = dockerCaveatChecker((c: DockerCaveat) => {
  switch (c.name) {
    case "op":
      return c.read ? true : "read request";
    case "ip":
      return ipMatches(c.range, "10.1.2.3") ? true : "client address 10.1.2.3 not allowed";
    case "expires":
      return clock().getTime() < c.atMs ? true : "token expired";
    default:
      return "not applicable";
  }
});

describe("mintToken and verifyToken", () => {
  test("a minted token verifies and reports its key id and nonce", () => {
    const minted = mintToken(keyring, random, [dockerCaveat("op", "read"), dockerCaveat("ip", "10.0.0.0/8")]);
    const v = verifyToken(minted.token, { keyring, revocations, check: requestCheck });
    expect(v.keyId).toBe(keyring.current);
    expect(v.nonce).toBe(minted.nonce);
    expect(v.predicates).toEqual(["op = read", "ip = 10.0.0.0/8"]);
  });

  test("every format of the token verifies", () => {
    const minted = mintToken(keyring, random, [dockerCaveat("op", "read")], {
      format: "v1j",
      location: "docker://host",
    });
    for (const format of ["v2", "v2j", "v1", "v1j"] as const) {
      const text = encodeMacaroon(decodeMacaroon(minted.token), format);
      expect(verifyToken(text, { keyring, revocations, check: requestCheck }).nonce).toBe(minted.nonce);
    }
  });

  test("names the failing caveat", () => {
    const minted = mintToken(keyring, random, [dockerCaveat("op", "write")]);
    expectAgentError(
      () => verifyToken(minted.token, { keyring, revocations, check: requestCheck }),
      "ERR_MACAROON_CAVEAT",
      'caveat "op = write" not satisfied: read request',
    );
  });

  test("an expired token fails on its expires caveat", () => {
    const minted = mintToken(keyring, random, [dockerCaveat("expires", "2025-01-02T03:04:05Z")]);
    expectAgentError(
      () => verifyToken(minted.token, { keyring, revocations, check: requestCheck }),
      "ERR_MACAROON_CAVEAT",
      'caveat "expires = 2025-01-02T03:04:05Z" not satisfied: token expired',
    );
  });

  test("a holder can attenuate a token without the key, and the narrower token still verifies", () => {
    const minted = mintToken(keyring, random, []);
    const narrower = attenuateToken(minted.token, [dockerCaveat("ip", "10.1.0.0/16")]);
    expect(verifyToken(narrower, { keyring, revocations, check: requestCheck }).predicates).toEqual([
      "ip = 10.1.0.0/16",
    ]);
    const wrong = attenuateToken(minted.token, [dockerCaveat("ip", "192.168.0.0/16")]);
    expectAgentError(
      () => verifyToken(wrong, { keyring, revocations, check: requestCheck }),
      "ERR_MACAROON_CAVEAT",
      'caveat "ip = 192.168.0.0/16" not satisfied: client address 10.1.2.3 not allowed',
    );
  });

  test("unknown caveats and invalid caveat values fail closed", () => {
    const minted = mintToken(keyring, random, []);
    for (const [text, reason] of [["user = alice", "unknown caveat"], ["op = everything", "invalid value"]]) {
      const token = encodeMacaroon(addFirstPartyCaveat(minted.macaroon, text!));
      expectAgentError(
        () => verifyToken(token, { keyring, revocations, check: requestCheck }),
        "ERR_MACAROON_CAVEAT",
        `caveat "${text}" not satisfied: ${reason}`,
      );
    }
  });

  test("revoked nonces are refused", () => {
    const minted = mintToken(keyring, random, []);
    const revoked = revoke(revocations, minted.nonce, clock);
    expectAgentError(
      () => verifyToken(minted.token, { keyring, revocations: revoked, check: acceptAll }),
      "ERR_MACAROON_REVOKED",
      "macaroon has been revoked",
    );
  });

  test("rotation keeps old tokens valid until their key is retired", () => {
    const old = mintToken(keyring, random, []);
    const rotated = rotate(keyring, random, clock);
    const fresh = mintToken(rotated, random, []);
    expect(fresh.keyId).toBe(rotated.current);
    expect(verifyToken(old.token, { keyring: rotated, revocations, check: acceptAll }).keyId).toBe(
      keyring.current,
    );
    const retired = retire(rotated, keyring.current, clock);
    expectAgentError(
      () => verifyToken(old.token, { keyring: retired, revocations, check: acceptAll }),
      "ERR_MACAROON_KEY",
      "macaroon root key is unknown or retired",
    );
    expect(verifyToken(fresh.token, { keyring: retired, revocations, check: acceptAll }).keyId).toBe(
      rotated.current,
    );
  });

  test("tokens from other issuers are refused by key, not by signature", () => {
    const foreign = encodeMacaroon(mint(enc.encode("k"), "keyid"));
    expectAgentError(
      () => verifyToken(foreign, { keyring, revocations, check: acceptAll }),
      "ERR_MACAROON_KEY",
      "macaroon was not issued by this agent",
    );
  });

  test("a header stack with a bound discharge verifies", () => {
    const tpKey = enc.encode("auth service key");
    const minted = mintToken(keyring, random, [dockerCaveat("op", "read")]);
    const root = addThirdPartyCaveat(
      minted.macaroon,
      tpKey,
      "auth-ticket-1",
      "https://auth.example/",
      random,
    );
    const d = bindForRequest(root, mint(tpKey, "auth-ticket-1"));
    const v = verifyToken(encodeStack([root, d]), { keyring, revocations, check: requestCheck });
    expect(v.discharges.length).toBe(1);
  });

  test("describeMacaroon shows everything but the signature", () => {
    const minted = mintToken(keyring, random, [dockerCaveat("op", "read")], { location: "docker://h" });
    const summary = describeMacaroon(decodeMacaroon(minted.token));
    expect(summary).toEqual({
      format: "v2",
      location: "docker://h",
      identifier: `agent1:${minted.keyId}:${minted.nonce}`,
      keyId: minted.keyId,
      nonce: minted.nonce,
      caveats: [{ kind: "first-party", predicate: "op = read" }],
    });
    expect(JSON.stringify(summary)).not.toContain("signature");
  });
});
