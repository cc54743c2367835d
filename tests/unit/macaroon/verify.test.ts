/** Verification: the chain, first-party checks, discharges (bound, used once, nested), and their failures. */
import { describe, expect, test } from "bun:test";
import {
  addFirstPartyCaveat,
  addThirdPartyCaveat,
  bindForRequest,
  type Macaroon,
  mint,
  verify,
} from "../../../src/macaroon/index.ts";
import { acceptAll, enc, expectAgentError, seededRandom } from "./helpers.ts";

const ROOT_KEY = enc.encode("verify test root key");
const TP_KEY = enc.encode("third party shared key");
const random = seededRandom(42);

function root(...caveats: string[]): Macaroon {
  let m = mint(ROOT_KEY, "root-id", "https://docker.example/");
  for (const c of caveats) m = addFirstPartyCaveat(m, c);
  return m;
}

function discharge(id: string, key = TP_KEY, ...caveats: string[]): Macaroon {
  let d = mint(key, id, "https://auth.example/");
  for (const c of caveats) d = addFirstPartyCaveat(d, c);
  return d;
}

describe("first-party caveats", () => {
  test("verifies a macaroon whose caveats all hold and reports them in order", () => {
    const v = verify(root("op = read", "ip = 10.0.0.0/8"), ROOT_KEY, [], acceptAll);
    expect(v.predicates).toEqual(["op = read", "ip = 10.0.0.0/8"]);
    expect(v.discharges).toEqual([]);
  });

  test("names the failing caveat and the checker's reason", () => {
    const check = (p: string) => (p === "op = read" ? "write request" : true);
    expectAgentError(
      () => verify(root("ip = 10.0.0.0/8", "op = read"), ROOT_KEY, [], check),
      "ERR_MACAROON_CAVEAT",
      'caveat "op = read" not satisfied: write request',
    );
  });

  test("escapes and shortens hostile caveat text in the message", () => {
    const hostile = 'x = "\n' + "y".repeat(300);
    const err = expectAgentError(
      () => verify(root(hostile), ROOT_KEY, [], () => "no"),
      "ERR_MACAROON_CAVEAT",
      /^caveat "x = \\"\\u000ay+\.\.\." not satisfied: no$/,
    );
    expect(err.message.length).toBeLessThan(160);
  });

  test("a checker that throws is a caveat failure, not a raw exception", () => {
    expectAgentError(
      () =>
        verify(root("op = read"), ROOT_KEY, [], () => {
          throw new TypeError("boom");
        }),
      "ERR_MACAROON_CAVEAT",
      'caveat "op = read" could not be checked',
    );
  });

  test("refuses a caveat that is not UTF-8 text", () => {
    const m = addFirstPartyCaveat(root(), Uint8Array.from([0xff, 0xfe]));
    expectAgentError(
      () => verify(m, ROOT_KEY, [], acceptAll),
      "ERR_MACAROON_CAVEAT",
      "caveat is not valid UTF-8 text",
    );
  });

  test("rejects a token verified with the wrong root key", () => {
    expectAgentError(
      () => verify(root("op = read"), enc.encode("another key"), [], acceptAll),
      "ERR_MACAROON_SIGNATURE",
      "macaroon signature is not valid",
    );
  });

  test("rejects caveats appended after signing (the signature no longer matches)", () => {
    const m = root("op = read");
    const forged: Macaroon = { ...m, caveats: [...m.caveats, { identifier: enc.encode("op = write") }] };
    expectAgentError(
      () => verify(forged, ROOT_KEY, [], acceptAll),
      "ERR_MACAROON_SIGNATURE",
      "macaroon signature is not valid",
    );
  });

  test("rejects a token whose caveat was removed or reordered", () => {
    const m = root("op = read", "ip = 10.0.0.0/8");
    const removed: Macaroon = { ...m, caveats: m.caveats.slice(1) };
    const swapped: Macaroon = { ...m, caveats: [m.caveats[1]!, m.caveats[0]!] };
    for (const bad of [removed, swapped]) {
      expectAgentError(
        () => verify(bad, ROOT_KEY, [], acceptAll),
        "ERR_MACAROON_SIGNATURE",
        "macaroon signature is not valid",
      );
    }
  });

  test("a forged token is reported as a signature failure even when a caveat would also fail", () => {
    expectAgentError(
      () => verify(root("op = read"), enc.encode("wrong"), [], () => "never"),
      "ERR_MACAROON_SIGNATURE",
      "macaroon signature is not valid",
    );
  });

  test("the location is not covered by the signature (by design: it is a hint)", () => {
    const m = { ...root("op = read"), location: "https://elsewhere/" };
    expect(verify(m, ROOT_KEY, [], acceptAll).predicates).toEqual(["op = read"]);
  });
});

