import "reflect-metadata";
import { afterAll, describe, expect, test } from "bun:test";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  AuthorityKeyIdentifierExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509Crl,
  X509CrlReason,
} from "@peculiar/x509";
import {
  caFiles,
  initAuthority,
  issueCertificate,
  revokeCertificates,
  updateCrl,
} from "../../../src/ca/index.ts";
import { fixedClock, newCaContext, removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);

const NOW = new Date("2026-07-08T09:10:11.000Z");

async function readCrl(path: string): Promise<{ text: string; crl: X509Crl }> {
  const text = await readFile(path, "utf8");
  return { text, crl: new X509Crl(text.replace(/X509 CRL/g, "CRL")) };
}

function crlNumber(crl: X509Crl): string {
  const ext = crl.getExtension("2.5.29.20");
  if (!ext) throw new Error("no CRL number");
  return Buffer.from(ext.value).toString("hex");
}

describe("the CRL", () => {
  test("starts empty at init: PEM label X509 CRL, number 1, AKI, backdated thisUpdate, a year to nextUpdate", async () => {
    const ctx = await newCaContext({ clock: fixedClock(NOW) });
    const { files } = await initAuthority(ctx);
    const { text, crl } = await readCrl(files.crl);
    const ca = new X509Certificate(await readFile(files.certificate, "utf8"));
    expect(text.startsWith("-----BEGIN X509 CRL-----\n")).toBe(true);
    expect(text.trimEnd().endsWith("-----END X509 CRL-----")).toBe(true);
    expect(crl.issuer).toBe(ca.subject);
    expect(crl.thisUpdate.toISOString()).toBe("2026-07-08T09:05:11.000Z");
    expect(crl.nextUpdate?.toISOString()).toBe("2027-07-08T09:05:11.000Z");
    expect(crl.entries).toHaveLength(0);
    expect(crlNumber(crl)).toBe("020101");
    expect(crl.getExtension("2.5.29.20")?.critical).toBe(false);
    const aki = crl.getExtension(AuthorityKeyIdentifierExtension);
    expect(aki?.keyId).toBe(ca.getExtension(SubjectKeyIdentifierExtension)?.keyId);
    expect(aki?.keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(await crl.verify({ publicKey: ca })).toBe(true);
  });

  test("lists revoked serials with revocation date and reason (none for unspecified), numbered upward", async () => {
    const ctx = await newCaContext({ clock: fixedClock(NOW) });
    const { files } = await initAuthority(ctx);
    const out = join(ctx.root, "o");
    const alice = await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out });
    const bob = await issueCertificate(ctx, { kind: "api", name: "bob" }, { dir: out });
    await revokeCertificates(ctx, { target: "alice", reason: "keyCompromise" });
    await revokeCertificates(ctx, { target: "bob" });
    const { crl } = await readCrl(files.crl);
    expect(crlNumber(crl)).toBe("020103");
    expect(crl.entries.map((e) => [e.serialNumber, e.revocationDate.toISOString(), e.reason])).toEqual([
      [alice.record.serial, NOW.toISOString(), X509CrlReason.keyCompromise],
      [bob.record.serial, NOW.toISOString(), undefined],
    ]);
  });

  test("update-crl re-signs with the next number and a new nextUpdate, keeping the entries", async () => {
    const ctx = await newCaContext({ clock: fixedClock(NOW) });
    const { files } = await initAuthority(ctx);
    await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: join(ctx.root, "o") });
    await revokeCertificates(ctx, { target: "alice" });
    const later = new Date(NOW.getTime() + 40 * 86_400_000);
    const published = await updateCrl({ ...ctx, clock: fixedClock(later) }, 30);
    expect(published.crlNumber).toBe(3);
    expect(published.revokedCount).toBe(1);
    const { crl } = await readCrl(files.crl);
    expect(crl.nextUpdate?.toISOString()).toBe(published.nextUpdate.toISOString());
    expect(published.nextUpdate.toISOString()).toBe("2026-09-16T09:05:11.000Z");
    expect(crl.entries).toHaveLength(1);
  });

  test("revoking needs the CA key: a host with only the certificate cannot", async () => {
    const ctx = await newCaContext({ clock: fixedClock(NOW) });
    const { files } = await initAuthority(ctx);
    await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: join(ctx.root, "o") });
    await Bun.$`rm ${files.privateKey}`;
    await expect(revokeCertificates(ctx, { target: "alice" })).rejects.toMatchObject({
      code: "ERR_CA_MISSING",
      message:
        `the CA private key is not in ${files.dir}: issue and revoke on the host where \`agent ca init\` ran`,
    });
  });

  test("a CA key that does not match cluster.crt is refused before signing", async () => {
    const one = await newCaContext({ clock: fixedClock(NOW) });
    const two = await newCaContext({ clock: fixedClock(NOW) });
    await initAuthority(one);
    await initAuthority(two);
    await writeFile(caFiles(one.caDir).privateKey, await readFile(caFiles(two.caDir).privateKey));
    await expect(updateCrl(one)).rejects.toMatchObject({
      code: "ERR_STATE_CORRUPT",
      message: "the CA private key (cluster.key) does not match cluster.crt",
    });
  });
});
