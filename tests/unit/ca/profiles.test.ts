import "reflect-metadata";
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
} from "@peculiar/x509";
import { initAuthority, issueCertificate, type KeyType } from "../../../src/ca/index.ts";
import { AgentError } from "../../../src/errors.ts";
import { fixedClock, newCaContext, removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);

const NOW = new Date("2026-05-04T03:02:01.000Z");

async function readCert(path: string): Promise<X509Certificate> {
  return new X509Certificate(await Bun.file(path).text());
}

function ext<T>(cert: X509Certificate, type: new (raw: BufferSource) => T): T {
  const found = cert.getExtension(type as never) as T | null;
  if (!found) throw new Error(`missing extension ${type.name}`);
  return found;
}

describe("the CA certificate", () => {
  test("is CA:TRUE (critical, path length 0), keyCertSign+cRLSign (critical), with an SKI and the cluster id OU", async () => {
    const ctx = await newCaContext({ clock: fixedClock(NOW) });
    const result = await initAuthority(ctx, { name: "prod, EU" });
    const ca = await readCert(result.files.certificate);

    expect(ca.subjectName.toJSON()).toEqual([{ CN: ["prod, EU"] }, { OU: [result.clusterId] }]);
    expect(ca.issuer).toBe(ca.subject);
    const bc = ext(ca, BasicConstraintsExtension);
    expect([bc.ca, bc.pathLength, bc.critical]).toEqual([true, 0, true]);
    const ku = ext(ca, KeyUsagesExtension);
    expect([ku.usages, ku.critical]).toEqual([KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true]);
    expect(ext(ca, SubjectKeyIdentifierExtension).keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(await ca.isSelfSigned()).toBe(true);
    expect(ca.serialNumber).toBe(result.serial);
  });

  test("is valid for ten years by default, backdated five minutes", async () => {
    const ctx = await newCaContext({ clock: fixedClock(NOW) });
    const result = await initAuthority(ctx);
    const ca = await readCert(result.files.certificate);
    expect(ca.notBefore.toISOString()).toBe("2026-05-04T02:57:01.000Z");
    expect(ca.notAfter.toISOString()).toBe(new Date(NOW.getTime() + 3650 * 86_400_000).toISOString());
    expect(ca.subjectName.getField("CN")).toEqual(["agent-ca"]);
  });

  for (
    const [type, algorithm] of [["ecdsa", "ECDSA"], ["ed25519", "Ed25519"], [
      "rsa",
      "RSASSA-PKCS1-v1_5",
    ]] as const
  ) {
    test(`can be ${type}`, async () => {
      const ctx = await newCaContext({ clock: fixedClock(NOW) });
      const result = await initAuthority(ctx, { key: { type, rsaBits: 2048 } });
      const ca = await readCert(result.files.certificate);
      expect(ca.publicKey.algorithm.name).toBe(algorithm);
      expect(await ca.verify({ signatureOnly: true })).toBe(true);
    });
  }
});

describe("leaf profiles", () => {
  async function issue(kind: "api" | "server" | "node", name: string, extra: object = {}) {
    const ctx = await newCaContext({ clock: fixedClock(NOW) });
    const init = await initAuthority(ctx);
    const ca = await readCert(init.files.certificate);
    const out = join(ctx.root, "out");
    const result = await issueCertificate(ctx, { kind, name, ...extra }, { dir: out });
    const cert = await readCert(result.paths.certificate);
    return { ctx, ca, cert, result };
  }

  test("an API certificate has CN = the user exactly, clientAuth only, digitalSignature, AKI = the CA's SKI", async () => {
    const { ca, cert, result } = await issue("api", "alice", { organizationalUnits: ["devs", "ops"] });
    expect(cert.subjectName.toJSON()).toEqual([{ CN: ["alice"] }, { OU: ["devs"] }, { OU: ["ops"] }]);
    expect(cert.issuer).toBe(ca.subject);
    const eku = ext(cert, ExtendedKeyUsageExtension);
    expect([eku.usages, eku.critical]).toEqual([[ExtendedKeyUsage.clientAuth], false]);
    const ku = ext(cert, KeyUsagesExtension);
    expect([ku.usages, ku.critical]).toEqual([KeyUsageFlags.digitalSignature, true]);
    const bc = ext(cert, BasicConstraintsExtension);
    expect([bc.ca, bc.critical]).toEqual([false, true]);
    expect(ext(cert, AuthorityKeyIdentifierExtension).keyId).toBe(
      ext(ca, SubjectKeyIdentifierExtension).keyId,
    );
    expect(ext(cert, SubjectKeyIdentifierExtension).keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(cert.getExtension(SubjectAlternativeNameExtension)).toBeNull();
    expect(await cert.verify({ publicKey: ca.publicKey, date: NOW })).toBe(true);
    expect(result.record.kind).toBe("api");
  });

  test("an API certificate is valid for 365 days by default, or --days", async () => {
    const { cert } = await issue("api", "alice");
    expect(cert.notBefore.toISOString()).toBe("2026-05-04T02:57:01.000Z");
    expect(cert.notAfter.toISOString()).toBe("2027-05-04T03:02:01.000Z");
    const { cert: short } = await issue("api", "bob", { days: 1 });
    expect(short.notAfter.toISOString()).toBe("2026-05-05T03:02:01.000Z");
  });

  test("a DN-looking user name never becomes extra subject attributes", async () => {
    const ctx = await newCaContext({ clock: fixedClock(NOW) });
    await initAuthority(ctx);
    const attempt = issueCertificate(ctx, { kind: "api", name: "alice, OU=admins" }, {
      dir: join(ctx.root, "o"),
    });
    await expect(attempt).rejects.toThrow(AgentError);
    await expect(attempt).rejects.toMatchObject({
      code: "ERR_CA_NAME",
      message:
        "invalid name: use 1 to 64 letters, digits, '.', '_', '@' or '-', not starting with '-' or '.' " +
        '(got "alice, OU=admins")',
    });
  });

  test("a server certificate names HOST, localhost, 127.0.0.1, ::1 and every --san, with serverAuth only", async () => {
    const { cert } = await issue("server", "Docker1.example.com", {
      subjectAltNames: ["10.0.0.5", "docker1", "::1"],
    });
    expect(cert.subjectName.toJSON()).toEqual([{ CN: ["docker1.example.com"] }]);
    expect(ext(cert, SubjectAlternativeNameExtension).names.toJSON()).toEqual([
      { type: "dns", value: "docker1.example.com" },
      { type: "dns", value: "localhost" },
      { type: "ip", value: "127.0.0.1" },
      { type: "ip", value: "::1" },
      { type: "ip", value: "10.0.0.5" },
      { type: "dns", value: "docker1" },
    ]);
    expect(ext(cert, ExtendedKeyUsageExtension).usages).toEqual([ExtendedKeyUsage.serverAuth]);
    expect(ext(cert, KeyUsagesExtension).usages).toBe(KeyUsageFlags.digitalSignature);
  });

  test("a server certificate can leave out the local names", async () => {
    const { cert } = await issue("server", "10.1.2.3", { localSubjectAltNames: false });
    expect(ext(cert, SubjectAlternativeNameExtension).names.toJSON()).toEqual([{
      type: "ip",
      value: "10.1.2.3",
    }]);
  });

  test("an RSA server certificate also allows keyEncipherment (TLS 1.2 RSA key exchange)", async () => {
    const { cert } = await issue("server", "rsa.example", { key: { type: "rsa", rsaBits: 2048 } });
    expect(ext(cert, KeyUsagesExtension).usages).toBe(
      KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment,
    );
    expect(cert.publicKey.algorithm).toMatchObject({ name: "RSASSA-PKCS1-v1_5", modulusLength: 2048 });
  });

  test("a node certificate has serverAuth and clientAuth and names itself in the SAN", async () => {
    const { cert } = await issue("node", "node1", { subjectAltNames: ["10.0.0.11"] });
    expect(ext(cert, ExtendedKeyUsageExtension).usages).toEqual([
      ExtendedKeyUsage.serverAuth,
      ExtendedKeyUsage.clientAuth,
    ]);
    expect(ext(cert, SubjectAlternativeNameExtension).names.toJSON()).toEqual([
      { type: "dns", value: "node1" },
      { type: "ip", value: "10.0.0.11" },
    ]);
  });

  test("an API certificate refuses subject alternative names", async () => {
    const ctx = await newCaContext({ clock: fixedClock(NOW) });
    await initAuthority(ctx);
    const attempt = issueCertificate(ctx, { kind: "api", name: "alice", subjectAltNames: ["x.example"] }, {
      dir: ctx.root,
    });
    await expect(attempt).rejects.toMatchObject({
      code: "ERR_USAGE",
      message: "subject alternative names apply to server and node certificates only",
    });
  });

  for (const type of ["ecdsa", "ed25519", "rsa"] as KeyType[]) {
    test(`issues ${type} leaves under an ECDSA CA, keys as unencrypted PKCS#8`, async () => {
      const { ca, cert, result } = await issue("api", "alice", { key: { type, rsaBits: 2048 } });
      expect(await cert.verify({ publicKey: ca.publicKey, date: NOW })).toBe(true);
      const keyPem = await Bun.file(result.paths.privateKey).text();
      expect(keyPem.startsWith("-----BEGIN PRIVATE KEY-----\n")).toBe(true);
      expect(keyPem).not.toContain("ENCRYPTED");
      expect(result.record.keyType).toBe(type);
    });
  }

  test("refuses a certificate that would outlive the CA", async () => {
    const ctx = await newCaContext({ clock: fixedClock(NOW) });
    await initAuthority(ctx, { days: 30 });
    const attempt = issueCertificate(ctx, { kind: "api", name: "alice", days: 31 }, {
      dir: join(ctx.root, "o"),
    });
    await expect(attempt).rejects.toMatchObject({
      code: "ERR_CA_VALIDITY",
      message: `the certificate would outlive the CA, which expires ${
        new Date(NOW.getTime() + 30 * 86_400_000).toISOString()
      }: use fewer --days`,
    });
  });

  test("refuses to issue before `agent ca init`", async () => {
    const ctx = await newCaContext({ clock: fixedClock(NOW) });
    const attempt = issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: ctx.root });
    await expect(attempt).rejects.toMatchObject({
      code: "ERR_CA_MISSING",
      message:
        `no certificate authority in ${ctx.caDir}: run \`agent ca init\` first (or pass the right --state-dir)`,
    });
  });
});