describe("third-party caveats and discharges", () => {
  function withThirdParty(id = "tp-1"): Macaroon {
    return addThirdPartyCaveat(root("op = read"), TP_KEY, id, "https://auth.example/", random);
  }

  test("verifies a bound discharge and checks its caveats after the root's", () => {
    const m = withThirdParty();
    const d = bindForRequest(m, discharge("tp-1", TP_KEY, "user = alice"));
    const v = verify(m, ROOT_KEY, [d], acceptAll);
    expect(v.predicates).toEqual(["op = read", "user = alice"]);
    expect(v.discharges).toEqual([d]);
  });

  test("a failing caveat inside a discharge is named", () => {
    const m = withThirdParty();
    const d = bindForRequest(m, discharge("tp-1", TP_KEY, "user = alice"));
    expectAgentError(
      () => verify(m, ROOT_KEY, [d], (p) => (p === "user = alice" ? "user is bob" : true)),
      "ERR_MACAROON_CAVEAT",
      'caveat "user = alice" not satisfied: user is bob',
    );
  });

  test("rejects a discharge that was not bound to the root", () => {
    const m = withThirdParty();
    expectAgentError(
      () => verify(m, ROOT_KEY, [discharge("tp-1")], acceptAll),
      "ERR_MACAROON_DISCHARGE",
      "discharge macaroon is not bound to the root macaroon",
    );
  });

  test("rejects a discharge bound to a different root macaroon", () => {
    const m = withThirdParty();
    const other = withThirdParty();
    const d = bindForRequest(other, discharge("tp-1"));
    expectAgentError(
      () => verify(m, ROOT_KEY, [d], acceptAll),
      "ERR_MACAROON_SIGNATURE",
      "macaroon signature is not valid",
    );
  });

  test("rejects a discharge minted with the wrong caveat key", () => {
    const m = withThirdParty();
    const d = bindForRequest(m, discharge("tp-1", enc.encode("not the shared key")));
    expectAgentError(
      () => verify(m, ROOT_KEY, [d], acceptAll),
      "ERR_MACAROON_SIGNATURE",
      "macaroon signature is not valid",
    );
  });

  test("rejects a missing discharge", () => {
    expectAgentError(
      () => verify(withThirdParty(), ROOT_KEY, [], acceptAll),
      "ERR_MACAROON_DISCHARGE",
      "no discharge macaroon for a third-party caveat",
    );
  });

  test("rejects a discharge used twice (sent twice for one caveat)", () => {
    const m = withThirdParty();
    const d = bindForRequest(m, discharge("tp-1"));
    expectAgentError(
      () => verify(m, ROOT_KEY, [d, d], acceptAll),
      "ERR_MACAROON_DISCHARGE",
      "a discharge macaroon matches no third-party caveat",
    );
  });

  test("one discharge cannot satisfy two caveats with the same id", () => {
    const m = addThirdPartyCaveat(withThirdParty("same"), TP_KEY, "same", undefined, random);
    const d = bindForRequest(m, discharge("same"));
    expectAgentError(
      () => verify(m, ROOT_KEY, [d], acceptAll),
      "ERR_MACAROON_DISCHARGE",
      "no discharge macaroon for a third-party caveat",
    );
  });

  test("rejects an unused extra discharge", () => {
    const m = withThirdParty();
    const d = bindForRequest(m, discharge("tp-1"));
    const extra = bindForRequest(m, discharge("unrelated"));
    expectAgentError(
      () => verify(m, ROOT_KEY, [d, extra], acceptAll),
      "ERR_MACAROON_DISCHARGE",
      "a discharge macaroon matches no third-party caveat",
    );
  });

  test("rejects a tampered verification id (the caveat key no longer opens)", () => {
    const m = withThirdParty();
    const c = m.caveats[1]!;
    const vid = c.verificationId!.slice();
    vid[30]! ^= 1;
    const forged: Macaroon = { ...m, caveats: [m.caveats[0]!, { ...c, verificationId: vid }] };
    const d = bindForRequest(m, discharge("tp-1"));
    expectAgentError(
      () => verify(forged, ROOT_KEY, [d], acceptAll),
      "ERR_MACAROON_SIGNATURE",
      "macaroon signature is not valid",
    );
  });

  test("verifies nested discharges: a discharge with its own third-party caveat, both bound to the root", () => {
    const key2 = enc.encode("second third party key");
    const m = withThirdParty();
    const d1 = addThirdPartyCaveat(
      discharge("tp-1", TP_KEY, "user = alice"),
      key2,
      "tp-2",
      undefined,
      random,
    );
    const d2 = discharge("tp-2", key2, "group = admins");
    const v = verify(m, ROOT_KEY, [bindForRequest(m, d2), bindForRequest(m, d1)], acceptAll);
    expect(v.predicates).toEqual(["op = read", "user = alice", "group = admins"]);
    expect(v.discharges.length).toBe(2);
  });

  test("a discharge that names itself cannot loop: it is used once, so its own caveat finds no discharge", () => {
    const m = withThirdParty();
    const self = addThirdPartyCaveat(discharge("tp-1"), TP_KEY, "tp-1", undefined, random);
    expectAgentError(
      () => verify(m, ROOT_KEY, [bindForRequest(m, self)], acceptAll),
      "ERR_MACAROON_DISCHARGE",
      "no discharge macaroon for a third-party caveat",
    );
  });

  test("refuses discharge chains nested deeper than the limit", () => {
    const keys = [1, 2, 3].map((i) => enc.encode(`nested key ${i}`));
    const m = addThirdPartyCaveat(root(), keys[0]!, "d1", undefined, random);
    const d1 = addThirdPartyCaveat(mint(keys[0]!, "d1"), keys[1]!, "d2", undefined, random);
    const d2 = addThirdPartyCaveat(mint(keys[1]!, "d2"), keys[2]!, "d3", undefined, random);
    const d3 = mint(keys[2]!, "d3");
    const stack = [d1, d2, d3].map((d) => bindForRequest(m, d));
    expect(verify(m, ROOT_KEY, stack, acceptAll).discharges.length).toBe(3);
    expectAgentError(
      () => verify(m, ROOT_KEY, stack, acceptAll, { maxDepth: 2 }),
      "ERR_MACAROON_LIMIT",
      "macaroon exceeds a size limit",
    );
  });

  test("refuses more than 8 discharges", () => {
    const m = withThirdParty();
    const d = bindForRequest(m, discharge("tp-1"));
    expectAgentError(
      () => verify(m, ROOT_KEY, Array.from({ length: 9 }, () => d), acceptAll),
      "ERR_MACAROON_LIMIT",
      "macaroon exceeds a size limit",
    );
  });
});

describe("minting", () => {
  test("refuses an empty root key and an empty third-party key", () => {
    expectAgentError(() => mint(new Uint8Array(0), "id"), "ERR_MACAROON_KEY", "macaroon root key is empty");
    expectAgentError(
      () => addThirdPartyCaveat(root(), new Uint8Array(0), "c", undefined, random),
      "ERR_MACAROON_KEY",
      "third-party caveat key is empty",
    );
  });

  test("a random source returning the wrong length is an internal error", () => {
    expectAgentError(
      () => addThirdPartyCaveat(root(), TP_KEY, "c", undefined, () => new Uint8Array(3)),
      "ERR_INTERNAL",
      "internal error",
    );
  });

  test("attenuation never changes the original value", () => {
    const m = root("op = read");
    const before = [...m.signature];
    addFirstPartyCaveat(m, "ip = 10.0.0.1");
    expect([...m.signature]).toEqual(before);
    expect(m.caveats.length).toBe(1);
  });
});
