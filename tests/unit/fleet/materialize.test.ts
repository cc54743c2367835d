/**
 * Writing the fleet's pieces into a host's state directory: each piece lands where the agent's own loaders
 * read it (and they accept it); a value those loaders would refuse is refused with the reason and NOTHING is
 * written; a CA host keeps its own certificate; revocations only ever grow.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadApiKeys } from "../../../src/apikey/index.ts";
import { loadCertificateGateState } from "../../../src/ca/index.ts";
import type { WholePiece } from "../../../src/fleet/keys.ts";
import { applyPiece, applyRevocations, type PieceOutcome } from "../../../src/fleet/materialize.ts";
import { decodeRevoked, type PieceContent, type RevokedEntry } from "../../../src/fleet/values.ts";
import { loadKeyring, loadRevocations, saveRevocations } from "../../../src/macaroon/index.ts";
import { loadPolicy } from "../../../src/policy/index.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import {
  caFilesOf,
  encoder,
  type FleetHost,
  fleetHost,
  json,
  NONCE_A,
  NONCE_B,
  NONCE_C,
  pieces,
  pieceValue,
  removeTempDirs,
  seededRandom,
} from "./helpers.ts";

afterAll(removeTempDirs);

function value(h: FleetHost, content: PieceContent): Uint8Array {
  return pieceValue(content, h.fleetKey);
}

/** Every file under the state directory with its content (what "nothing was written" compares). */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(d, e.name);
      if (e.isDirectory()) await walk(path);
      else out[path.slice(dir.length)] = await Bun.file(path).text();
    }
  };
  await walk(dir);
  return out;
}

