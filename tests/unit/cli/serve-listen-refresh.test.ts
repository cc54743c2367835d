/**
 * `agent serve --listen` keeping its TLS material current while it runs (src/cli/serve-listen-refresh.ts),
 * with a fake listener, a clock and a monotonic time the test moves: its own certificate issued again when
 * it comes within 30 days of expiry, a new CA followed (client CA and a certificate from it), --tls-cert and
 * --tls-key read again when they change, and anything broken kept out with one log line.
 */
import "reflect-metadata";
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseListenAddress } from "../../../src/api/index.ts";
import {
  type CaContext,
  initAuthority,
  issueCertificate,
  LISTENER_RENEW_DAYS,
  parsePeerCertificatePems,
  readCaCertificate,
} from "../../../src/ca/index.ts";
import { caFiles } from "../../../src/ca/files.ts";
import type { CliContext } from "../../../src/cli/context.ts";
import { CHECK_INTERVAL_MS, ListenerRefresh } from "../../../src/cli/serve-listen-refresh.ts";
import { type ListenerTls, listenerTls } from "../../../src/cli/serve-https.ts";
import type { ListenPlan } from "../../../src/cli/serve-listen.ts";
import { AgentError } from "../../../src/errors.ts";
import type { HttpsTls, Platform } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { type StateLayout, stateLayout } from "../../../src/store/layout.ts";
import { removeTempDirs, seededRandom, tempDir } from "../../helpers/fixtures.ts";

afterAll(removeTempDirs);

const DAY = 86_400_000;
const START = new Date("2026-01-02T03:04:05.000Z");

interface World {
  readonly ctx: CliContext;
  readonly ca: CaContext;
  readonly layout: StateLayout;
  readonly root: string;
  readonly updates: HttpsTls[];
  readonly logs: string[];
  /** The fake listener refuses every update while this is set. */
  refuse: boolean;
  nowMs: number;
  monotonicMs: number;
}

let world: World;

beforeEach(async () => {
  const root = await tempDir("agent-listener-refresh-");
  const layout = stateLayout(join(root, "state"));
  const platform = new Proxy({} as Platform, {
    get(_, name) {
      if (name === "hostNames") return () => ({ hostname: "host-1.example", addresses: ["192.0.2.7"] });
      if (name === "monotonicMs") return () => world.monotonicMs;
      throw new Error(`not in this test (${String(name)})`);
    },
  });
  const random = seededRandom(root);
  const clock = () => new Date(world.nowMs);
  world = {
    ctx: {
      fs: nodeFileSystem,
      clock,
      random,
      env: {},
      output: { out: () => {}, err: () => {} },
      build: { version: "test", commit: "test" },
      platform,
    },
    ca: { fs: nodeFileSystem, clock, random, caDir: layout.caDir },
    layout,
    root,
    updates: [],
    logs: [],
    refuse: false,
    nowMs: START.getTime(),
    monotonicMs: 1_000,
  };
});

async function start(plan: ListenPlan): Promise<{ refresh: ListenerRefresh; tls: ListenerTls }> {
  const tls = await listenerTls(world.ctx, plan, world.layout);
  const refresh = await ListenerRefresh.start(world.ctx, {
    plan,
    layout: world.layout,
    tls,
    server: {
      updateTls(update) {
        if (world.refuse) throw new AgentError("ERR_LISTEN", "the key does not match the certificate");
        world.updates.push(update);
      },
    },
    log: (message) => void world.logs.push(message),
  });
  return { refresh, tls };
}

const OWN: ListenPlan = { address: parseListenAddress("127.0.0.1:8443") };

/** Checks as the reload loop does: a file change is acted on once it is the same on two checks. */
async function settle(refresh: ListenerRefresh): Promise<void> {
  await refresh.check(false);
  await refresh.check(false);
}

