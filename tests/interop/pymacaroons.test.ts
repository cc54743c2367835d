/**
 * Interop with pymacaroons (Debian python3-pymacaroons, run with /usr/bin/python3): tokens the agent mints
 * verify there, tokens it mints verify here, in every encoding, with and without a bound discharge.
 * Skips loudly when the peer is not installed (CI installs it).
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  addFirstPartyCaveat,
  addThirdPartyCaveat,
  bindForRequest,
  decodeMacaroon,
  decodeStack,
  encodeMacaroon,
  type MacaroonFormat,
  mint,
  verify,
} from "../../src/macaroon/index.ts";

const PYTHON = "/usr/bin/python3";
const PEER = join(import.meta.dir, "pymacaroons_peer.py");

function peerAvailable(): boolean {
  try {
    return Bun.spawnSync([PYTHON, "-c", "import pymacaroons"]).exitCode === 0;
  } catch {
    return false;
  }
}

const available = peerAvailable();
if (!available) {
  console.warn(
    "\n*** SKIP: python3-pymacaroons is not installed (/usr/bin/python3 -c 'import pymacaroons' failed); interop tests skipped ***\n",
  );
}

function peer<T>(request: object): T {
  const result = Bun.spawnSync([PYTHON, PEER], { stdin: new TextEncoder().encode(JSON.stringify(request)) });
  if (result.exitCode !== 0) throw new Error(`peer failed: ${result.stderr.toString()}`);
  return JSON.parse(result.stdout.toString()) as T;
}

const enc = new TextEncoder();
const KEY = "interop root key, shared with pymacaroons";
const TP_KEY = "interop third-party key";
const CAVEATS = ["op = read", "container_id = " + "c0ffee".repeat(10) + "abcd"];
const exactly = (list: string[]) => (p: string) => (list.includes(p) ? true : "not expected");
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

function agentToken(): ReturnType<typeof mint> {
  let m = mint(enc.encode(KEY), "agent1:0a1b2c3d:AAAAAAAAAAAAAAAAAAAAAA", "https://docker.example/");
  for (const c of CAVEATS) m = addFirstPartyCaveat(m, c);
  return m;
}

describe.skipIf(!available)("agent -> pymacaroons", () => {
  for (const format of ["v2", "v2j", "v1", "v1j"] as MacaroonFormat[]) {
    test(`pymacaroons verifies an agent token in ${format}, and refuses it with another key`, () => {
      const token = encodeMacaroon(agentToken(), format);
      const json = format.endsWith("j");
      expect(peer({ op: "verify", token, json, key: KEY, exact: CAVEATS })).toEqual({ ok: true });
      expect(peer<{ ok: boolean }>({ op: "verify", token, json, key: "wrong key", exact: CAVEATS }).ok).toBe(
        false,
      );
      expect(peer<{ ok: boolean }>({ op: "verify", token, json, key: KEY, exact: CAVEATS.slice(1) }).ok).toBe(
        false,
      );
    });
  }

  for (const format of ["v2", "v1"] as MacaroonFormat[]) {
    test(`pymacaroons verifies an agent third-party caveat with a bound discharge (${format})`, () => {
      const root = addThirdPartyCaveat(
        agentToken(),
        enc.encode(TP_KEY),
        "tp-ticket",
        "https://auth.example/",
        random,
      );
      const discharge = bindForRequest(
        root,
        addFirstPartyCaveat(mint(enc.encode(TP_KEY), "tp-ticket"), "user = alice"),
      );
      const request = {
        op: "verify",
        token: encodeMacaroon(root, format),
        discharges: [encodeMacaroon(discharge, format)],
        key: KEY,
        exact: [...CAVEATS, "user = alice"],
      };
      expect(peer(request)).toEqual({ ok: true });
      const unbound = encodeMacaroon(
        addFirstPartyCaveat(mint(enc.encode(TP_KEY), "tp-ticket"), "user = alice"),
        format,
      );
      expect(peer<{ ok: boolean }>({ ...request, discharges: [unbound] }).ok).toBe(false);
    });
  }
});

describe.skipIf(!available)("pymacaroons -> agent", () => {
  for (const version of [2, 1]) {
    test(`the agent verifies pymacaroons V${version} binary and JSON tokens`, () => {
      const out = peer<{ binary: string; json: string }>({
        op: "mint",
        version,
        key: KEY,
        identifier: "py-minted-id",
        location: "https://py.example/",
        caveats: CAVEATS,
      });
      for (const [token, format] of [[out.binary, `v${version}`], [out.json, `v${version}j`]] as const) {
        const m = decodeMacaroon(token);
        expect(m.format as string).toBe(format);
        expect(m.location).toBe("https://py.example/");
        expect(verify(m, enc.encode(KEY), [], exactly(CAVEATS)).predicates).toEqual(CAVEATS);
        expect(() => verify(m, enc.encode("wrong key"), [], exactly(CAVEATS))).toThrow(
          "macaroon signature is not valid",
        );
      }
    });

    test(`the agent verifies a pymacaroons V${version} third-party caveat with its bound discharge`, () => {
      const out = peer<{ binary: string; json: string; discharge_binary: string; discharge_json: string }>({
        op: "mint",
        version,
        key: KEY,
        identifier: "py-root",
        location: "https://py.example/",
        caveats: CAVEATS,
        third_party: { key: TP_KEY, id: "py-ticket", location: "https://auth.py/", caveats: ["user = bob"] },
      });
      const all = [...CAVEATS, "user = bob"];
      for (const [root, discharge] of [[out.binary, out.discharge_binary], [out.json, out.discharge_json]]) {
        const stack = decodeStack(root!.startsWith("{") ? `[${root},${discharge}]` : `${root},${discharge}`);
        const [r, ...d] = stack;
        expect(verify(r, enc.encode(KEY), d, exactly(all)).predicates).toEqual(all);
      }
    });
  }
});
