import "reflect-metadata";
import { afterAll, describe, expect, test } from "bun:test";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { X509Certificate } from "@peculiar/x509";
import {
  caFiles,
  initAuthority,
  issueCertificate,
  readIndex,
  renewCertificate,
  revokeCertificates,
} from "../../../src/ca/index.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { fixedClock, newCaContext, removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);

const NOW = new Date("2026-02-03T04:05:06.000Z");

async function setup() {
  const ctx = await newCaContext({ clock: fixedClock(NOW) });
  await initAuthority(ctx);
  const out = (name: string) => join(ctx.root, name);
  return { ctx, out, files: caFiles(ctx.caDir) };
}

describe("the issued-certificate index", () => {
  test("records serial, kind, name, subject, groups, SANs, key type, validity and SHA-256 fingerprint", async () => {
    const { ctx, out, files } = await setup();
    const { record, paths } = await issueCertificate(
      ctx,
      { kind: "server", name: "docker1", subjectAltNames: ["10.0.0.5"], organizationalUnits: ["hosts"] },
      { dir: out("o") },
    );
    const cert = new X509Certificate(await readFile(paths.certificate, "utf8"));
    const fingerprint = Buffer.from(await cert.getThumbprint("SHA-256")).toString("hex");
    const index = JSON.parse(await readFile(files.index, "utf8"));
    expect(index).toEqual({
      version: 1,
      crlNumber: 1,
      certificates: [
        {
          serial: cert.serialNumber,
          kind: "server",
          name: "docker1",
          subject: "CN=docker1, OU=hosts",
          organizationalUnits: ["hosts"],
          subjectAltNames: [
            { type: "dns", value: "docker1" },
            { type: "dns", value: "localhost" },
            { type: "ip", value: "127.0.0.1" },
            { type: "ip", value: "::1" },
            { type: "ip", value: "10.0.0.5" },
          ],
          keyType: "ecdsa",
          notBefore: "2026-02-03T04:00:06.000Z",
          notAfter: "2027-02-03T04:05:06.000Z",
          fingerprint,
        },
      ],
    });
    expect(record).toEqual(index.certificates[0]);
  });

  test("a corrupt index is ERR_STATE_CORRUPT, never half-trusted", async () => {
    const { ctx, out, files } = await setup();
    await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out("o") });
    const good = JSON.parse(await readFile(files.index, "utf8"));
    const corruptions: unknown[] = [
      "not json",
      { ...good, version: 2 },
      { ...good, crlNumber: -1 },
      { ...good, certificates: {} },
      { ...good, certificates: [{ ...good.certificates[0], kind: "root" }] },
      { ...good, certificates: [{ ...good.certificates[0], serial: "XYZ" }] },
      { ...good, certificates: [{ ...good.certificates[0], notAfter: "soon" }] },
      { ...good, certificates: [{ ...good.certificates[0], revokedAt: NOW.toISOString(), reason: "bored" }] },
      { ...good, certificates: [good.certificates[0], good.certificates[0]] },
    ];
    for (const bad of corruptions) {
      await writeFile(files.index, typeof bad === "string" ? bad : JSON.stringify(bad));
      await expect(readIndex(nodeFileSystem, files.index)).rejects.toMatchObject({
        code: "ERR_STATE_CORRUPT",
        message: "the CA's issued-certificate index (index.json) is corrupt",
      });
    }
  });
});

describe("revoke", () => {
  test("revokes by serial, records time and reason, and bumps the CRL number", async () => {
    const { ctx, out, files } = await setup();
    const alice = await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out("a") });
    const result = await revokeCertificates(ctx, {
      target: alice.record.serial.toUpperCase(),
      reason: "keyCompromise",
    });
    expect(result.revoked).toEqual([{
      ...alice.record,
      revokedAt: NOW.toISOString(),
      reason: "keyCompromise",
    }]);
    expect(result.crl.crlNumber).toBe(2);
    expect(result.crl.revokedCount).toBe(1);
    const index = await readIndex(nodeFileSystem, files.index);
    expect(index.crlNumber).toBe(2);
    expect(index.certificates[0]?.revokedAt).toBe(NOW.toISOString());
  });

  test("a name that matches several certificates revokes every unrevoked one of them", async () => {
    const { ctx, out } = await setup();
    const first = await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out("a1") });
    const second = await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out("a2") });
    const bob = await issueCertificate(ctx, { kind: "api", name: "bob" }, { dir: out("b") });
    const result = await revokeCertificates(ctx, { target: "alice" });
    expect(result.revoked.map((c) => c.serial)).toEqual([first.record.serial, second.record.serial]);
    expect(result.revoked.every((c) => c.reason === "unspecified")).toBe(true);
    const index = await readIndex(nodeFileSystem, caFiles(ctx.caDir).index);
    expect(index.certificates.find((c) => c.serial === bob.record.serial)?.revokedAt).toBeUndefined();
  });

  test("--kind narrows a name shared by a server and a node certificate", async () => {
    const { ctx, out } = await setup();
    await issueCertificate(ctx, { kind: "server", name: "node1" }, { dir: out("s") });
    const node = await issueCertificate(ctx, { kind: "node", name: "node1" }, { dir: out("n") });
    const result = await revokeCertificates(ctx, { target: "node1", kind: "node" });
    expect(result.revoked.map((c) => c.serial)).toEqual([node.record.serial]);
  });

  test("revoking again is ERR_CA_REVOKED; an unknown name is ERR_CA_NOT_FOUND", async () => {
    const { ctx, out } = await setup();
    await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out("a") });
    await revokeCertificates(ctx, { target: "alice" });
    await expect(revokeCertificates(ctx, { target: "alice" })).rejects.toMatchObject({
      code: "ERR_CA_REVOKED",
      message: "already revoked: nothing left to revoke under that name or serial",
    });
    await expect(revokeCertificates(ctx, { target: "mallory" })).rejects.toMatchObject({
      code: "ERR_CA_NOT_FOUND",
      message:
        'no certificate named "mallory" (or with that serial) was issued by this CA (see `agent ca list`)',
    });
  });
});

