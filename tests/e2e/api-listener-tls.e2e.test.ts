/**
 * The HTTPS listener's TLS material changing while `agent serve --listen` runs, never restarted:
 *
 * - `agent ca init --force`: client certificates of the new CA identify their users (the node list from a
 *   private dockerd), the old CA's no longer do, and the listener serves a certificate from the new CA;
 * - renewal: a listener certificate that comes within 30 days of expiry while serve runs (planted so that
 *   it does a few seconds after startup) is issued again and swapped in, and a connection opened before the
 *   swap is not dropped;
 * - --tls-cert and --tls-key replaced (as certbot does) are served after SIGHUP; a broken file is not.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { X509Certificate } from "node:crypto";
import { ensureListenerCertificate, LISTENER_RENEW_DAYS, listenerNames } from "../../src/ca/index.ts";
import { DEFAULT_LEAF_DAYS } from "../../src/ca/validity.ts";
import { hostNames } from "../../src/runtime/host-names.ts";
import { nodeFileSystem } from "../../src/runtime/node-file-system.ts";
import {
  agentCli,
  type AgentProcess,
  e2eUnavailable,
  freePort,
  type GuardedHost,
  opensslTls,
  run,
  skipBanner,
  startAgent,
  startGuardedHost,
  tempDir,
  type TlsFiles,
  waitFor,
} from "./harness.ts";

const unavailable = e2eUnavailable() ?? (Bun.which("curl") ? undefined : "curl is not installed");
if (unavailable) skipBanner("api-listener-tls.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

const DAY = 86_400_000;
/** The planted certificate comes within 30 days of expiry this long after it is planted. */
const RENEWAL_IN_MS = 12_000;

const POLICY = `version: 1
rules:
  - id: ops-info
    who: ["ou:ops"]
    allow: ["system:info"]
  - id: local-list          # the harness pings dockerd over the unix socket (anonymous)
    who: [anonymous]
    allow: ["container:list"]
`;

/** The certificate a TLS client is served (fingerprint, issuer CN, expiry), verified against `caPem` when given. */
function served(
  port: number,
  caPem?: string,
): Promise<{ fingerprint: string; issuer: string; validTo: Date }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      ...(caPem === undefined ? { rejectUnauthorized: false } : { ca: caPem }),
    });
    socket.once("secureConnect", () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      resolve({
        fingerprint: cert.fingerprint256,
        issuer: String(cert.issuer.CN),
        validTo: new Date(cert.valid_to),
      });
    });
    socket.once("error", reject);
  });
}

const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;

/**
 * A keep-alive connection that asks for the node list (401: no credentials) every second, so the listener's
 * idle limit (10 s) never closes it; it counts the answers and notes if the connection closes.
 */
interface KeptConnection {
  readonly socket: TLSSocket;
  answers(): number;
  closed(): boolean;
  stop(): void;
}

