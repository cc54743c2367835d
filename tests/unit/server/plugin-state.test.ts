/**
 * Each piece of state reloads on its own: a broken piece keeps its last good version and never holds back
 * the others (a revocation made while the policy file is broken is enforced). Commands that change a piece
 * ask the running agent whether it applied exactly what they wrote.
 */
import "reflect-metadata";
import { afterAll, describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  initAuthority,
  issueCertificate,
  parsePeerCertificates,
  revokeCertificates,
} from "../../../src/ca/index.ts";
import {
  createApiKey,
  emptyApiKeySet,
  loadApiKeys,
  revokeApiKey,
  saveApiKeys,
  verifyApiKey,
} from "../../../src/apikey/index.ts";
import { confirmApplied } from "../../../src/cli/confirm-applied.ts";
import type { CliContext } from "../../../src/cli/context.ts";
import type { RequestFacts } from "../../../src/decide/facts.ts";
import {
  emptyRevocations,
  initKeyring,
  revoke,
  rotate,
  saveKeyring,
  saveRevocations,
} from "../../../src/macaroon/index.ts";
import type { Platform } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { type PieceStatus, PluginStateStore } from "../../../src/server/plugin-state.ts";
import { stateLayout } from "../../../src/store/layout.ts";
import { digestFiles, pieceFiles, type StatePiece } from "../../../src/store/state-pieces.ts";
import { asDockerSendsIt, fixedClock, newCaContext, removeTempDirs, seededRandom } from "../ca/helpers.ts";

afterAll(removeTempDirs);

const POLICY = 'version: 1\nrules:\n  - id: all\n    who: "*"\n    allow: ["*"]\n';
const NONCE = "AAAAAAAAAAAAAAAAAAAAAA";

async function host() {
  const ca = await newCaContext({ clock: fixedClock() });
  const layout = stateLayout(join(ca.root, "state"));
  const policyFile = join(ca.root, "policy.yaml");
  await writeFile(policyFile, POLICY);
  await initAuthority(ca, { name: "cluster" });
  const { certificatePem } = await issueCertificate(ca, { kind: "api", name: "alice" }, {
    dir: join(ca.root, "out"),
  });
  const [leaf] = parsePeerCertificates([asDockerSendsIt(certificatePem)]);
  const open = () =>
    PluginStateStore.open({ fs: nodeFileSystem, layout, policy: { file: policyFile }, clock: fixedClock() });
  return { ca, layout, policyFile, leaf: leaf!, open };
}

function aliceAllowed(store: PluginStateStore, leaf: RequestFacts["leafCertificate"]): boolean {
  const gate = store.state.gates.find((g) => g.name === "certificate")!;
  const facts = { leafCertificate: leaf, request: { user: "alice" } } as unknown as RequestFacts;
  return (gate.check(facts) as { allow: boolean }).allow;
}

