import "reflect-metadata";
import { afterAll, describe, expect, test } from "bun:test";
import { copyFile, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  caFiles,
  certificateGate,
  initAuthority,
  issueCertificate,
  loadCertificateGate,
  parsePeerCertificates,
  type PeerCertificate,
  revokeCertificates,
} from "../../../src/ca/index.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { asDockerSendsIt, fixedClock, newCaContext, removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);

const NOW = new Date();

async function setup() {
  const ctx = await newCaContext({ clock: fixedClock(NOW) });
  await initAuthority(ctx, { name: "cluster" });
  const issue = async (name: string, days = 365) => {
    const { certificatePem, record } = await issueCertificate(ctx, { kind: "api", name, days }, {
      dir: join(ctx.root, `out-${name}-${days}`),
    });
    const [leaf] = parsePeerCertificates([asDockerSendsIt(certificatePem)]);
    if (!leaf) throw new Error("no leaf");
    return { leaf, record };
  };
  const load = (clock = fixedClock(NOW)) => loadCertificateGate(nodeFileSystem, ctx.caDir, clock);
  return { ctx, issue, load };
}

describe("loadCertificateGate", () => {
  test("is undefined when no CA has been initialised", async () => {
    const ctx = await newCaContext();
    expect(await loadCertificateGate(nodeFileSystem, ctx.caDir, fixedClock())).toBeUndefined();
  });

  test("allows a valid certificate from this CA", async () => {
    const { issue, load } = await setup();
    const { leaf, record } = await issue("alice");
    const gate = await load();
    expect(gate?.check(leaf, "alice")).toEqual({
      allow: true,
      reason: `certificate ${record.serial} for alice is valid`,
    });
  });

  test("denies a revoked certificate once the gate is reloaded, and only that one", async () => {
    const { ctx, issue, load } = await setup();
    const alice = await issue("alice");
    const bob = await issue("bob");
    const before = await load();
    await revokeCertificates(ctx, { target: "alice", reason: "keyCompromise" });
    const after = await load();
    expect(before?.check(alice.leaf, "alice").allow).toBe(true);
    expect(after?.check(alice.leaf, "alice")).toEqual({
      allow: false,
      reason: `certificate ${alice.record.serial} for alice was revoked`,
    });
    expect(after?.check(bob.leaf, "bob").allow).toBe(true);
    expect([before?.revokedCount, after?.revokedCount]).toEqual([0, 1]);
  });

  test("allows certificates from another CA: dockerd accepted them, they are not this gate's business", async () => {
    const { load } = await setup();
    const other = await setup();
    const { leaf } = await other.issue("alice");
    await revokeCertificates(other.ctx, { target: "alice" });
    expect((await load())?.check(leaf, "alice")).toEqual({
      allow: true,
      reason: "client certificate from another CA",
    });
  });

  test("denies a certificate when dockerd reported no user", async () => {
    const { issue, load } = await setup();
    const { leaf } = await issue("alice");
    const gate = await load();
    for (const user of [undefined, ""]) {
      expect(gate?.check(leaf, user)).toEqual({
        allow: false,
        reason: "a client certificate was presented but dockerd reported no user",
      });
    }
  });

  test("allows a request without a client certificate", async () => {
    const { load } = await setup();
    expect((await load())?.check(undefined, undefined)).toEqual({
      allow: true,
      reason: "no client certificate",
    });
  });

  test("denies an expired certificate and says when it expired", async () => {
    const { issue, load } = await setup();
    const { leaf, record } = await issue("alice", 1);
    const gate = await load(fixedClock(new Date(NOW.getTime() + 2 * 86_400_000)));
    expect(gate?.check(leaf, "alice")).toEqual({
      allow: false,
      reason: `certificate ${record.serial} for alice expired at ${record.notAfter}`,
    });
  });

  test("without a CRL file nothing is revoked (a host with only cluster.crt)", async () => {
    const { ctx, issue, load } = await setup();
    const { leaf } = await issue("alice");
    await revokeCertificates(ctx, { target: "alice" });
    await rm(caFiles(ctx.caDir).crl);
    // Such a host has no index.json either (on the CA host the index's revocations count too).
    await rm(caFiles(ctx.caDir).index);
    expect((await load())?.check(leaf, "alice").allow).toBe(true);
  });

  test("a CRL copied to a host with only cluster.crt is enforced there", async () => {
    const { ctx, issue } = await setup();
    const { leaf } = await issue("alice");
    await revokeCertificates(ctx, { target: "alice" });
    const host = await newCaContext();
    await nodeFileSystem.mkdir(host.caDir, 0o700);
    await copyFile(caFiles(ctx.caDir).certificate, caFiles(host.caDir).certificate);
    await copyFile(caFiles(ctx.caDir).crl, caFiles(host.caDir).crl);
    const gate = await loadCertificateGate(nodeFileSystem, host.caDir, fixedClock(NOW));
    expect(gate?.check(leaf, "alice").allow).toBe(false);
  });

  test("fails closed on a corrupt CRL or one signed by another CA", async () => {
    const { ctx, load } = await setup();
    const other = await setup();
    const crl = caFiles(ctx.caDir).crl;
    const good = await readFile(crl, "utf8");
    const bad = [
      "garbage",
      good.replaceAll("X509 CRL", "CRL"),
      good.slice(0, good.length / 2),
      await readFile(caFiles(other.ctx.caDir).crl, "utf8"),
    ];
    for (const text of bad) {
      await writeFile(crl, text);
      await expect(load()).rejects.toMatchObject({
        code: "ERR_STATE_CORRUPT",
        message: "the CRL (crl.pem) is unreadable or not signed by this CA",
      });
    }
  });

  test("fails on a corrupt CA certificate", async () => {
    const { ctx, load } = await setup();
    await writeFile(
      caFiles(ctx.caDir).certificate,
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    await expect(load()).rejects.toMatchObject({
      code: "ERR_STATE_CORRUPT",
      message: "the CA certificate (cluster.crt) is not a usable CA certificate",
    });
  });

  test("loads deterministically: two loads give the same verdicts", async () => {
    const { ctx, issue, load } = await setup();
    const alice = await issue("alice");
    const bob = await issue("bob");
    await revokeCertificates(ctx, { target: "bob" });
    const [one, two] = [await load(), await load()];
    for (const { leaf } of [alice, bob]) expect(one?.check(leaf, "u")).toEqual(two?.check(leaf, "u"));
  });
});

describe("certificateGate rules", () => {
  const state = { issuer: "CN=cluster, OU=1234", keyId: "aa11", revoked: new Set(["5"]) };
  const leaf = (over: Partial<PeerCertificate>): PeerCertificate => ({
    serial: "5",
    commonName: "alice",
    organizations: [],
    organizationalUnits: [],
    issuer: "CN=cluster, OU=1234",
    authorityKeyId: "aa11",
    notAfter: new Date("2030-01-01T00:00:00Z"),
    fingerprint: "00",
    ...over,
  });
  const gate = certificateGate(state, fixedClock(new Date("2029-01-01T00:00:00Z")));

  const cases: Array<[string, Partial<PeerCertificate>, boolean, string]> = [
    ["a revoked serial with a matching AKI is denied", {}, false, "certificate 5 for alice was revoked"],
    [
      "a revoked serial without AKI but with this CA's issuer DN is denied",
      { authorityKeyId: undefined },
      false,
      "certificate 5 for alice was revoked",
    ],
    [
      "a revoked serial from a CA with another key id is not ours",
      { authorityKeyId: "bb22" },
      true,
      "client certificate from another CA",
    ],
    [
      "no AKI and another issuer DN is not ours",
      { authorityKeyId: undefined, issuer: "CN=other" },
      true,
      "client certificate from another CA",
    ],
    ["an unrevoked serial of ours is allowed", { serial: "6" }, true, "certificate 6 for alice is valid"],
    [
      "a certificate without a CN is named as such",
      { serial: "6", commonName: undefined },
      true,
      "certificate 6 for (no CN) is valid",
    ],
    [
      "expiry is checked before ownership",
      { authorityKeyId: "bb22", notAfter: new Date("2028-01-01T00:00:00Z") },
      false,
      "certificate 5 for alice expired at 2028-01-01T00:00:00.000Z",
    ],
  ];
  for (const [title, over, allow, reason] of cases) {
    test(title, () => {
      expect(gate.check(leaf(over), "alice")).toEqual({ allow, reason });
    });
  }
});
