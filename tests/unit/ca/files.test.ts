import "reflect-metadata";
import { afterAll, describe, expect, test } from "bun:test";
import { lstat, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { initAuthority, issueCertificate } from "../../../src/ca/index.ts";
import { newCaContext, removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);

async function mode(path: string): Promise<number> {
  return (await lstat(path)).mode & 0o777;
}

describe("CA directory files", () => {
  test("the CA dir is 0700, the key 0600, the certificate, CRL and index 0644", async () => {
    const ctx = await newCaContext();
    const { files } = await initAuthority(ctx);
    expect(await mode(files.dir)).toBe(0o700);
    expect(await mode(files.privateKey)).toBe(0o600);
    expect(await mode(files.certificate)).toBe(0o644);
    expect(await mode(files.crl)).toBe(0o644);
    expect(await mode(files.index)).toBe(0o644);
    const key = await readFile(files.privateKey, "utf8");
    expect(key.startsWith("-----BEGIN PRIVATE KEY-----\n")).toBe(true);
    expect(key).not.toContain("ENCRYPTED");
  });

  test("tightens an existing CA dir to 0700", async () => {
    const ctx = await newCaContext();
    await mkdir(ctx.caDir, { recursive: true, mode: 0o755 });
    await initAuthority(ctx);
    expect(await mode(ctx.caDir)).toBe(0o700);
  });

  test("refuses to overwrite an existing CA without force", async () => {
    const ctx = await newCaContext();
    const first = await initAuthority(ctx);
    const before = await readFile(first.files.privateKey, "utf8");
    await expect(initAuthority(ctx)).rejects.toMatchObject({
      code: "ERR_CA_EXISTS",
      message:
        "a certificate authority already exists here; `--force` replaces it (certificates it issued stop working)",
    });
    expect(await readFile(first.files.privateKey, "utf8")).toBe(before);
  });

  test("refuses when only a stray key is left behind", async () => {
    const ctx = await newCaContext();
    await mkdir(ctx.caDir, { recursive: true });
    await writeFile(join(ctx.caDir, "cluster.key"), "leftover");
    await expect(initAuthority(ctx)).rejects.toMatchObject({ code: "ERR_CA_EXISTS" });
  });

  test("force replaces the CA with a new key and a fresh index", async () => {
    const ctx = await newCaContext();
    const first = await initAuthority(ctx);
    await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: join(ctx.root, "out") });
    const second = await initAuthority(ctx, { force: true });
    expect(second.replaced).toBe(true);
    expect(second.clusterId).not.toBe(first.clusterId);
    expect(second.fingerprint).not.toBe(first.fingerprint);
    expect(await mode(second.files.privateKey)).toBe(0o600);
    const index = JSON.parse(await readFile(second.files.index, "utf8"));
    expect(index).toEqual({ version: 1, crlNumber: 1, certificates: [] });
  });
});

describe("issued certificate files", () => {
  test("NAME.crt is 0644 and NAME.key 0600; a missing --out dir is created 0700", async () => {
    const ctx = await newCaContext();
    await initAuthority(ctx);
    const out = join(ctx.root, "new", "dir");
    const { paths } = await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out });
    expect(paths).toEqual({
      certificate: join(out, "alice.crt"),
      privateKey: join(out, "alice.key"),
      caCertificate: undefined,
    });
    expect(await mode(paths.certificate)).toBe(0o644);
    expect(await mode(paths.privateKey)).toBe(0o600);
    expect(await mode(out)).toBe(0o700);
  });

  test("the Docker layout writes ca.pem (the CA certificate), cert.pem and key.pem", async () => {
    const ctx = await newCaContext();
    const { files } = await initAuthority(ctx);
    const out = join(ctx.root, "docker");
    const { paths } = await issueCertificate(ctx, { kind: "api", name: "alice" }, {
      dir: out,
      dockerLayout: true,
    });
    expect(paths).toEqual({
      certificate: join(out, "cert.pem"),
      privateKey: join(out, "key.pem"),
      caCertificate: join(out, "ca.pem"),
    });
    expect(await readFile(join(out, "ca.pem"), "utf8")).toBe(await readFile(files.certificate, "utf8"));
    expect(await mode(join(out, "key.pem"))).toBe(0o600);
    expect(await mode(join(out, "ca.pem"))).toBe(0o644);
  });

  test("refuses to overwrite existing files without force, before issuing anything", async () => {
    const ctx = await newCaContext();
    const { files } = await initAuthority(ctx);
    const out = join(ctx.root, "out");
    await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out });
    const key = await readFile(join(out, "alice.key"), "utf8");
    await expect(issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out })).rejects.toMatchObject({
      code: "ERR_STATE_EXISTS",
      message: `${
        join(out, "alice.key")
      } already exists: choose another --out directory or pass --force to replace it`,
    });
    expect(await readFile(join(out, "alice.key"), "utf8")).toBe(key);
    const index = JSON.parse(await readFile(files.index, "utf8"));
    expect(index.certificates).toHaveLength(1);
  });

  test("force replaces the key file with a fresh 0600 file rather than writing through it", async () => {
    const ctx = await newCaContext();
    await initAuthority(ctx);
    const out = join(ctx.root, "out");
    await mkdir(out, { recursive: true });
    const elsewhere = join(ctx.root, "elsewhere.txt");
    await writeFile(elsewhere, "not a key", { mode: 0o644 });
    await symlink(elsewhere, join(out, "alice.key"));
    await issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out, force: true });
    expect(await readFile(elsewhere, "utf8")).toBe("not a key");
    const key = await lstat(join(out, "alice.key"));
    expect(key.isSymbolicLink()).toBe(false);
    expect(key.mode & 0o777).toBe(0o600);
  });

  test("a planted symlink at the key path stops issuance without force", async () => {
    const ctx = await newCaContext();
    await initAuthority(ctx);
    const out = join(ctx.root, "out");
    await mkdir(out, { recursive: true });
    await symlink(join(ctx.root, "target"), join(out, "alice.key"));
    await expect(issueCertificate(ctx, { kind: "api", name: "alice" }, { dir: out })).rejects.toMatchObject({
      code: "ERR_STATE_EXISTS",
    });
  });

  test("IPv6 hosts get file names without colons", async () => {
    const ctx = await newCaContext();
    await initAuthority(ctx);
    const out = join(ctx.root, "out");
    const { paths } = await issueCertificate(ctx, { kind: "server", name: "fd00::5" }, { dir: out });
    expect(paths.certificate).toBe(join(out, "fd00__5.crt"));
  });
});
