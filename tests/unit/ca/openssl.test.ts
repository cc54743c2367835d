/** The CA's output checked by real OpenSSL (/usr/bin/openssl), the way Flocker's tests checked flocker-ca. */
import "reflect-metadata";
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  caFiles,
  initAuthority,
  issueCertificate,
  type KeyType,
  revokeCertificates,
} from "../../../src/ca/index.ts";
import { newCaContext, openssl, removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);

async function withCa(keyType: KeyType = "ecdsa") {
  const ctx = await newCaContext();
  await initAuthority(ctx, { key: { type: keyType, rsaBits: 2048 } });
  const files = caFiles(ctx.caDir);
  const out = join(ctx.root, "out");
  return { ctx, files, out };
}

describe("openssl verify", () => {
  test("an API certificate verifies for sslclient and not for sslserver", async () => {
    const { ctx, files, out } = await withCa();
    const { paths } = await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out });
    const client = openssl([
      "verify",
      "-CAfile",
      files.certificate,
      "-purpose",
      "sslclient",
      paths.certificate,
    ]);
    expect(client.stdout).toContain(`${paths.certificate}: OK`);
    expect(client.code).toBe(0);
    const server = openssl([
      "verify",
      "-CAfile",
      files.certificate,
      "-purpose",
      "sslserver",
      paths.certificate,
    ]);
    expect(server.code).not.toBe(0);
    expect(server.stderr).toContain("unsuitable certificate purpose");
  });

  test("a server certificate verifies for sslserver and not for sslclient, and matches its names", async () => {
    const { ctx, files, out } = await withCa();
    const { paths } = await issueCertificate(ctx, {
      kind: "server",
      name: "docker1.example",
      subjectAltNames: ["10.9.8.7"],
    }, {
      dir: out,
    });
    const base = ["verify", "-CAfile", files.certificate];
    expect(openssl([...base, "-purpose", "sslserver", paths.certificate]).code).toBe(0);
    expect(openssl([...base, "-purpose", "sslclient", paths.certificate]).code).not.toBe(0);
    for (const host of ["docker1.example", "localhost"]) {
      expect(openssl([...base, "-verify_hostname", host, paths.certificate]).code).toBe(0);
    }
    for (const ip of ["10.9.8.7", "127.0.0.1", "::1"]) {
      expect(openssl([...base, "-verify_ip", ip, paths.certificate]).code).toBe(0);
    }
    const wrong = openssl([...base, "-verify_hostname", "other.example", paths.certificate]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain("hostname mismatch");
  });

  test("a node certificate verifies for both purposes", async () => {
    const { ctx, files, out } = await withCa();
    const { paths } = await issueCertificate(ctx, { kind: "node", name: "node1" }, { dir: out });
    for (const purpose of ["sslclient", "sslserver"]) {
      expect(openssl(["verify", "-CAfile", files.certificate, "-purpose", purpose, paths.certificate]).code)
        .toBe(0);
    }
  });

  for (const keyType of ["ed25519", "rsa"] as const) {
    test(`a ${keyType} CA signs ${keyType} leaves that verify, with a matching private key`, async () => {
      const { ctx, files, out } = await withCa(keyType);
      const { paths } = await issueCertificate(ctx, {
        kind: "api",
        name: "alice",
        key: { type: keyType, rsaBits: 2048 },
      }, {
        dir: out,
      });
      expect(
        openssl(["verify", "-CAfile", files.certificate, "-purpose", "sslclient", paths.certificate]).code,
      ).toBe(0);
      const fromCert = openssl(["x509", "-in", paths.certificate, "-noout", "-pubkey"]).stdout;
      const fromKey = openssl(["pkey", "-in", paths.privateKey, "-pubout"]).stdout;
      expect(fromKey).toBe(fromCert);
      expect(fromKey).toContain("BEGIN PUBLIC KEY");
    });
  }

  test("the CA key is readable by openssl without a passphrase and matches cluster.crt", async () => {
    const { files } = await withCa();
    const fromKey = openssl(["pkey", "-in", files.privateKey, "-pubout", "-passin", "pass:"]);
    expect(fromKey.code).toBe(0);
    expect(fromKey.stdout).toBe(openssl(["x509", "-in", files.certificate, "-noout", "-pubkey"]).stdout);
  });

  test("a certificate with one flipped signature byte fails verification", async () => {
    const { ctx, files, out } = await withCa();
    const { paths } = await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out });
    const der = openssl([
      "x509",
      "-in",
      paths.certificate,
      "-outform",
      "DER",
      "-out",
      join(out, "alice.der"),
    ]);
    expect(der.code).toBe(0);
    const bytes = new Uint8Array(await Bun.file(join(out, "alice.der")).arrayBuffer());
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] ?? 0) ^ 0x01;
    await Bun.write(join(out, "tampered.der"), bytes);
    const result = openssl(["verify", "-CAfile", files.certificate, join(out, "tampered.der")]);
    expect(result.code).not.toBe(0);
  });
});

describe("openssl and the CRL", () => {
  test("openssl crl -verify accepts the CRL at init and after a revocation", async () => {
    const { ctx, files, out } = await withCa();
    const initial = openssl(["crl", "-in", files.crl, "-CAfile", files.certificate, "-noout", "-verify"]);
    expect(initial.stderr + initial.stdout).toContain("verify OK");
    await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out });
    await revokeCertificates(ctx, { target: "alice", reason: "keyCompromise" });
    const after = openssl([
      "crl",
      "-in",
      files.crl,
      "-CAfile",
      files.certificate,
      "-noout",
      "-verify",
      "-text",
    ]);
    expect(after.stderr + after.stdout).toContain("verify OK");
    expect(after.stdout).toContain("X509v3 CRL Number: \n                2");
    expect(after.stdout).toContain("Key Compromise");
  });

  test("openssl verify -crl_check passes before revocation and fails after", async () => {
    const { ctx, files, out } = await withCa();
    const { paths } = await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out });
    const check = () =>
      openssl([
        "verify",
        "-crl_check",
        "-CAfile",
        files.certificate,
        "-CRLfile",
        files.crl,
        paths.certificate,
      ]);
    expect(check().code).toBe(0);
    await revokeCertificates(ctx, { target: "alice" });
    const after = check();
    expect(after.code).not.toBe(0);
    expect(after.stderr).toContain("certificate revoked");
  });

  test("revoking one user leaves the others passing -crl_check", async () => {
    const { ctx, files, out } = await withCa();
    await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out });
    const bob = await issueCertificate(ctx, { kind: "api", name: "bob" }, { dir: out });
    await revokeCertificates(ctx, { target: "alice" });
    const result = openssl([
      "verify",
      "-crl_check",
      "-CAfile",
      files.certificate,
      "-CRLfile",
      files.crl,
      bob.paths.certificate,
    ]);
    expect(result.code).toBe(0);
  });
});
