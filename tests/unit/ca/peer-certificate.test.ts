import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { SubjectKeyIdentifierExtension, X509Certificate, X509CertificateGenerator } from "@peculiar/x509";
import { caFiles, initAuthority, issueCertificate, parsePeerCertificates } from "../../../src/ca/index.ts";
import { MAX_PEER_CERTIFICATES } from "../../../src/ca/peer-certificate.ts";
import { AgentError } from "../../../src/errors.ts";
import { asDockerSendsIt, newCaContext, removeTempDirs, seededRandom } from "./helpers.ts";

afterAll(removeTempDirs);

const MALFORMED = {
  code: "ERR_CA_CERTIFICATE",
  message: "malformed client certificate in the plugin request",
};

function failure(encoded: readonly unknown[]): { code: string; message: string } | "parsed" {
  try {
    parsePeerCertificates(encoded as string[]);
    return "parsed";
  } catch (err) {
    if (!(err instanceof AgentError)) throw err;
    return { code: err.code, message: err.message };
  }
}

let alicePem: string;
let caPem: string;
let aliceSerial: string;

beforeAll(async () => {
  const ctx = await newCaContext();
  await initAuthority(ctx, { name: "cluster" });
  const { certificatePem, record } = await issueCertificate(
    ctx,
    { kind: "api", name: "alice", organizationalUnits: ["devs", "ops"] },
    { dir: join(ctx.root, "out") },
  );
  alicePem = certificatePem;
  aliceSerial = record.serial;
  caPem = await readFile(caFiles(ctx.caDir).certificate, "utf8");
});

describe("parsePeerCertificates", () => {
  test("reads a certificate the way dockerd forwards it (base64 of PEM)", () => {
    const ca = new X509Certificate(caPem);
    const der = new Uint8Array(new X509Certificate(alicePem).rawData);
    const [leaf] = parsePeerCertificates([asDockerSendsIt(alicePem)]);
    expect(leaf).toEqual({
      serial: aliceSerial,
      commonName: "alice",
      organizations: [],
      organizationalUnits: ["devs", "ops"],
      issuer: ca.subject,
      authorityKeyId: ca.getExtension(SubjectKeyIdentifierExtension)?.keyId,
      notAfter: new X509Certificate(alicePem).notAfter,
      fingerprint: new Bun.CryptoHasher("sha256").update(der).digest("hex"),
    });
    expect(leaf?.authorityKeyId).toMatch(/^[0-9a-f]{40}$/);
  });

  test("reads a chain leaf first (curl also sends the CA)", () => {
    const chain = parsePeerCertificates([asDockerSendsIt(alicePem), asDockerSendsIt(caPem)]);
    expect(chain.map((c) => c.commonName)).toEqual(["alice", "cluster"]);
    expect(chain[1]?.authorityKeyId).toBeUndefined();
  });

  test("returns the cached object for a certificate seen before", () => {
    const encoded = asDockerSendsIt(alicePem);
    const [first] = parsePeerCertificates([encoded]);
    const [second] = parsePeerCertificates([encoded]);
    expect(second).toBe(first as NonNullable<typeof first>);
    expect(Object.isFrozen(first)).toBe(true);
  });

  test("takes the last CN as Go does, and reads O and OU", async () => {
    const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
      "sign",
      "verify",
    ]);
    const cert = await X509CertificateGenerator.createSelfSigned({
      serialNumber: "0001",
      name: [{ CN: ["first"] }, { O: ["acme"] }, { OU: ["a"] }, { CN: ["last"] }],
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
    });
    const [leaf] = parsePeerCertificates([asDockerSendsIt(cert.toString("pem"))]);
    expect(leaf?.commonName).toBe("last");
    expect(leaf?.organizations).toEqual(["acme"]);
    expect(leaf?.organizationalUnits).toEqual(["a"]);
    expect(leaf?.serial).toBe("1");
    expect(leaf?.authorityKeyId).toBeUndefined();
  });

  test("an empty list is an empty list", () => {
    expect(parsePeerCertificates([])).toEqual([]);
  });

  const body = () => alicePem.split("\n").slice(1, -2).join("\n");
  const malformedInputs: Array<[string, () => unknown[]]> = [
    ["garbage base64", () => ["***not base64***"]],
    ["base64 with the wrong padding", () => [asDockerSendsIt(alicePem).slice(0, -1)]],
    ["base64 of text that is not PEM", () => [btoa("hello, dockerd")]],
    ["base64 of raw DER instead of PEM", () => [btoa(atob(body().replaceAll("\n", "")))]],
    ["a PEM block with another label", () => [btoa(alicePem.replaceAll("CERTIFICATE", "PRIVATE KEY"))]],
    ["a truncated PEM", () => [btoa(alicePem.slice(0, alicePem.length / 2))]],
    [
      "a PEM whose body was cut short",
      () => [btoa(`-----BEGIN CERTIFICATE-----\n${body().slice(0, 120)}\n-----END CERTIFICATE-----\n`)],
    ],
    ["two PEM blocks in one entry", () => [btoa(alicePem + alicePem)]],
    [
      "a PEM of bytes that are not a certificate",
      () => [btoa("-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n")],
    ],
    ["bytes that are not UTF-8", () => [btoa("\xff\xfe\xfd\xfc")]],
    ["an empty string", () => [""]],
    ["an entry longer than the limit", () => ["A".repeat(64 * 1024 + 4)]],
    ["a number instead of a string", () => [42]],
    [
      "more certificates than the limit",
      () => Array.from({ length: MAX_PEER_CERTIFICATES + 1 }, () => asDockerSendsIt(alicePem)),
    ],
    ["a good leaf followed by garbage", () => [asDockerSendsIt(alicePem), "%%%"]],
  ];
  for (const [title, input] of malformedInputs) {
    test(`rejects ${title} with ERR_CA_CERTIFICATE`, () => {
      expect(failure(input())).toEqual(MALFORMED);
    });
  }

  test("never lets a raw exception out for 300 random corruptions of a real certificate", () => {
    const random = seededRandom("peer-fuzz");
    const encoded = asDockerSendsIt(alicePem);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-\n";
    let rejected = 0;
    for (let i = 0; i < 300; i++) {
      const [a = 0, b = 0, c = 0] = random(3);
      let mutated: string;
      if (i % 3 === 0) {
        // Flip one character of the PEM text inside the base64 envelope.
        const pem = alicePem.split("");
        pem[(a * 256 + b) % pem.length] = alphabet[c % alphabet.length] ?? "A";
        mutated = btoa(pem.join(""));
      } else if (i % 3 === 1) {
        mutated = encoded.slice(0, (a * 256 + b) % encoded.length);
      } else {
        const chars = encoded.split("");
        chars[(a * 256 + b) % chars.length] = alphabet[c % alphabet.length] ?? "A";
        mutated = chars.join("");
      }
      const result = failure([mutated]);
      if (result !== "parsed") {
        expect(result).toEqual(MALFORMED);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(100);
  });
});