describe("the plugin's state, piece by piece", () => {
  test("a broken policy keeps its last good version and holds back neither a revocation nor id init", async () => {
    const h = await host();
    const store = await h.open();
    const hash = store.state.policyHash;
    expect(aliceAllowed(store, h.leaf)).toBe(true);

    await writeFile(h.policyFile, POLICY + "  - id: broken\n    allow: [\n");
    await revokeCertificates(h.ca, { target: "alice" });
    await saveKeyring(
      nodeFileSystem,
      h.layout,
      await initKeyring(undefined, seededRandom("k"), fixedClock()),
    );
    const changes = await store.refresh(false);

    expect(changes.map((c) => [c.piece, c.error?.code])).toEqual([
      ["policy", "ERR_POLICY_INVALID"],
      ["ca", undefined],
      ["keyring", undefined],
    ]);
    expect(aliceAllowed(store, h.leaf)).toBe(false);
    expect(store.state.gates.map((g) => g.name)).toEqual(["policy", "certificate", "macaroon"]);
    expect(store.state.policyHash).toBe(hash!);

    const report = store.report();
    const digest = (piece: StatePiece) =>
      digestFiles(nodeFileSystem, pieceFiles(piece, h.layout, h.policyFile));
    expect(report.policy.error).toMatchObject({ code: "ERR_POLICY_INVALID", digest: await digest("policy") });
    expect(report.policy.digest).not.toBe(await digest("policy"));
    expect(report.ca).toMatchObject({ digest: await digest("ca"), error: null });
    expect(report.keyring).toMatchObject({ digest: await digest("keyring"), error: null });

    await writeFile(h.policyFile, POLICY);
    await store.refresh(false);
    expect(store.report().policy).toMatchObject({ digest: await digest("policy"), error: null });
  });

  test("a broken revocation list keeps the last good one while a key rotation still applies", async () => {
    const h = await host();
    const clock = fixedClock();
    const keyring = await initKeyring(undefined, seededRandom("k2"), clock);
    await saveKeyring(nodeFileSystem, h.layout, keyring);
    await saveRevocations(nodeFileSystem, h.layout, revoke(emptyRevocations(), NONCE, clock));
    const store = await h.open();

    await writeFile(h.layout.macaroonRevocations, "{ not json");
    await saveKeyring(nodeFileSystem, h.layout, rotate(keyring, seededRandom("k3"), clock));
    const changes = await store.refresh(false);
    expect(changes.map((c) => [c.piece, c.error?.code])).toEqual([
      ["keyring", undefined],
      ["revocations", "ERR_STATE_CORRUPT"],
    ]);
    expect(store.report().revocations.error?.code).toBe("ERR_STATE_CORRUPT");
    expect(store.state.gates.map((g) => g.name)).toContain("macaroon");
  });

  test("a piece broken at start stops the start: there is no last good version to keep", async () => {
    const h = await host();
    await writeFile(join(h.layout.caDir, "crl.pem"), "not a CRL");
    await expect(h.open()).rejects.toMatchObject({ code: "ERR_STATE_CORRUPT" });
  });

  test("the API keys in force are on the state; a created or revoked key applies on the next refresh", async () => {
    const h = await host();
    const store = await h.open();
    expect(store.state.apiKeys).toEqual({ keys: [] });
    const clock = fixedClock();
    const created = createApiKey(emptyApiKeySet(), { user: "alice" }, seededRandom("api"), clock);
    await saveApiKeys(nodeFileSystem, h.layout, created.set);
    expect(verifyApiKey(store.state.apiKeys, "alice", created.key, clock()).ok).toBe(false);
    expect((await store.refresh(false)).map((c) => [c.piece, c.error?.code])).toEqual([[
      "apikeys",
      undefined,
    ]]);
    expect(verifyApiKey(store.state.apiKeys, "alice", created.key, clock()).ok).toBe(true);
    expect(store.report().apikeys).toMatchObject({
      digest: await digestFiles(nodeFileSystem, pieceFiles("apikeys", h.layout)),
      error: null,
    });
    await saveApiKeys(nodeFileSystem, h.layout, revokeApiKey(created.set, created.record.id, clock).set);
    await store.refresh(false);
    expect(verifyApiKey(store.state.apiKeys, "alice", created.key, clock())).toMatchObject({
      failure: "revoked",
    });
  });

  test("a broken API key file keeps the last good keys and holds back neither a revocation nor the policy", async () => {
    const h = await host();
    const clock = fixedClock();
    const created = createApiKey(emptyApiKeySet(), { user: "alice" }, seededRandom("api2"), clock);
    await saveApiKeys(nodeFileSystem, h.layout, created.set);
    const store = await h.open();
    const keys = store.state.apiKeys;
    expect(await loadApiKeys(nodeFileSystem, h.layout)).toEqual(keys);

    await writeFile(h.layout.apiKeys, '{"version":1,"keys":[{"id":"oops"}]}');
    await revokeCertificates(h.ca, { target: "alice" });
    await writeFile(h.policyFile, POLICY + '  - id: more\n    who: bob\n    allow: ["*"]\n');
    const changes = await store.refresh(false);
    expect(changes.map((c) => [c.piece, c.error?.code])).toEqual([
      ["policy", undefined],
      ["ca", undefined],
      ["apikeys", "ERR_STATE_CORRUPT"],
    ]);
    expect(changes[2]!.error!.message).toBe(`API key file is corrupt: ${h.layout.apiKeys}`);
    expect(store.state.apiKeys).toBe(keys);
    expect(verifyApiKey(store.state.apiKeys, "alice", created.key, clock()).ok).toBe(true);
    expect(aliceAllowed(store, h.leaf)).toBe(false);
    expect(store.state.policy.ruleCount).toBe(2);
    expect(store.report().apikeys.error).toMatchObject({
      code: "ERR_STATE_CORRUPT",
      digest: await digestFiles(nodeFileSystem, pieceFiles("apikeys", h.layout)),
    });

    await saveApiKeys(nodeFileSystem, h.layout, created.set);
    await store.refresh(false);
    expect(store.report().apikeys.error).toBeNull();
  });

  test("a broken API key file at start stops the start", async () => {
    const h = await host();
    await writeFile(h.layout.apiKeys, "[]");
    await expect(h.open()).rejects.toMatchObject({ code: "ERR_STATE_CORRUPT" });
  });

  test("refreshing with nothing changed loads nothing", async () => {
    const h = await host();
    const store = await h.open();
    const before = store.state;
    expect(await store.refresh(false)).toEqual([]);
    expect(store.state).toBe(before);
  });
});

