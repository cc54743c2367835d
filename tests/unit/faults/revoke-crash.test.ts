/**
 * `agent ca revoke` writes index.json, then crl.pem. These tests stop it between the two writes (a
 * FileSystem whose CRL write fails, as a SIGKILL there would) and check that the revocation is not lost:
 * the gate on the CA host refuses the certificate, and running the revoke again publishes the CRL.
 */
import "reflect-metadata";
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  caFiles,
  initAuthority,
  issueCertificate,
  loadCertificateGate,
  parsePeerCertificates,
  readIndex,
  revokeCertificates,
} from "../../../src/ca/index.ts";
import { readCrlSerials } from "../../../src/ca/crl-serials.ts";
import { readCaCertificate } from "../../../src/ca/authority.ts";
import { AgentError } from "../../../src/errors.ts";
import type { FileSystem } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { asDockerSendsIt, fixedClock, newCaContext, removeTempDirs } from "../ca/helpers.ts";

afterAll(removeTempDirs);

/** Dies (throws) on the write of crl.pem, after index.json was written. */
const diesBeforeCrl: FileSystem = {
  ...nodeFileSystem,
  writeAtomic(path, data, mode) {
    if (path.endsWith("crl.pem")) return Promise.reject(new Error("killed"));
    return nodeFileSystem.writeAtomic(path, data, mode);
  },
};

async function crashedRevoke() {
  const ctx = await newCaContext({ clock: fixedClock() });
  await initAuthority(ctx, { name: "cluster" });
  const { certificatePem, record } = await issueCertificate(ctx, { kind: "api", name: "alice" }, {
    dir: join(ctx.root, "out"),
  });
  const [leaf] = parsePeerCertificates([asDockerSendsIt(certificatePem)]);
  if (!leaf) throw new Error("no leaf");
  await expect(revokeCertificates({ ...ctx, fs: diesBeforeCrl }, { target: "alice" })).rejects.toThrow(
    "killed",
  );
  const files = caFiles(ctx.caDir);
  const ca = await readCaCertificate(nodeFileSystem, files);
  if (!ca) throw new Error("no CA");
  const crlSerials = () => readCrlSerials(nodeFileSystem, files.crl, ca);
  return { ctx, leaf, serial: record.serial, files, crlSerials };
}

describe("a revoke killed between index.json and crl.pem", () => {
  test("leaves the index revoked and the CRL without the serial (the state the fix must handle)", async () => {
    const { ctx, serial, files, crlSerials } = await crashedRevoke();
    const index = await readIndex(ctx.fs, files.index);
    expect(index.certificates.find((c) => c.serial === serial)?.revokedAt).toBeDefined();
    expect((await crlSerials())?.has(serial)).toBe(false);
  });

  test("the gate on the CA host still refuses the certificate", async () => {
    const { ctx, leaf, serial } = await crashedRevoke();
    const gate = await loadCertificateGate(nodeFileSystem, ctx.caDir, fixedClock());
    expect(gate?.check(leaf, "alice")).toEqual({
      allow: false,
      reason: `certificate ${serial} for alice was revoked`,
    });
  });

  test("running the revoke again publishes a CRL that lists it, then says nothing is left", async () => {
    const { ctx, serial, crlSerials } = await crashedRevoke();
    const again = await revokeCertificates(ctx, { target: "alice" });
    expect(again.revoked.map((c) => c.serial)).toEqual([serial]);
    expect((await crlSerials())?.has(serial)).toBe(true);
    const third = revokeCertificates(ctx, { target: "alice" });
    await expect(third).rejects.toBeInstanceOf(AgentError);
    await expect(third).rejects.toMatchObject({
      code: "ERR_CA_REVOKED",
      message: "already revoked: nothing left to revoke under that name or serial",
    });
  });

  test("a revoke of another certificate also carries the lost revocation into the CRL", async () => {
    const { ctx, serial, crlSerials } = await crashedRevoke();
    const bob = await issueCertificate(ctx, { kind: "api", name: "bob" }, { dir: join(ctx.root, "bob") });
    await revokeCertificates(ctx, { target: "bob" });
    const listed = await crlSerials();
    expect(listed?.has(serial)).toBe(true);
    expect(listed?.has(bob.record.serial)).toBe(true);
  });

  test("a corrupt index.json makes the gate load fail closed, naming the file", async () => {
    const { ctx, files } = await crashedRevoke();
    await nodeFileSystem.writeAtomic(files.index, "{ not json", 0o644);
    const load = loadCertificateGate(nodeFileSystem, ctx.caDir, fixedClock());
    await expect(load).rejects.toMatchObject({
      code: "ERR_STATE_CORRUPT",
      message: "the CA's issued-certificate index (index.json) is corrupt",
    });
  });
});