describe("renew", () => {
  test("issues a new key and serial for the same kind, subject, groups and SANs; the old one stays valid", async () => {
    const { ctx, out } = await setup();
    const old = await issueCertificate(
      ctx,
      {
        kind: "server",
        name: "docker1",
        subjectAltNames: ["10.0.0.5"],
        organizationalUnits: ["hosts"],
        days: 30,
      },
      { dir: out("old") },
    );
    const result = await renewCertificate(ctx, { target: "docker1" }, { dir: out("new") });
    const fresh = result.issued.record;
    expect(result.previous).toEqual(old.record);
    expect(fresh.serial).not.toBe(old.record.serial);
    expect(fresh.fingerprint).not.toBe(old.record.fingerprint);
    expect([fresh.kind, fresh.name, fresh.subject]).toEqual(["server", "docker1", "CN=docker1, OU=hosts"]);
    expect(fresh.subjectAltNames).toEqual(old.record.subjectAltNames);
    expect(fresh.notAfter).toBe(old.record.notAfter); // same 30-day lifetime, same clock
    const oldKey = await readFile(old.paths.privateKey, "utf8");
    expect(await readFile(result.issued.paths.privateKey, "utf8")).not.toBe(oldKey);
    expect(result.revocation).toBeUndefined();
    const index = await readIndex(nodeFileSystem, caFiles(ctx.caDir).index);
    expect(index.certificates.every((c) => c.revokedAt === undefined)).toBe(true);
  });

  test("--revoke-old revokes the previous certificate as superseded", async () => {
    const { ctx, out } = await setup();
    const old = await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out("old") });
    const result = await renewCertificate(ctx, { target: "alice", revokeOld: true, days: 7 }, {
      dir: out("new"),
    });
    expect(result.revocation?.revoked).toEqual([{
      ...old.record,
      revokedAt: NOW.toISOString(),
      reason: "superseded",
    }]);
    expect(result.issued.record.notAfter).toBe("2026-02-10T04:05:06.000Z");
  });

  test("renewing in place needs force and then replaces NAME.crt and NAME.key", async () => {
    const { ctx, out } = await setup();
    const old = await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out("o") });
    await expect(renewCertificate(ctx, { target: "alice" }, { dir: out("o") })).rejects.toMatchObject({
      code: "ERR_STATE_EXISTS",
    });
    const result = await renewCertificate(ctx, { target: "alice" }, { dir: out("o"), force: true });
    const cert = new X509Certificate(await readFile(old.paths.certificate, "utf8"));
    expect(cert.serialNumber).toBe(result.issued.record.serial);
  });

  test("a name shared by several kinds needs --kind", async () => {
    const { ctx, out } = await setup();
    await issueCertificate(ctx, { kind: "server", name: "node1" }, { dir: out("s") });
    await issueCertificate(ctx, { kind: "node", name: "node1" }, { dir: out("n") });
    await expect(renewCertificate(ctx, { target: "node1" }, { dir: out("x") })).rejects.toMatchObject({
      code: "ERR_USAGE",
      message: "certificates of several kinds (server, node) have that name: choose one with --kind",
    });
    const result = await renewCertificate(ctx, { target: "node1", kind: "node" }, { dir: out("x") });
    expect(result.issued.record.kind).toBe("node");
  });

  test("keeps the key type unless told otherwise", async () => {
    const { ctx, out } = await setup();
    await issueCertificate(ctx, { kind: "api", name: "alice", key: { type: "ed25519" } }, { dir: out("o") });
    const same = await renewCertificate(ctx, { target: "alice" }, { dir: out("a") });
    expect(same.issued.record.keyType).toBe("ed25519");
    const changed = await renewCertificate(ctx, { target: "alice", key: { type: "ecdsa" } }, {
      dir: out("b"),
    });
    expect(changed.issued.record.keyType).toBe("ecdsa");
  });

  test("a revoked certificate is not renewed", async () => {
    const { ctx, out } = await setup();
    await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out("o") });
    await revokeCertificates(ctx, { target: "alice" });
    await expect(renewCertificate(ctx, { target: "alice" }, { dir: out("n") })).rejects.toMatchObject({
      code: "ERR_CA_REVOKED",
      message: "every certificate under that name or serial is revoked: issue a new one",
    });
  });
});