describe("the listener's own certificate, while serve runs", () => {
  test("nothing changed: no update and no log, on the full check and on SIGHUP alike", async () => {
    await initAuthority(world.ca, { name: "ca-one" });
    const { refresh } = await start(OWN);
    await settle(refresh);
    world.monotonicMs += CHECK_INTERVAL_MS;
    await refresh.check(false);
    await refresh.check(true);
    expect(world.updates).toEqual([]);
    expect(world.logs).toEqual([]);
  });

  test(`is issued again within ${LISTENER_RENEW_DAYS} days of expiry, at the first check then, and swapped in`, async () => {
    await initAuthority(world.ca, { name: "ca-one" });
    const { refresh, tls } = await start(OWN);
    const notAfter = tls.issued!.notAfter;
    world.nowMs = notAfter.getTime() - (LISTENER_RENEW_DAYS + 1) * DAY;
    await refresh.check(false);
    expect(world.updates).toEqual([]);
    world.nowMs = notAfter.getTime() - (LISTENER_RENEW_DAYS - 1) * DAY;
    await refresh.check(false);
    expect(world.updates).toHaveLength(1);
    const renewed = world.updates[0]!;
    expect(renewed.certificatePem).not.toBe(tls.certificatePem);
    expect(renewed.clientCaPem).toBe(tls.clientCaPem!);
    const leaf = parsePeerCertificatePems([renewed.certificatePem])[0]!;
    expect(leaf.notAfter.getTime()).toBeGreaterThan(notAfter.getTime());
    expect(world.logs).toEqual([
      `HTTPS listener: it now serves a certificate issued again from the agent's CA, ${
        join(world.layout.listenerDir, "cert.pem")
      } (the one in place expires ${notAfter.toISOString()}, within ${LISTENER_RENEW_DAYS} days), expiring ${leaf.notAfter.toISOString()}`,
    ]);
    expect(refresh.current.certificatePem).toBe(renewed.certificatePem);
    // Its own files changed; once settled they hold what is in force: nothing more to do.
    await settle(refresh);
    await refresh.check(true);
    expect(world.updates).toHaveLength(1);
    expect(world.logs).toHaveLength(1);
  });

  test("a new CA: client certificates verified against it, and a certificate from it, in one swap", async () => {
    await initAuthority(world.ca, { name: "ca-one" });
    const { refresh, tls } = await start(OWN);
    await initAuthority(world.ca, { name: "ca-two", force: true });
    await refresh.check(false); // files just changed: not yet
    expect(world.updates).toEqual([]);
    await refresh.check(false);
    expect(world.updates).toHaveLength(1);
    const ca = (await readCaCertificate(nodeFileSystem, caFiles(world.layout.caDir)))!;
    const update = world.updates[0]!;
    expect(update.clientCaPem).toBe(ca.pem);
    expect(update.clientCaPem).not.toBe(tls.clientCaPem!);
    const leaf = parsePeerCertificatePems([update.certificatePem])[0]!;
    expect(leaf.authorityKeyId).toBe(ca.keyId);
    expect(world.logs).toHaveLength(1);
    expect(world.logs[0]).toStartWith(
      `HTTPS listener: client certificates are now verified against the new CA in ${
        join(world.layout.caDir, "cluster.crt")
      } (CN=ca-two, OU=`,
    );
    expect(world.logs[0]).toMatch(
      /, SHA-256 fingerprint [0-9a-f]{64}\); it now serves a certificate issued again/,
    );
    expect(world.logs[0]).toContain(
      "(the CA in the state directory did not issue the one in place), expiring ",
    );
    await settle(refresh);
    expect(world.updates).toHaveLength(1);
  });

  test("a SIGHUP acts at once on a new CA", async () => {
    await initAuthority(world.ca, { name: "ca-one" });
    const { refresh } = await start(OWN);
    await initAuthority(world.ca, { name: "ca-two", force: true });
    await refresh.check(true);
    expect(world.updates).toHaveLength(1);
  });

  test("a renewal that fails keeps the certificate, says why once, and is tried again later", async () => {
    await initAuthority(world.ca, { name: "ca-one" });
    const { refresh, tls } = await start(OWN);
    const key = caFiles(world.layout.caDir).privateKey;
    await rename(key, `${key}.away`);
    world.nowMs = tls.issued!.notAfter.getTime() - (LISTENER_RENEW_DAYS - 1) * DAY;
    await refresh.check(false);
    await settle(refresh);
    expect(world.updates).toEqual([]);
    expect(world.logs).toHaveLength(1);
    expect(world.logs[0]).toStartWith(
      `HTTPS listener: cannot issue its certificate again from the agent's CA, keeping the one in force (it expires ${
        tls.issued!.notAfter.toISOString()
      }): the CA private key is not in `,
    );
    expect(world.logs[0]).toEndWith(
      `[ERR_CA_MISSING]; trying again in ${
        CHECK_INTERVAL_MS / 60_000
      } minutes, on SIGHUP or when the CA changes`,
    );
    world.monotonicMs += CHECK_INTERVAL_MS;
    await refresh.check(false); // tried again: the same problem is not logged again
    expect(world.logs).toHaveLength(1);
    await refresh.check(true); // SIGHUP: said again
    expect(world.logs).toHaveLength(2);
    await rename(`${key}.away`, key);
    await settle(refresh);
    expect(world.updates).toHaveLength(1);
    expect(world.logs[2]).toContain("it now serves a certificate issued again from the agent's CA");
  });

  test("a listener that refuses the new certificate keeps the old one, and the log says so", async () => {
    await initAuthority(world.ca, { name: "ca-one" });
    const { refresh, tls } = await start(OWN);
    world.refuse = true;
    world.nowMs = tls.issued!.notAfter.getTime() - (LISTENER_RENEW_DAYS - 1) * DAY;
    await refresh.check(false);
    expect(world.logs).toEqual([
      "HTTPS listener: cannot use its new certificate, keeping the one in force: the key does not match the certificate [ERR_LISTEN]",
    ]);
    expect(refresh.current.certificatePem).toBe(tls.certificatePem);
    world.refuse = false;
    world.monotonicMs += CHECK_INTERVAL_MS;
    await refresh.check(false);
    expect(world.updates).toHaveLength(1);
    expect(refresh.current.certificatePem).not.toBe(tls.certificatePem);
  });

  test("a CA near its own end: the certificate is not issued again on every check, and the log says why", async () => {
    await initAuthority(world.ca, { name: "short-ca", days: 40 });
    const { refresh, tls } = await start(OWN);
    world.nowMs += 12 * DAY; // within 30 days of the certificate's end, but the CA cannot do better
    await refresh.check(false);
    await refresh.check(false);
    world.monotonicMs += CHECK_INTERVAL_MS;
    await refresh.check(false);
    expect(world.updates).toEqual([]);
    expect(world.logs).toHaveLength(1);
    expect(world.logs[0]).toStartWith(
      `HTTPS listener: its certificate expires ${
        tls.issued!.notAfter.toISOString()
      }, and the agent's CA (it expires `,
    );
    expect(world.logs[0]).toEndWith(
      "cannot issue one that expires later: replace the CA, or pass --tls-cert and --tls-key",
    );
  });
});