async function keepConnection(port: number): Promise<KeptConnection> {
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, servername: "localhost", rejectUnauthorized: false });
    s.once("secureConnect", () => resolve(s));
    s.once("error", reject);
  });
  let text = "";
  let closed = false;
  socket.on("data", (d: Buffer) => (text += d.toString("utf8")));
  socket.once("close", () => (closed = true));
  socket.on("error", () => {});
  const ask = () => socket.write("GET /api/infra/v1/node/ HTTP/1.1\r\nHost: localhost\r\n\r\n");
  ask();
  const timer = setInterval(ask, 1_000);
  return {
    socket,
    answers: () => text.split("HTTP/1.1 401").length - 1,
    closed: () => closed,
    stop() {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

maybe("the HTTPS listener's TLS material, changed while serve runs", () => {
  const plugin = `agent-listener-tls-e2e-${process.pid}`;
  const port = freePort();
  const renewPort = freePort();
  const givenPort = freePort();
  let dir: string;
  let state: string;
  let host: GuardedHost;
  // renewal
  let renewDir: string;
  let renewAgent: AgentProcess;
  let planted: { pem: string; notAfter: Date };
  let servedAtStart: string;
  let kept: KeptConnection;
  // --tls-cert
  let givenDir: string;
  let givenAgent: AgentProcess;
  let first: TlsFiles;
  let second: TlsFiles;

  const curl = async (cacert: string, certDir?: string) => {
    const cert = certDir === undefined
      ? []
      : ["--cert", join(certDir, "alice.crt"), "--key", join(certDir, "alice.key")];
    const r = await run([
      "curl",
      "-sS",
      "--max-time",
      "10",
      "--cacert",
      cacert,
      ...cert,
      "-w",
      "\n%{http_code}",
      `https://127.0.0.1:${port}/api/infra/v1/node/`,
    ]);
    const lines = r.stdout.trimEnd().split("\n");
    const status = Number(lines.pop());
    const body = lines.join("\n");
    return {
      code: r.code,
      status,
      body: body === "" ? undefined : (JSON.parse(body) as Record<string, unknown>),
    };
  };
  const ca = (...args: string[]) => agentCli(["ca", ...args, "--state-dir", state]);

  beforeAll(async () => {
    // Renewal first, so its few seconds pass while the rest starts: a CA, and a listener certificate of it
    // planted so that it comes within 30 days of expiry RENEWAL_IN_MS from now.
    renewDir = tempDir("listener-renew");
    const renewState = join(renewDir, "state");
    const init = await agentCli(["ca", "init", "--name", "renew-ca", "--state-dir", renewState]);
    if (init.code !== 0) throw new Error(`agent ca init failed: ${init.stderr}`);
    const here = hostNames();
    const names = listenerNames(here.hostname, "127.0.0.1", here.addresses);
    const plantedAt = Date.now();
    const issuedAt = plantedAt + RENEWAL_IN_MS + (LISTENER_RENEW_DAYS - DEFAULT_LEAF_DAYS) * DAY;
    const issued = await ensureListenerCertificate(
      {
        fs: nodeFileSystem,
        clock: () => new Date(issuedAt),
        random: (n) => crypto.getRandomValues(new Uint8Array(n)),
        caDir: join(renewState, "ca"),
      },
      join(renewState, "listener"),
      names,
    );
    planted = { pem: issued.certificatePem, notAfter: issued.notAfter };
    renewAgent = await startAgent({
      stateDir: renewState,
      socket: join(renewDir, "agent.sock"),
      args: ["--demo", "--listen", `127.0.0.1:${renewPort}`],
    });
    await waitFor("the renewal listener", async () => (await served(renewPort)).fingerprint !== "");
    servedAtStart = (await served(renewPort)).fingerprint;
    kept = await keepConnection(renewPort);

    // --tls-cert and --tls-key of openssl's, no CA in the state directory.
    givenDir = tempDir("listener-given");
    first = await opensslTls(join(givenDir, "first"), []);
    second = await opensslTls(join(givenDir, "second"), []);
    copyFileSync(first.serverCert, join(givenDir, "fullchain.pem"));
    copyFileSync(first.serverKey, join(givenDir, "privkey.pem"));
    givenAgent = await startAgent({
      stateDir: join(givenDir, "state"),
      socket: join(givenDir, "agent.sock"),
      args: [
        "--demo",
        "--listen",
        `127.0.0.1:${givenPort}`,
        "--tls-cert",
        join(givenDir, "fullchain.pem"),
        "--tls-key",
        join(givenDir, "privkey.pem"),
      ],
    });

    // The CA change, with a private dockerd for the node list.
    dir = tempDir("listener-tls");
    state = join(dir, "state");
    for (
      const args of [["init", "--name", "old-ca"], [
        "create-api-certificate",
        "alice",
        "--ou",
        "ops",
        "--out",
        join(dir, "old"),
      ]]
    ) {
      const r = await ca(...args);
      if (r.code !== 0) throw new Error(`agent ca ${args.join(" ")} failed: ${r.stderr}`);
    }
    copyFileSync(join(state, "ca", "cluster.crt"), join(dir, "old-ca.crt"));
    writeFileSync(join(dir, "policy.yaml"), POLICY);
    host = await startGuardedHost({
      dir,
      plugin,
      agent: {
        stateDir: state,
        policyFile: join(dir, "policy.yaml"),
        args: ["--listen", `127.0.0.1:${port}`, "--docker-socket", join(dir, "dockerd", "docker.sock")],
      },
    });
    await waitFor(
      "the HTTPS listener",
      async () => (await curl(join(dir, "old-ca.crt"))).status === 401,
      20_000,
    );
  }, 150_000);

  afterAll(async () => {
    kept?.stop();
    await host?.stop();
    await renewAgent?.stop();
    await givenAgent?.stop();
    for (const d of [renewDir, givenDir]) if (d !== undefined) rmSync(d, { recursive: true, force: true });
  }, 60_000);

  test(
    "after agent ca init --force, the new CA's client certificates identify users and the old CA's do not",
    async () => {
      const pid = host.agent.pid;
      expect((await curl(join(dir, "old-ca.crt"), join(dir, "old"))).status).toBe(200);

      const replaced = await ca("init", "--force", "--name", "new-ca");
      expect(replaced.code).toBe(0);
      expect(replaced.stderr).toContain("replaced the existing CA");
      await waitFor(
        "the listener to follow the new CA",
        () =>
          Promise.resolve(
            host.agent.log().includes(
              "HTTPS listener: client certificates are now verified against the new CA",
            ),
          ),
        20_000,
      );
      const made = await ca("create-api-certificate", "alice", "--ou", "ops", "--out", join(dir, "new"));
      expect(made.code).toBe(0);

      const newCa = join(state, "ca", "cluster.crt");
      const fresh = await curl(newCa, join(dir, "new"));
      expect(fresh.status).toBe(200);
      expect((fresh.body!["objects"] as unknown[]).length).toBe(1);
      const stale = await curl(newCa, join(dir, "old"));
      expect(stale.status).toBe(401);
      expect(stale.body!["error"]).toMatch(/^authentication required/);

      // The served certificate chains to the new CA, and no longer to the old one.
      const now = await served(port, readFileSync(newCa, "utf8"));
      expect(now.issuer).toBe("new-ca");
      await expect(served(port, readFileSync(join(dir, "old-ca.crt"), "utf8"))).rejects.toThrow();
      expect((await curl(join(dir, "old-ca.crt"))).code).toBe(60); // curl: the peer's certificate does not verify

      // One swap, one line, and the same process all along.
      const log = host.agent.log();
      const swaps = log.split("\n").filter((l) => l.includes("agent: HTTPS listener: "));
      expect(swaps).toHaveLength(1);
      expect(swaps[0]).toMatch(
        new RegExp(
          "agent: HTTPS listener: client certificates are now verified against the new CA in " +
            `${
              newCa.replaceAll("/", "\\/")
            } \\(CN=new-ca, OU=[0-9a-f-]{36}, SHA-256 fingerprint [0-9a-f]{64}\\); ` +
            "it now serves a certificate issued again from the agent's CA, " +
            `${join(state, "listener", "cert.pem").replaceAll("/", "\\/")} ` +
            "\\(the CA in the state directory did not issue the one in place\\), expiring [0-9T:.Z-]+$",
        ),
      );
      expect(log.split("HTTPS API listening on").length - 1).toBe(1);
      expect(host.agent.pid).toBe(pid);
      process.kill(pid, 0); // still running
    },
    60_000,
  );

  test(
    "a listener certificate that comes within 30 days of expiry is issued again while serve runs",
    async () => {
      const log = () => renewAgent.log();
      const listenerCert = join(renewAgent.stateDir, "listener", "cert.pem");
      // At startup it was good for more than 30 days: reused, and served.
      expect(log()).toContain(
        `HTTPS listener certificate ${listenerCert} (reused, expires ${planted.notAfter.toISOString()})`,
      );
      expect(servedAtStart).toBe(fingerprintOf(planted.pem));

      await waitFor(
        "the renewal",
        () => Promise.resolve(log().includes("HTTPS listener: it now serves")),
        60_000,
      );
      const line = log().split("\n").find((l) => l.includes("HTTPS listener: it now serves"))!;
      expect(line).toMatch(
        new RegExp(
          `agent: HTTPS listener: it now serves a certificate issued again from the agent's CA, ${
            listenerCert.replaceAll("/", "\\/")
          } \\(the one in place expires ${
            planted.notAfter.toISOString().replaceAll(".", "\\.")
          }, within 30 days\\), ` +
            "expiring [0-9T:.Z-]+$",
        ),
      );
      const caPem = readFileSync(join(renewAgent.stateDir, "ca", "cluster.crt"), "utf8");
      const renewed = await served(renewPort, caPem);
      expect(renewed.fingerprint).toBe(fingerprintOf(readFileSync(listenerCert, "utf8")));
      expect(renewed.fingerprint).not.toBe(fingerprintOf(planted.pem));
      expect(renewed.validTo.getTime()).toBeGreaterThan(planted.notAfter.getTime() + 300 * DAY);

      // The connection opened before the swap was not dropped: it keeps its certificate and gets answers.
      const before = kept.answers();
      await waitFor(
        "an answer on the connection opened before the swap",
        () => Promise.resolve(kept.answers() > before + 1),
      );
      expect(kept.closed()).toBe(false);
      expect(kept.socket.getPeerCertificate().fingerprint256).toBe(fingerprintOf(planted.pem));
      expect(
        log().split("\n").filter((l) => l.includes("agent: HTTPS listener: ")),
      ).toHaveLength(1);
    },
    90_000,
  );

  test("a replaced --tls-cert and --tls-key are served after SIGHUP; a broken one is not", async () => {
    const cert = join(givenDir, "fullchain.pem");
    const key = join(givenDir, "privkey.pem");
    expect((await served(givenPort)).fingerprint).toBe(fingerprintOf(readFileSync(first.serverCert, "utf8")));

    copyFileSync(second.serverCert, cert);
    copyFileSync(second.serverKey, key);
    process.kill(givenAgent.pid, "SIGHUP");
    await waitFor(
      "the new certificate",
      () => Promise.resolve(givenAgent.log().includes("HTTPS listener: it now serves")),
    );
    expect(givenAgent.log()).toMatch(
      new RegExp(
        `agent: HTTPS listener: it now serves the new --tls-cert ${cert} \\(CN=localhost, expiring `,
      ),
    );
    const secondPrint = fingerprintOf(readFileSync(second.serverCert, "utf8"));
    expect((await served(givenPort)).fingerprint).toBe(secondPrint);

    writeFileSync(cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
    process.kill(givenAgent.pid, "SIGHUP");
    await waitFor(
      "the refusal",
      () => Promise.resolve(givenAgent.log().includes("keeping the last good ones")),
    );
    expect(givenAgent.log()).toContain(
      `agent: HTTPS listener: cannot use the new --tls-cert ${cert} and --tls-key ${key}, keeping the last good ones: ${cert} holds no PEM certificate`,
    );
    // A key of another certificate: the listener refuses the pair.
    copyFileSync(first.serverCert, cert);
    process.kill(givenAgent.pid, "SIGHUP");
    await waitFor("the second refusal", () => Promise.resolve(givenAgent.log().includes("does not match")));
    expect(givenAgent.log()).toContain(
      `keeping the last good ones: the key does not match the certificate [ERR_LISTEN]`,
    );
    expect((await served(givenPort)).fingerprint).toBe(secondPrint);
    expect(givenAgent.log().split("HTTPS API listening on").length - 1).toBe(1);
  }, 60_000);
});