function expectRefused(outcome: PieceOutcome, piece: string, ...words: string[]): string {
  expect(outcome.outcome).toBe("refused");
  const message = outcome.outcome === "refused" ? outcome.error.message : "";
  expect(outcome.outcome === "refused" ? outcome.error.code : "").toBe("ERR_FLEET_VALUE");
  expect(message).toStartWith(`the fleet's ${piece}`);
  for (const word of words) expect(message).toContain(word);
  return message;
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

describe("applyPiece writes each piece where the agent's loaders read it", () => {
  test("policy: fleet/policy.yaml, which compiles; the same value again is unchanged", async () => {
    const h = await fleetHost();
    const m = await pieces();
    expect(await applyPiece(h.materialize, "policy", value(h, { piece: "policy", text: m.policy })))
      .toEqual({ outcome: "applied" });
    const text = await h.read(h.files.policy);
    expect(text).toBe(m.policy);
    loadPolicy(text!, h.files.policy);
    expect(await mode(h.files.policy)).toBe(0o600);
    expect(await applyPiece(h.materialize, "policy", value(h, { piece: "policy", text: m.policy })))
      .toEqual({ outcome: "unchanged" });
    expect(await applyPiece(h.materialize, "policy", value(h, { piece: "policy", text: m.policy2 })))
      .toEqual({ outcome: "applied" });
    expect(await h.read(h.files.policy)).toBe(m.policy2);
  });

  test("CA: cluster.crt, crl.pem and index.json in ca/ (public), never a key; the gate loads them", async () => {
    const h = await fleetHost();
    const m = await pieces();
    expect(await applyPiece(h.materialize, "ca", value(h, { piece: "ca", files: caFilesOf(m.caA) })))
      .toEqual({ outcome: "applied" });
    for (const name of ["cluster.crt", "crl.pem", "index.json"] as const) {
      expect(await h.read(join(h.layout.caDir, name))).toBe(m.caA[name]);
      expect(await mode(join(h.layout.caDir, name))).toBe(0o644);
    }
    expect(await h.read(join(h.layout.caDir, "cluster.key"))).toBeUndefined();
    const state = await loadCertificateGateState(nodeFileSystem, h.layout.caDir);
    expect(state).toBeDefined();
  });

  test("keyring: opened with the fleet key into macaroon/keys.json (0600), which loads", async () => {
    const h = await fleetHost();
    const m = await pieces();
    expect(await applyPiece(h.materialize, "keyring", value(h, { piece: "keyring", fileText: m.keyring })))
      .toEqual({ outcome: "applied" });
    expect(await h.read(h.layout.macaroonKeys)).toBe(m.keyring);
    expect(await mode(h.layout.macaroonKeys)).toBe(0o600);
    expect((await loadKeyring(nodeFileSystem, h.layout))?.keys).toHaveLength(1);
  });

  test("API keys: apikeys.json (0600), which loads", async () => {
    const h = await fleetHost();
    const m = await pieces();
    expect(await applyPiece(h.materialize, "apikeys", value(h, { piece: "apikeys", fileText: m.apikeys })))
      .toEqual({ outcome: "applied" });
    expect(await h.read(h.layout.apiKeys)).toBe(m.apikeys);
    expect(await mode(h.layout.apiKeys)).toBe(0o600);
    expect((await loadApiKeys(nodeFileSystem, h.layout)).keys).toHaveLength(1);
  });
});

describe("a value the loaders refuse writes nothing and keeps the last good version", () => {
  async function withGoodState() {
    const h = await fleetHost();
    const m = await pieces();
    const good: [WholePiece, PieceContent][] = [
      ["policy", { piece: "policy", text: m.policy }],
      ["ca", { piece: "ca", files: caFilesOf(m.caA) }],
      ["keyring", { piece: "keyring", fileText: m.keyring }],
      ["apikeys", { piece: "apikeys", fileText: m.apikeys }],
    ];
    for (const [piece, content] of good) {
      expect((await applyPiece(h.materialize, piece, value(h, content))).outcome).toBe("applied");
    }
    return { h, m, before: await tree(h.layout.root) };
  }

  const bad: [string, WholePiece, (m: Awaited<ReturnType<typeof pieces>>) => PieceContent, string[]][] = [
    [
      "a policy that does not compile",
      "policy",
      () => ({ piece: "policy", text: "version: 1\nrules: [\n" }),
      [
        "ERR_POLICY",
      ],
    ],
    [
      "a policy with an unknown field",
      "policy",
      (m) => ({ piece: "policy", text: m.policy + "bogus: 1\n" }),
      [],
    ],
    ["an empty policy", "policy", () => ({ piece: "policy", text: "" }), []],
    [
      "a CA certificate that is not PEM",
      "ca",
      () => ({ piece: "ca", files: { "cluster.crt": "not a certificate" } }),
      [
        "[ERR_STATE_CORRUPT]",
      ],
    ],
    [
      "a CA certificate with another CA's CRL",
      "ca",
      (m) => ({ piece: "ca", files: { "cluster.crt": m.caA["cluster.crt"], "crl.pem": m.caB["crl.pem"] } }),
      ["[ERR_STATE_CORRUPT]"],
    ],
    [
      "a CA certificate with a broken index",
      "ca",
      (m) => ({ piece: "ca", files: { "cluster.crt": m.caA["cluster.crt"], "index.json": "{" } }),
      [],
    ],
    ["API keys that do not parse", "apikeys", () => ({ piece: "apikeys", fileText: "{not json" }), []],
    [
      "API keys of another version",
      "apikeys",
      () => ({ piece: "apikeys", fileText: '{"version":9,"keys":[]}' }),
      [
        "[ERR_STATE_CORRUPT]",
      ],
    ],
    [
      "a keyring that opens but does not load",
      "keyring",
      () => ({ piece: "keyring", fileText: '{"version":1}' }),
      [],
    ],
  ];
  for (const [name, piece, make, words] of bad) {
    test(name, async () => {
      const { h, m, before } = await withGoodState();
      const outcome = await applyPiece(h.materialize, piece, value(h, make(m)));
      expectRefused(outcome, "", "does not load", ...words);
      expect(await tree(h.layout.root)).toEqual(before);
    });
  }

  test("a value that is not a piece at all (bad JSON, a keyring of another fleet) is refused the same way", async () => {
    const { h, m, before } = await withGoodState();
    expectRefused(await applyPiece(h.materialize, "policy", encoder.encode("{")), "policy", "not JSON");
    const sealedElsewhere = pieceValue(
      { piece: "keyring", fileText: m.keyring2 },
      seededRandom("another fleet")(32),
    );
    expectRefused(
      await applyPiece(h.materialize, "keyring", sealedElsewhere),
      "macaroon keyring",
      "does not open",
    );
    expectRefused(
      await applyPiece(
        h.materialize,
        "ca",
        json({ version: 1, files: { "cluster.key": "x", "cluster.crt": "y" } }),
      ),
      "CA",
      "an unexpected file",
    );
    expect(await tree(h.layout.root)).toEqual(before);
  });

  test("a host without a fleet key refuses the keyring and writes nothing", async () => {
    const h = await fleetHost({ fleetKey: null });
    const m = await pieces();
    expectRefused(
      await applyPiece(h.materialize, "keyring", value(h, { piece: "keyring", fileText: m.keyring })),
      "macaroon keyring",
      "no fleet key",
    );
    expect(await tree(h.layout.root)).toEqual({});
  });
});

describe("a CA host keeps its own certificate", () => {
  async function caHost() {
    const h = await fleetHost();
    const m = await pieces();
    await mkdir(h.layout.caDir, { recursive: true });
    for (const name of ["cluster.crt", "cluster.key", "crl.pem", "index.json"] as const) {
      await writeFile(join(h.layout.caDir, name), m.caA[name]);
    }
    return { h, m, before: await tree(h.layout.root) };
  }

  test("a foreign cluster.crt is refused and nothing is written", async () => {
    const { h, m, before } = await caHost();
    const outcome = await applyPiece(h.materialize, "ca", value(h, { piece: "ca", files: caFilesOf(m.caB) }));
    expectRefused(outcome, "CA", "another CA", "cluster.key");
    expect(await tree(h.layout.root)).toEqual(before);
  });

  test("its own certificate is accepted (unchanged); without its key the host takes the fleet's", async () => {
    const { h, m } = await caHost();
    expect(await applyPiece(h.materialize, "ca", value(h, { piece: "ca", files: caFilesOf(m.caA) })))
      .toEqual({ outcome: "unchanged" });
    const member = await fleetHost();
    await mkdir(member.layout.caDir, { recursive: true });
    await writeFile(join(member.layout.caDir, "cluster.crt"), m.caA["cluster.crt"]);
    expect(
      await applyPiece(member.materialize, "ca", value(member, { piece: "ca", files: caFilesOf(m.caB) })),
    )
      .toEqual({ outcome: "applied" });
    expect(await member.read(join(member.layout.caDir, "cluster.crt"))).toBe(m.caB["cluster.crt"]);
  });
});

describe("a deleted piece", () => {
  test("a deleted keyring or API key list is removed; the policy and the CA stay", async () => {
    const h = await fleetHost();
    const m = await pieces();
    await applyPiece(h.materialize, "policy", value(h, { piece: "policy", text: m.policy }));
    await applyPiece(h.materialize, "ca", value(h, { piece: "ca", files: caFilesOf(m.caA) }));
    await applyPiece(h.materialize, "keyring", value(h, { piece: "keyring", fileText: m.keyring }));
    await applyPiece(h.materialize, "apikeys", value(h, { piece: "apikeys", fileText: m.apikeys }));
    expect(await applyPiece(h.materialize, "keyring", undefined)).toEqual({ outcome: "applied" });
    expect(await applyPiece(h.materialize, "apikeys", undefined)).toEqual({ outcome: "applied" });
    expect(await h.read(h.layout.macaroonKeys)).toBeUndefined();
    expect(await h.read(h.layout.apiKeys)).toBeUndefined();
    expect(await applyPiece(h.materialize, "policy", undefined)).toEqual({ outcome: "unchanged" });
    expect(await applyPiece(h.materialize, "ca", undefined)).toEqual({ outcome: "unchanged" });
    expect(await h.read(h.files.policy)).toBe(m.policy);
    expect(await h.read(join(h.layout.caDir, "cluster.crt"))).toBe(m.caA["cluster.crt"]);
    // Deleting what is already gone changes nothing.
    expect(await applyPiece(h.materialize, "keyring", undefined)).toEqual({ outcome: "unchanged" });
  });
});

describe("applyRevocations: a union, never a removal", () => {
  const entry = (nonce: string, revokedAt = "2030-05-06T07:08:09.000Z"): [string, RevokedEntry] => [
    nonce,
    { nonce, revokedAt, by: "host-b" },
  ];

  test("adds the fleet's, keeps a local one the fleet does not have (and reports it), writes only on growth", async () => {
    const h = await fleetHost();
    await mkdir(join(h.layout.root, "macaroon"), { recursive: true });
    await saveRevocations(nodeFileSystem, h.layout, {
      revoked: [{ nonce: NONCE_C, revokedAt: "2030-05-01T00:00:00.000Z" }],
    });
    const first = await applyRevocations(h.materialize, new Map([entry(NONCE_A), entry(NONCE_B)]));
    expect(first.wrote).toBe(true);
    expect(first.localOnly).toEqual([{ nonce: NONCE_C, revokedAt: "2030-05-01T00:00:00.000Z" }]);
    const nonces = async () =>
      (await loadRevocations(nodeFileSystem, h.layout)).revoked.map((r) => r.nonce).sort();
    expect(await nonces()).toEqual([NONCE_A, NONCE_B, NONCE_C]);
    // NONCE_B deleted in etcd: it stays here, and is reported as local-only (to be published again).
    const second = await applyRevocations(h.materialize, new Map([entry(NONCE_A)]));
    expect(second.wrote).toBe(false);
    expect(second.localOnly.map((r) => r.nonce).sort()).toEqual([NONCE_B, NONCE_C]);
    expect(await nonces()).toEqual([NONCE_A, NONCE_B, NONCE_C]);
    // An empty fleet removes nothing either.
    expect((await applyRevocations(h.materialize, new Map())).wrote).toBe(false);
    expect(await nonces()).toEqual([NONCE_A, NONCE_B, NONCE_C]);
  });

  test("a nonce revoked both here and in the fleet keeps the local time and is not local-only", async () => {
    const h = await fleetHost();
    await mkdir(join(h.layout.root, "macaroon"), { recursive: true });
    await saveRevocations(nodeFileSystem, h.layout, {
      revoked: [{ nonce: NONCE_A, revokedAt: "2030-05-01T00:00:00.000Z" }],
    });
    const outcome = await applyRevocations(
      h.materialize,
      new Map([entry(NONCE_A, "2030-05-09T00:00:00.000Z")]),
    );
    expect(outcome).toEqual({ wrote: false, localOnly: [] });
    expect((await loadRevocations(nodeFileSystem, h.layout)).revoked).toEqual([
      { nonce: NONCE_A, revokedAt: "2030-05-01T00:00:00.000Z" },
    ]);
  });

  test("on a fresh host the file is created", async () => {
    const h = await fleetHost();
    expect((await applyRevocations(h.materialize, new Map([entry(NONCE_A)]))).wrote).toBe(true);
    expect((await loadRevocations(nodeFileSystem, h.layout)).revoked.map((r) => r.nonce)).toEqual([NONCE_A]);
  });

  test("a revocation written by another host with a timezone offset still leaves a file the agent loads", async () => {
    // decodeRevoked accepts any RFC 3339 time; the local file takes only UTC with milliseconds. What the
    // follower merges must load, or one hostile (or merely different) entry blocks every later revocation.
    const h = await fleetHost();
    const fleet = new Map<string, RevokedEntry>();
    for (
      const [nonce, at] of [[NONCE_A, "2030-05-06T07:08:09.123456789+02:00"], [
        NONCE_B,
        "2030-05-06T07:08:09Z",
      ]]
    ) {
      fleet.set(nonce!, decodeRevoked(nonce!, json({ version: 1, revokedAt: at, by: "host-b" })));
    }
    expect((await applyRevocations(h.materialize, fleet)).wrote).toBe(true);
    const loaded = await loadRevocations(nodeFileSystem, h.layout);
    expect(loaded.revoked.map((r) => r.nonce).sort()).toEqual([NONCE_A, NONCE_B]);
    // And the next merge still works.
    fleet.set(NONCE_C, decodeRevoked(NONCE_C, json({ version: 1, revokedAt: "2030-05-07T00:00:00Z" })));
    expect((await applyRevocations(h.materialize, fleet)).wrote).toBe(true);
  });
});