describe("--tls-cert and --tls-key, while serve runs", () => {
  async function pair(name: string): Promise<{ cert: string; key: string }> {
    const r = await issueCertificate(world.ca, { kind: "server", name }, {
      dir: join(world.root, "issued"),
      force: true,
    });
    return { cert: r.certificatePem, key: await nodeFileSystem.readText(r.paths.privateKey) };
  }

  async function given(first: { cert: string; key: string }): Promise<ListenPlan> {
    const file = join(world.root, "fullchain.pem");
    const keyFile = join(world.root, "privkey.pem");
    await writeFile(file, first.cert);
    await writeFile(keyFile, first.key);
    return {
      address: OWN.address,
      given: { file, keyFile, certificatePem: first.cert, privateKeyPem: first.key },
    };
  }

  test("are read again when they change; a broken file keeps the last good ones and says why", async () => {
    await initAuthority(world.ca, { name: "ca-one" });
    const one = await pair("one.example");
    const two = await pair("two.example");
    const plan = await given(one);
    const { file, keyFile } = plan.given!;
    const { refresh } = await start(plan);
    await settle(refresh);
    expect(world.updates).toEqual([]);

    await writeFile(file, two.cert);
    await writeFile(keyFile, two.key);
    await settle(refresh);
    expect(world.updates.map((u) => u.certificatePem)).toEqual([two.cert]);
    const leaf = parsePeerCertificatePems([two.cert])[0]!;
    expect(world.logs).toEqual([
      `HTTPS listener: it now serves the new --tls-cert ${file} (CN=two.example, expiring ${leaf.notAfter.toISOString()})`,
    ]);

    await writeFile(file, "not a certificate");
    await settle(refresh);
    await settle(refresh);
    const broken =
      `HTTPS listener: cannot use the new --tls-cert ${file} and --tls-key ${keyFile}, keeping the last good ones: ${file} holds no PEM certificate`;
    expect(world.logs.slice(1)).toEqual([broken]);
    await refresh.check(true); // SIGHUP says it again
    expect(world.logs.slice(1)).toEqual([broken, broken]);
    expect(refresh.current.certificatePem).toBe(two.cert);

    // A pair the listener refuses (its key does not match) is kept out too.
    world.refuse = true;
    await writeFile(file, one.cert);
    await settle(refresh);
    expect(world.logs.at(-1)).toBe(
      `HTTPS listener: cannot use the new --tls-cert ${file} and --tls-key ${keyFile}, keeping the last good ones: the key does not match the certificate [ERR_LISTEN]`,
    );
    world.refuse = false;
    await writeFile(keyFile, one.key);
    await settle(refresh);
    expect(world.updates.map((u) => u.certificatePem)).toEqual([two.cert, one.cert]);
    expect(refresh.current.privateKeyPem).toBe(one.key);
  });

  test("a new CA is followed for client certificates, the given certificate kept", async () => {
    await initAuthority(world.ca, { name: "ca-one" });
    const one = await pair("one.example");
    const { refresh } = await start(await given(one));
    await initAuthority(world.ca, { name: "ca-two", force: true });
    await settle(refresh);
    const ca = (await readCaCertificate(nodeFileSystem, caFiles(world.layout.caDir)))!;
    expect(world.updates).toEqual([{
      certificatePem: one.cert,
      privateKeyPem: one.key,
      clientCaPem: ca.pem,
    }]);
    expect(world.logs).toHaveLength(1);
    expect(world.logs[0]).toContain("client certificates are now verified against the new CA");
  });

  test("started without a CA: a CA made later is not used, and the log says to restart, once", async () => {
    const other: CaContext = { ...world.ca, caDir: join(world.root, "elsewhere", "ca") };
    await initAuthority(other, { name: "ca-elsewhere" });
    const one = await issueCertificate(other, { kind: "server", name: "one.example" }, {
      dir: join(world.root, "issued"),
    });
    const { refresh, tls } = await start(
      await given({ cert: one.certificatePem, key: await nodeFileSystem.readText(one.paths.privateKey) }),
    );
    expect(tls.clientCaPem).toBeUndefined();
    await initAuthority(world.ca, { name: "ca-late" });
    await settle(refresh);
    await refresh.check(true);
    expect(world.updates).toEqual([]);
    expect(world.logs).toEqual([
      `HTTPS listener: there is a CA in ${
        join(world.layout.caDir, "cluster.crt")
      } now, but the listener started without one and asks for no client certificates: restart serve to accept them`,
    ]);
  });
});