describe("confirming that the running agent applied a change", () => {
  const SOCKET = "/run/test-agent.sock";

  async function confirm(
    answer: (expected: string, root: string) => Response | undefined,
    options: { env?: Record<string, string>; serving?: string } = {},
  ) {
    const h = await host();
    if (options.serving !== undefined) await writeFile(h.layout.serving, options.serving);
    const expected = await digestFiles(nodeFileSystem, pieceFiles("ca", h.layout));
    const err: string[] = [];
    const asked: string[] = [];
    const platform = {
      unixFetch: (socket: string, path: string) => {
        asked.push(`${socket} ${path}`);
        const response = answer(expected, h.layout.root);
        return response === undefined ? Promise.reject(new Error("ENOENT")) : Promise.resolve(response);
      },
      sleep: () => Promise.resolve(),
    } as unknown as Platform;
    const ctx = {
      fs: nodeFileSystem,
      env: options.env ?? { AGENT_SOCKET: SOCKET },
      output: { out: () => {}, err: (t: string) => void err.push(t) },
      platform,
    } as unknown as CliContext;
    const code = await confirmApplied(ctx, h.layout.root, ["ca"]);
    return { code, err: err.join(""), asked };
  }
  const status = (root: string, ca: Partial<PieceStatus>) =>
    new Response(JSON.stringify({ stateDir: root, state: { ca: { loadedAt: "t", error: null, ...ca } } }));

  test("says the agent now enforces it when it reports the digest just written", async () => {
    const r = await confirm((d, root) => status(root, { digest: d }));
    expect(r.code).toBe(0);
    expect(r.err).toContain(`The running agent on ${SOCKET} now enforces the certificate authority's`);
    expect(r.asked).toEqual([`${SOCKET} /`]);
  });

  test("says the agent cannot load it, and fails, when it reports an error for that digest", async () => {
    const r = await confirm((d) =>
      status("/x", { digest: "old", error: { code: "ERR_STATE_CORRUPT", message: "bad crl", digest: d } })
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain("cannot load the certificate authority's revocations");
    expect(r.err).toContain("bad crl [ERR_STATE_CORRUPT]. It keeps enforcing the previous version.");
  });

  test("finds the agent serving this state directory through its serving.json, without AGENT_SOCKET", async () => {
    const r = await confirm((d, root) => status(root, { digest: d }), {
      env: {},
      serving: JSON.stringify({ socket: "/run/other/agent.sock", pid: 7 }),
    });
    expect(r.asked).toEqual(["/run/other/agent.sock /"]);
    expect(r.code).toBe(0);
    const fallback = await confirm(() => undefined, { env: {}, serving: "not json" });
    expect(fallback.asked).toEqual(["/run/docker/plugins/agent.sock /"]);
  });

  test("says no running agent confirmed it when nothing answers", async () => {
    const r = await confirm(() => undefined);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`No running agent on ${SOCKET} confirmed it`);
  });

  test("fails after a few seconds of polls when the agent keeps the old digest", async () => {
    const r = await confirm((_, root) => status(root, { digest: "old" }));
    expect(r.code).toBe(1);
    expect(r.err).toContain("has not applied the certificate authority's revocations");
    expect(r.asked.length).toBeGreaterThan(10);
  });

  test("says the agent serves another state directory when it does", async () => {
    const r = await confirm(() => status("/elsewhere", { digest: "other" }));
    expect(r.code).toBe(0);
    expect(r.err).toContain("serves /elsewhere, not");
  });
});
