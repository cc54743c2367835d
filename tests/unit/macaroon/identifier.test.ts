import { describe, expect, test } from "bun:test";
import { formatIdentifier, isValidNonce, newNonce, parseIdentifier } from "../../../src/macaroon/index.ts";
import { dec, expectAgentError, seededRandom } from "./helpers.ts";

describe("agent identifiers", () => {
  test("format and parse agree: agent1:<keyId>:<nonce>", () => {
    const nonce = newNonce(seededRandom(1));
    expect(isValidNonce(nonce)).toBe(true);
    const id = formatIdentifier("0a1b2c3d", nonce);
    expect(dec.decode(id)).toBe(`agent1:0a1b2c3d:${nonce}`);
    expect(parseIdentifier(id)).toEqual({ keyId: "0a1b2c3d", nonce });
    expect(parseIdentifier(`agent1:0a1b2c3d:${nonce}`)).toEqual({ keyId: "0a1b2c3d", nonce });
  });

  test("nonces are 16 random bytes, so two tokens never share one", () => {
    const random = seededRandom(2);
    expect(newNonce(random)).not.toBe(newNonce(random));
    expect(newNonce(random)).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  test("foreign identifiers parse without throwing and carry no key id", () => {
    const foreign = [
      "keyid",
      "",
      "agent1",
      "agent1:KEY:AAAAAAAAAAAAAAAAAAAAAA",
      "agent1:k:short",
      "agent2:k:AAAAAAAAAAAAAAAAAAAAAA",
      "agent1:k:AAAAAAAAAAAAAAAAAAAAAA:extra",
      "we used our secret key",
      "agent1:k:AAAAAAAAAAAAAAAAAAAAAA\n",
    ];
    for (const text of foreign) expect(parseIdentifier(text)).toEqual({ keyId: undefined, nonce: undefined });
    expect(parseIdentifier(Uint8Array.from([0xff, 0xfe]))).toEqual({ keyId: undefined, nonce: undefined });
    expect(parseIdentifier(new Uint8Array(5000))).toEqual({ keyId: undefined, nonce: undefined });
  });

  test("refuses to format invalid key ids and nonces", () => {
    expectAgentError(
      () => formatIdentifier("Bad:Id", "AAAAAAAAAAAAAAAAAAAAAA"),
      "ERR_MACAROON_KEY",
      "invalid macaroon key id",
    );
    expectAgentError(() => formatIdentifier("k1", "short"), "ERR_MACAROON_FORMAT", "invalid macaroon nonce");
  });
});
