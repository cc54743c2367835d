/**
 * The HTTPS listener's own certificate from the agent's CA: issued once, reused across restarts, issued again
 * when it nears expiry, when the names wanted change, when its key does not match, or when the CA changed.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFile } from "node:fs/promises";
import {
  ensureListenerCertificate,
  initAuthority,
  LISTENER_RENEW_DAYS,
  listenerNames,
  readIndex,
} from "../../../src/ca/index.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { newCaContext, openssl, removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);

const DAY = 86_400_000;
const NAMES = listenerNames("host-1.example", "192.0.2.7", ["192.0.2.7", "2001:db8::7"]);

async function setup() {
  const ctx = await newCaContext({ seed: "listener" });
  await initAuthority(ctx, { name: "listener-ca" });
  const dir = join(ctx.root, "state", "listener");
  return { ctx, dir };
}

describe("listener names", () => {
  test("the host name, the listen address and the host's addresses; loopback is always named by the issuer", () => {
    expect(NAMES).toEqual({
      name: "host-1.example",
      subjectAltNames: ["host-1.example", "192.0.2.7", "2001:db8::7"],
    });
    expect(listenerNames("Host_With_Underscore", undefined, ["127.0.0.1", "::1"])).toEqual({
      name: "localhost",
      subjectAltNames: [],
    });
    expect(listenerNames("VM", undefined, []).name).toBe("vm");
  });
});

describe("the listener certificate", () => {
  test("is issued by the agent's CA for the names, with the CA beside it (Docker's layout)", async () => {
    const { ctx, dir } = await setup();
    const issued = await ensureListenerCertificate(ctx, dir, NAMES);
    expect(issued).toMatchObject({
      status: "issued",
      why: "there was none yet",
      certificatePath: join(dir, "cert.pem"),
    });
    const text =
      openssl(["x509", "-noout", "-ext", "subjectAltName,extendedKeyUsage", "-in", join(dir, "cert.pem")])
        .stdout;
    for (
      const name of ["DNS:host-1.example", "DNS:localhost", "IP Address:127.0.0.1", "IP Address:192.0.2.7"]
    ) {
      expect(text).toContain(name);
    }
    expect(text).toContain("TLS Web Server Authentication");
    expect(openssl(["verify", "-CAfile", join(dir, "ca.pem"), join(dir, "cert.pem")]).code).toBe(0);
    expect(((await nodeFileSystem.stat(join(dir, "key.pem")))!.mode & 0o777).toString(8)).toBe("600");
    const index = await readIndex(nodeFileSystem, join(ctx.caDir, "index.json"));
    expect(index.certificates.filter((c) => c.kind === "server")).toHaveLength(1);
  });

  test("is reused across restarts while good", async () => {
    const { ctx, dir } = await setup();
    const first = await ensureListenerCertificate(ctx, dir, NAMES);
    const second = await ensureListenerCertificate(ctx, dir, NAMES);
    expect(second.status).toBe("reused");
    expect(second.certificatePem).toBe(first.certificatePem);
    expect(second.privateKeyPem).toBe(first.privateKeyPem);
  });

  test(`is issued again when it expires within ${LISTENER_RENEW_DAYS} days, saying so`, async () => {
    const { ctx, dir } = await setup();
    const first = await ensureListenerCertificate(ctx, dir, NAMES);
    const late = {
      ...ctx,
      clock: () => new Date(first.notAfter.getTime() - (LISTENER_RENEW_DAYS - 1) * DAY),
    };
    const renewed = await ensureListenerCertificate(late, dir, NAMES);
    expect(renewed.status).toBe("issued");
    expect(renewed.why).toBe(
      `the one in place expires ${first.notAfter.toISOString()}, within ${LISTENER_RENEW_DAYS} days`,
    );
    expect(renewed.certificatePem).not.toBe(first.certificatePem);
    const early = {
      ...ctx,
      clock: () => new Date(first.notAfter.getTime() - (LISTENER_RENEW_DAYS + 1) * DAY),
    };
    expect((await ensureListenerCertificate(early, join(ctx.root, "other"), NAMES)).status).toBe("issued");
  });

  test("is issued again when a wanted name is missing, or its key does not match", async () => {
    const { ctx, dir } = await setup();
    await ensureListenerCertificate(ctx, dir, NAMES);
    const moved = listenerNames("host-1.example", "198.51.100.9", []);
    const again = await ensureListenerCertificate(ctx, dir, moved);
    expect(again).toMatchObject({ status: "issued", why: "the one in place does not name 198.51.100.9" });
    // Fewer names than the certificate has is fine.
    expect((await ensureListenerCertificate(ctx, dir, listenerNames("host-1.example", undefined, []))).status)
      .toBe("reused");
    const other = join(ctx.root, "other-key");
    await ensureListenerCertificate(ctx, other, NAMES);
    await writeFile(join(dir, "key.pem"), await nodeFileSystem.readText(join(other, "key.pem")));
    expect((await ensureListenerCertificate(ctx, dir, moved)).why).toBe(
      "the key in place does not match the certificate",
    );
    await writeFile(join(dir, "cert.pem"), "garbage");
    expect((await ensureListenerCertificate(ctx, dir, moved)).why).toBe("the one in place could not be read");
  });

  test("is issued again by a new CA", async () => {
    const { ctx, dir } = await setup();
    await ensureListenerCertificate(ctx, dir, NAMES);
    await initAuthority(ctx, { name: "a new CA", force: true });
    expect((await ensureListenerCertificate(ctx, dir, NAMES)).why).toBe(
      "the CA in the state directory did not issue the one in place",
    );
  });

  test("a CA near its own end: kept within 30 days rather than issued again for no gain; once expired, refused", async () => {
    const ctx = await newCaContext({ seed: "listener-ending" });
    await initAuthority(ctx, { name: "ending-ca", days: 40 });
    const dir = join(ctx.root, "l");
    const first = await ensureListenerCertificate(ctx, dir, NAMES);
    for (const days of [12, 25, 37]) {
      const later = { ...ctx, clock: () => new Date(ctx.clock().getTime() + days * DAY) };
      expect((await ensureListenerCertificate(later, dir, NAMES)).status).toBe("reused");
    }
    const expired = { ...ctx, clock: () => new Date(first.notAfter.getTime() + 1_000) };
    await expect(ensureListenerCertificate(expired, dir, NAMES)).rejects.toMatchObject({
      code: "ERR_CA_VALIDITY",
    });
  });

  test("never outlives the CA, and a CA about to expire cannot issue one", async () => {
    const ctx = await newCaContext({ seed: "listener-short" });
    await initAuthority(ctx, { name: "short-ca", days: 40 });
    const issued = await ensureListenerCertificate(ctx, join(ctx.root, "l"), NAMES);
    expect(issued.notAfter.getTime()).toBeLessThan(ctx.clock().getTime() + 40 * DAY);
    const dying = await newCaContext({ seed: "listener-dying" });
    await initAuthority(dying, { name: "dying-ca", days: 1 });
    await expect(ensureListenerCertificate(dying, join(dying.root, "l"), NAMES)).rejects.toMatchObject({
      code: "ERR_CA_VALIDITY",
    });
  });
});
