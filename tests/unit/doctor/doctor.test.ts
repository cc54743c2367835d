import { afterAll, describe, expect, test } from "bun:test";
import { chmod, mkdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { AuditEvent } from "../../../src/audit/event.ts";
import { AUDIT_FILE_MODE, AuditSink } from "../../../src/audit/sink.ts";
import { initAuthority, issueCertificate, revokeCertificates } from "../../../src/ca/index.ts";
import { doctorExitCode, type Finding } from "../../../src/doctor/index.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { stateLayout } from "../../../src/store/layout.ts";
import { agent, fixedClock, removeTempRoots, tempRoot } from "../install/helpers.ts";
import {
  days,
  dockerdError,
  doctor,
  fakePlatform,
  finding,
  healthyHost,
  runningAgent,
  runningDockerd,
  snapshot,
  type TestHost,
} from "./helpers.ts";

afterAll(removeTempRoots);

const ORDER = ["socket", "docker", "policy", "state-dir", "ca", "certificates", "crl", "macaroon", "audit"];

const auditEvent = (): AuditEvent => ({
  time: "2026-03-01T12:00:00.000Z",
  decisionId: "000000000001",
  phase: "request",
  user: null,
  authMethod: null,
  method: "GET",
  uri: "/v1.41/info",
  action: "system:info",
  resources: {},
  allow: true,
  decidedBy: "all-gates",
  ruleId: "local-socket",
  reason: "allowed",
  code: null,
  policyHash: "h",
  status: null,
  durationMs: 0.01,
});

const caCtx = (host: TestHost, at = days(0)) => ({
  fs: nodeFileSystem,
  clock: fixedClock(at),
  random: (n: number) => crypto.getRandomValues(new Uint8Array(n)),
  caDir: stateLayout(host.stateDir).caDir,
});

describe("agent doctor on a healthy host", () => {
  test("reports every check ok, in a fixed order, and exits 0", async () => {
    const host = await healthyHost();
    const r = await doctor(host, runningAgent(host));
    expect(r.findings.map((f) => [f.check, f.status])).toEqual(ORDER.map((c) => [c, "ok"]));
    expect([r.code, r.status]).toEqual([0, "ok"]);
    expect(finding(r, "socket").message).toBe(
      `agent 1.2.3 answers on ${host.socket}; gates: policy, certificate.`,
    );
    expect(finding(r, "docker").message).toBe(
      `the running dockerd at ${host.dockerSocket} uses the plugin "agent" (${host.dockerConfig}).`,
    );
    expect(finding(r, "policy").message).toMatch(/^.*policy\.yaml loads: 1 rules, sha256 [0-9a-f]{12}\.$/);
    expect(finding(r, "ca").message).toMatch(
      /^the CA certificate \(CN=doctor-ca, OU=.*\) expires on 2036-02-\d\d \(in 3650 days\); signing key here \(the CA's host\)\.$/,
    );
    expect(finding(r, "certificates").message).toBe(
      "1 server/node certificate(s) in use; the first, server certificate docker1, expires on 2027-03-01 (in 365 days).",
    );
    expect(finding(r, "crl").message).toMatch(
      /crl\.pem is signed by this CA: 0 revoked, next update 2027-03-01\.$/,
    );
  });

  test("prints one line per check and a count without --json", async () => {
    const host = await healthyHost();
    const r = await agent(
      [
        "doctor",
        "--state-dir",
        host.stateDir,
        "--policy",
        host.policy,
        "--socket",
        host.socket,
        "--docker-config",
        host.dockerConfig,
      ],
      {
        platform: fakePlatform(runningAgent(host), [], {
          socket: host.dockerSocket,
          answer: runningDockerd(),
        }),
        clock: fixedClock(),
        env: { DOCKER_HOST: `unix://${host.dockerSocket}` },
      },
    );
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    expect(lines[0]).toStartWith("ok    socket        agent 1.2.3 answers on");
    expect(lines.at(-1)).toBe("0 failed, 0 warnings, 9 ok");
  });

  test("asks the agent GET / on its socket and dockerd GET /info on its own, and writes nothing anywhere", async () => {
    const host = await healthyHost({ macaroons: true });
    const calls: string[] = [];
    const before = await snapshot(host.root);
    await agent(
      [
        "doctor",
        "--state-dir",
        host.stateDir,
        "--policy",
        host.policy,
        "--socket",
        host.socket,
        "--docker-config",
        host.dockerConfig,
        "--docker-socket",
        host.dockerSocket,
      ],
      {
        platform: fakePlatform(runningAgent(host, ["policy", "certificate", "macaroon"]), calls),
        clock: fixedClock(),
      },
    );
    expect(calls).toEqual([`${host.socket} /`, `${host.dockerSocket} /info`]);
    expect(await snapshot(host.root)).toEqual(before);
  });

  test("--help documents the exit codes, 3 meaning warnings only", async () => {
    const r = await agent(["doctor", "--help"]);
    expect(r.out).toContain(
      "Exit codes: 0 everything ok, 1 something failed, 2 usage error, 3 warnings only.",
    );
  });
});

describe("exit codes", () => {
  const f = (status: Finding["status"]): Finding => ({ check: "x", status, message: "m" });
  test("0 when all ok, 3 with warnings only, 1 as soon as anything failed", () => {
    expect(doctorExitCode([f("ok"), f("ok")])).toBe(0);
    expect(doctorExitCode([f("ok"), f("warn")])).toBe(3);
    expect(doctorExitCode([f("warn"), f("fail"), f("ok")])).toBe(1);
    expect(doctorExitCode([])).toBe(0);
  });
});

describe("socket", () => {
  test("fails when there is no socket: the agent is not running", async () => {
    const host = await healthyHost();
    await rm(host.socket);
    const r = await doctor(host, runningAgent(host));
    expect(finding(r, "socket")).toEqual({
      check: "socket",
      status: "fail",
      message:
        `no socket at ${host.socket}: the agent is not running (systemctl status agent; journalctl -u agent).`,
    });
    expect(r.code).toBe(1);
  });

  test("fails when nothing answers on the socket (a stale socket)", async () => {
    const host = await healthyHost();
    const r = await doctor(host, () => {
      throw new Error("ECONNREFUSED");
    });
    expect(finding(r, "socket")).toEqual({
      check: "socket",
      status: "fail",
      message:
        `${host.socket} exists but no agent answers on it: a stale socket of a stopped agent? (systemctl restart agent)`,
    });
  });

  test("fails when something else answers", async () => {
    const host = await healthyHost();
    for (const answer of [{ hello: "world" }, null, ["agent"], { name: "other" }]) {
      const r = await doctor(host, () => answer);
      expect(finding(r, "socket").message).toBe(
        `something answers on ${host.socket}, but it is not the agent.`,
      );
    }
  });

  test("warns (exit 3) when the running agent is another version than this executable", async () => {
    const host = await healthyHost();
    const r = await doctor(host, () => ({ ...(runningAgent(host)() as object), version: "1.2.2" }));
    expect(finding(r, "socket")).toEqual({
      check: "socket",
      status: "warn",
      message:
        `the agent on ${host.socket} runs 1.2.2 but this executable is 1.2.3: restart it after an upgrade (systemctl restart agent).`,
    });
    expect([r.code, r.status]).toEqual([3, "warn"]);
  });

  test("warns when the running agent enforces another policy than the file", async () => {
    const host = await healthyHost();
    const r = await doctor(
      host,
      () => ({ ...(runningAgent(host)() as object), policyHash: "00".repeat(32) }),
    );
    expect(finding(r, "socket").status).toBe("warn");
    expect(finding(r, "socket").message).toContain(`enforces a different policy than ${host.policy}`);
  });

  test("warns, naming the piece and the reason, when the running agent cannot reload a piece of state", async () => {
    const host = await healthyHost();
    const broken = {
      digest: "aa",
      loadedAt: "2026-01-01T00:00:00.000Z",
      error: {
        code: "ERR_POLICY_INVALID",
        message: "policy.yaml:3:1: a rule must be a mapping",
        digest: "bb",
      },
    };
    const r = await doctor(host, () => ({ ...(runningAgent(host)() as object), state: { policy: broken } }));
    expect(finding(r, "socket")).toEqual({
      check: "socket",
      status: "warn",
      message: `the agent on ${host.socket} keeps the previous version of what it cannot reload ` +
        "(policy: policy.yaml:3:1: a rule must be a mapping [ERR_POLICY_INVALID]): fix the file; it reloads within a second.",
    });
  });

  test("warns when the running agent's gates differ from what the state directory switches on", async () => {
    const host = await healthyHost({ macaroons: true });
    const r = await doctor(host, runningAgent(host, ["policy", "certificate"]));
    expect(finding(r, "socket")).toEqual({
      check: "socket",
      status: "warn",
      message:
        `the agent on ${host.socket} runs the gates policy, certificate, but ${host.stateDir} switches on ` +
        "policy, certificate, macaroon: it uses another state directory, or its last reload failed (journalctl -u agent).",
    });
  });
});

describe("docker", () => {
  test("fails when neither the running dockerd nor daemon.json uses the plugin: nothing is enforced", async () => {
    const host = await healthyHost();
    await writeFile(host.dockerConfig, '{"debug": true}');
    for (const none of [null, []]) {
      expect(finding(await doctor(host, runningAgent(host), { daemon: runningDockerd(none) }), "docker"))
        .toEqual({
          check: "docker",
          status: "fail",
          message:
            `dockerd does not use the plugin, so nothing is enforced: the running dockerd at ${host.dockerSocket} ` +
            `uses no authorization plugin. Add "authorization-plugins": ["agent"] to ${host.dockerConfig} ` +
            "(agent install --configure-docker does it), then reload dockerd.",
        });
    }
    const other = await doctor(host, runningAgent(host), { daemon: runningDockerd(["opa"]) });
    expect(finding(other, "docker").message).toContain(`${host.dockerSocket} uses only opa. Add`);
  });

  test("passes (exit 0) when the plugin is on dockerd's command line only, as README step 3 and scripts/run start it", async () => {
    const host = await healthyHost();
    await writeFile(host.dockerConfig, "{}\n");
    const r = await doctor(host, runningAgent(host), { daemon: runningDockerd(["agent"]) });
    expect(finding(r, "docker")).toEqual({
      check: "docker",
      status: "ok",
      message:
        `the running dockerd at ${host.dockerSocket} uses the plugin "agent" (given on its command line; ` +
        `neither ${host.dockerConfig} nor a docker.service unit names it).`,
    });
    expect([r.code, r.status]).toEqual([0, "ok"]);
    await rm(host.dockerConfig); // a host without daemon.json at all
    expect(finding(await doctor(host, runningAgent(host)), "docker").status).toBe("ok");
  });

  test("fails when daemon.json names the plugin but the running dockerd does not use it (not reloaded)", async () => {
    const host = await healthyHost();
    expect(finding(await doctor(host, runningAgent(host), { daemon: runningDockerd(null) }), "docker"))
      .toEqual({
        check: "docker",
        status: "fail",
        message:
          `${host.dockerConfig} names the plugin "agent", but the running dockerd at ${host.dockerSocket} uses no ` +
          "authorization plugin, so nothing is enforced: reload dockerd (systemctl reload docker; restart it for a " +
          "flag in a docker.service unit).",
      });
  });

  test("counts the plugin's own refusal of GET /info (a macaroon gate, a policy) as proof dockerd uses it", async () => {
    const host = await healthyHost();
    await writeFile(host.dockerConfig, "{}\n");
    for (
      const [status, message] of [
        [403, "authorization denied by plugin agent: no macaroon in the request (decision 3a16357e617a)"],
        [500, "plugin agent failed with error: AuthZPlugin.AuthZReq: boom"],
      ] as const
    ) {
      const r = await doctor(host, runningAgent(host), { daemon: dockerdError(status, message) });
      expect(finding(r, "docker")).toEqual({
        check: "docker",
        status: "ok",
        message:
          `the running dockerd at ${host.dockerSocket} uses the plugin "agent" (given on its command ` +
          `line; neither ${host.dockerConfig} nor a docker.service unit names it): it refused the doctor's own ` +
          "GET /info, so dockerd asks it.",
      });
      expect(r.code).toBe(0);
    }
  });

  test("warns, and does not crash, when the running dockerd cannot be asked", async () => {
    const host = await healthyHost();
    const unreachable = () => {
      throw new Error("ECONNREFUSED");
    };
    const configured = finding(await doctor(host, runningAgent(host), { daemon: unreachable }), "docker");
    expect(configured).toEqual({
      check: "docker",
      status: "warn",
      message:
        `dockerd is configured to use the plugin "agent" (${host.dockerConfig}), but whether the running ` +
        `dockerd does is unknown: no Docker daemon answers on ${host.dockerSocket} ` +
        "(--docker-socket PATH, or DOCKER_HOST=unix://PATH, asks another dockerd).",
    });
    const slow = () => {
      throw new DOMException("The operation timed out.", "TimeoutError");
    };
    expect(finding(await doctor(host, runningAgent(host), { daemon: slow }), "docker").message).toContain(
      `unknown: GET /info on ${host.dockerSocket} got no answer within 3 s (dockerd waits that long for a plugin ` +
        "that does not answer)",
    );
    await rm(host.dockerSocket);
    const r = await doctor(host, runningAgent(host));
    expect(finding(r, "docker").message).toContain(
      `unknown: there is no Docker socket at ${host.dockerSocket}`,
    );
    expect([r.code, r.status]).toEqual([3, "warn"]);

    await writeFile(host.dockerConfig, "{}\n");
    const unconfigured = finding(await doctor(host, runningAgent(host)), "docker");
    expect(unconfigured.status).toBe("warn");
    expect(unconfigured.message).toStartWith(
      `neither ${host.dockerConfig} nor a docker.service unit names the plugin, and whether the running dockerd ` +
        `uses it is unknown: there is no Docker socket at ${host.dockerSocket}`,
    );
    expect(unconfigured.message).toEndWith(
      `Unless dockerd runs with --authorization-plugin=agent, nothing is enforced: add "authorization-plugins": ` +
        `["agent"] to ${host.dockerConfig} (agent install --configure-docker does it), then reload dockerd.`,
    );
  });

  test("warns when dockerd's answer does not tell (another plugin refused, an error, not JSON)", async () => {
    const host = await healthyHost();
    const cases: [() => unknown, string][] = [
      [
        dockerdError(403, "authorization denied by plugin opa: request rejected by administrative policy"),
        "the plugin opa refused the doctor's GET /info: \"authorization denied by plugin opa: request rejected " +
        'by administrative policy"',
      ],
      [dockerdError(500, "x".repeat(300)), `dockerd answered GET /info on ${host.dockerSocket} with 500 "`],
      [() => new Response("<html>"), `the answer to GET /info on ${host.dockerSocket} is not JSON`],
      [() => ({ ID: "x" }), `the answer to GET /info on ${host.dockerSocket} has no Plugins.Authorization`],
    ];
    for (const [daemon, why] of cases) {
      const f = finding(await doctor(host, runningAgent(host), { daemon }), "docker");
      expect(f.status).toBe("warn");
      expect(f.message).toContain(`whether the running dockerd does is unknown: ${why}`);
      expect(f.message.length).toBeLessThan(600);
    }
  });

  test("fails when dockerd cannot discover the socket (not in /run/docker/plugins, no spec)", async () => {
    const host = await healthyHost();
    await rm(join(host.specDir, "agent.spec"));
    expect(finding(await doctor(host, runningAgent(host)), "docker")).toEqual({
      check: "docker",
      status: "fail",
      message:
        `dockerd cannot find the plugin (dockerd is configured with agent): ${host.socket} is not in ` +
        `/run/docker/plugins and no spec file in ${host.specDir} points to it.`,
    });
  });

  test("finds the plugin by a NAME.json spec, under the spec's name", async () => {
    const host = await healthyHost();
    await rm(join(host.specDir, "agent.spec"));
    await writeFile(
      join(host.specDir, "guard.json"),
      JSON.stringify({ Name: "guard", Addr: `unix://${host.socket}` }),
    );
    await writeFile(host.dockerConfig, '{"authorization-plugins": ["opa", "guard"]}');
    const daemon = runningDockerd(["opa", "guard"]);
    expect(finding(await doctor(host, runningAgent(host), { daemon }), "docker")).toEqual({
      check: "docker",
      status: "ok",
      message:
        `the running dockerd at ${host.dockerSocket} uses the plugin "guard" (${host.dockerConfig}); together with opa (every plugin must allow).`,
    });
  });

  test("knows a socket in /run/docker/plugins needs no spec file", async () => {
    const host = await healthyHost();
    await rm(join(host.specDir, "agent.spec"));
    for (const socket of ["/run/docker/plugins/agent.sock", "/var/run/docker/plugins/agent/agent.sock"]) {
      const r = await doctor({ ...host, socket }, runningAgent(host));
      expect(finding(r, "docker")).toEqual({
        check: "docker",
        status: "ok",
        message:
          `the running dockerd at ${host.dockerSocket} uses the plugin "agent" (${host.dockerConfig}).`,
      });
    }
  });

  test("accepts --authorization-plugin from a docker.service drop-in", async () => {
    const host = await healthyHost();
    await rm(host.dockerConfig);
    const dropIns = host.path("etc/systemd/system/docker.service.d");
    await mkdir(dropIns, { recursive: true });
    await writeFile(
      join(dropIns, "authz.conf"),
      "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd --authorization-plugin=agent\n",
    );
    expect(finding(await doctor(host, runningAgent(host)), "docker")).toEqual({
      check: "docker",
      status: "ok",
      message: `the running dockerd at ${host.dockerSocket} uses the plugin "agent" (${
        join(dropIns, "authz.conf")
      }).`,
    });
  });

  test("fails when both a flag and daemon.json set plugins (dockerd refuses to start)", async () => {
    const host = await healthyHost();
    const dropIns = host.path("etc/systemd/system/docker.service.d");
    await mkdir(dropIns, { recursive: true });
    await writeFile(
      join(dropIns, "authz.conf"),
      "[Service]\nExecStart=/usr/sbin/dockerd --authorization-plugin=agent\n",
    );
    const message = finding(await doctor(host, runningAgent(host)), "docker");
    expect(message.status).toBe("fail");
    expect(message.message).toContain("dockerd refuses to start");
  });

  test("fails on a malformed daemon.json with the install's message", async () => {
    const host = await healthyHost();
    await writeFile(host.dockerConfig, "{");
    expect(finding(await doctor(host, runningAgent(host)), "docker")).toEqual({
      check: "docker",
      status: "fail",
      message: `${host.dockerConfig} is not valid JSON: fix it by hand (nothing was changed)`,
    });
  });
});

describe("policy", () => {
  test("fails on a policy that does not load, citing the line", async () => {
    const host = await healthyHost();
    await writeFile(host.policy, "version: 1\nrules:\n  - id: x\n    who: [bob]\n    allow: [nope:nope]\n");
    const f = finding(await doctor(host, () => ({})), "policy");
    expect(f.status).toBe("fail");
    expect(f.message).toMatch(
      /policy\.yaml:5:\d+: .*: the agent does not start with it \(a running agent keeps its previous policy\)\.$/,
    );
  });

  test("fails when there is no policy file", async () => {
    const host = await healthyHost();
    await rm(host.policy);
    const f = finding(await doctor(host, runningAgent(host)), "policy");
    expect(f.status).toBe("fail");
    expect(f.message).toStartWith(`no policy file at ${host.policy}: `);
  });

  test("warns when group or others can change the policy", async () => {
    const host = await healthyHost();
    await chmod(host.policy, 0o664);
    expect(finding(await doctor(host, runningAgent(host)), "policy")).toEqual({
      check: "policy",
      status: "warn",
      message:
        `${host.policy} is writable by group or others (mode 0664): whoever can write it decides who may do ` +
        `what on this host. chmod 644 ${host.policy}`,
    });
  });
});

describe("state-dir", () => {
  test("fails when group or others can write it, warns when they can read it", async () => {
    const host = await healthyHost();
    await chmod(host.stateDir, 0o777);
    expect(finding(await doctor(host, runningAgent(host)), "state-dir")).toEqual({
      check: "state-dir",
      status: "fail",
      message:
        `${host.stateDir} is writable by group or others (mode 0777): they could replace the keys or the CA. chmod 700 ${host.stateDir}`,
    });
    await chmod(host.stateDir, 0o750);
    expect(finding(await doctor(host, runningAgent(host)), "state-dir")).toEqual({
      check: "state-dir",
      status: "warn",
      message: `${host.stateDir} is readable by group or others (mode 0750). chmod 700 ${host.stateDir}`,
    });
  });

  test("warns when it does not exist yet, fails when it is a file", async () => {
    const host = await healthyHost({ ca: false });
    await rm(host.stateDir, { recursive: true });
    expect(finding(await doctor(host, runningAgent(host, ["policy"])), "state-dir").status).toBe("warn");
    await writeFile(host.stateDir, "x");
    expect(finding(await doctor(host, runningAgent(host, ["policy"])), "state-dir")).toEqual({
      check: "state-dir",
      status: "fail",
      message: `${host.stateDir} is not a directory: move it away and restart the agent.`,
    });
  });
});

describe("ca, certificates, crl", () => {
  test("says the certificate gate is off when there is no CA", async () => {
    const host = await healthyHost({ ca: false });
    const r = await doctor(host, runningAgent(host, ["policy"]));
    expect(finding(r, "ca").status).toBe("ok");
    expect(finding(r, "ca").message).toContain("the certificate gate is off");
    expect(r.findings.map((f) => f.check)).not.toContain("crl");
    expect(r.code).toBe(0);
  });

  test("warns under 30 days before the CA expires, fails once it has", async () => {
    const host = await healthyHost();
    const soon = finding(await doctor(host, runningAgent(host), { at: days(3640) }), "ca");
    expect(soon.status).toBe("warn");
    expect(soon.message).toMatch(/expires on 2036-02-\d\d \(in 10 days\); signing key here/);
    const late = finding(await doctor(host, runningAgent(host), { at: days(3652) }), "ca");
    expect(late.status).toBe("fail");
    expect(late.message).toMatch(
      /expired on 2036-02-\d\d: every certificate it issued is refused\. Create a new CA and reissue\.$/,
    );
  });

  test("warns when a server certificate in the index expires within 30 days", async () => {
    const host = await healthyHost();
    const f = finding(await doctor(host, runningAgent(host), { at: days(350) }), "certificates");
    expect(f).toEqual({
      check: "certificates",
      status: "warn",
      message:
        "server certificate docker1 expires on 2027-03-01 (in 15 days). Renew with: agent ca renew NAME --kind server|node",
    });
  });

  test("looks only at the newest unrevoked certificate per server (renewed and revoked ones are not in use)", async () => {
    const host = await healthyHost();
    const later = caCtx(host, days(300));
    await issueCertificate(later, { kind: "server", name: "docker1", days: 365 }, { dir: host.path("out2") });
    await issueCertificate(later, { kind: "server", name: "old", days: 10 }, { dir: host.path("out3") });
    await revokeCertificates(later, { target: "old" });
    expect(finding(await doctor(host, runningAgent(host), { at: days(350) }), "certificates")).toEqual({
      check: "certificates",
      status: "ok",
      message:
        "1 server/node certificate(s) in use; the first, server certificate docker1, expires on 2027-12-26 (in 315 days).",
    });
  });

  test("says whether this host holds the CA key, and fails when the key is readable by others", async () => {
    const host = await healthyHost();
    const key = join(stateLayout(host.stateDir).caDir, "cluster.key");
    await chmod(key, 0o644);
    expect(finding(await doctor(host, runningAgent(host)), "ca")).toEqual({
      check: "ca",
      status: "fail",
      message:
        `${key} is readable by group or others (mode 0644): whoever reads it can issue certificates. chmod 600 ${key}`,
    });
    await rm(key);
    expect(finding(await doctor(host, runningAgent(host)), "ca").message).toEndWith(
      "certificate only (a fleet host).",
    );
  });

  test("fails on a CA certificate that is not a certificate", async () => {
    const host = await healthyHost();
    await writeFile(
      join(stateLayout(host.stateDir).caDir, "cluster.crt"),
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    const f = finding(await doctor(host, runningAgent(host)), "ca");
    expect(f.status).toBe("fail");
    expect(f.message).toContain("cluster.crt is not a readable certificate");
  });

  test("warns without crl.pem: revocations are not enforced here", async () => {
    const host = await healthyHost();
    const crl = join(stateLayout(host.stateDir).caDir, "crl.pem");
    await rm(crl);
    expect(finding(await doctor(host, runningAgent(host)), "crl")).toEqual({
      check: "crl",
      status: "warn",
      message:
        `no ${crl}: no certificate counts as revoked here. Copy crl.pem from the CA's host after every revoke.`,
    });
  });

  test("fails on a CRL signed by another CA (the agent would not start with it)", async () => {
    const host = await healthyHost();
    const other = await tempRoot("agent-other-ca-");
    await initAuthority({ ...caCtx(host), caDir: other }, { name: "other" });
    await writeFile(
      join(stateLayout(host.stateDir).caDir, "crl.pem"),
      await Bun.file(join(other, "crl.pem")).text(),
    );
    const f = finding(await doctor(host, runningAgent(host)), "crl");
    expect(f).toEqual({
      check: "crl",
      status: "fail",
      message:
        "the CRL (crl.pem) is unreadable or not signed by this CA: the agent will not start (or reload) with it.",
    });
  });

  test("warns when the CRL is past its next update", async () => {
    const host = await healthyHost();
    const f = finding(await doctor(host, runningAgent(host), { at: days(400) }), "crl");
    expect(f.status).toBe("warn");
    expect(f.message).toContain("is past its next update (2027-03-01): the agent still enforces it");
  });
});

describe("macaroon", () => {
  test("says the gate is on with the key count and current key id", async () => {
    const host = await healthyHost({ macaroons: true });
    const f = finding(
      await doctor(host, runningAgent(host, ["policy", "certificate", "macaroon"])),
      "macaroon",
    );
    expect(f.status).toBe("ok");
    expect(f.message).toMatch(/^macaroon gate on: 1 active root key\(s\), current key id [0-9a-f]{8}\.$/);
  });

  test("fails when keys.json is readable by others", async () => {
    const host = await healthyHost({ macaroons: true });
    const keys = stateLayout(host.stateDir).macaroonKeys;
    await chmod(keys, 0o644);
    expect(finding(await doctor(host, runningAgent(host, ["policy", "certificate", "macaroon"])), "macaroon"))
      .toEqual({
        check: "macaroon",
        status: "fail",
        message:
          `${keys} is readable by group or others (mode 0644): whoever reads it can mint tokens. chmod 600 ${keys}`,
      });
  });

  test("fails on a corrupt keyring without printing any of it", async () => {
    const host = await healthyHost({ macaroons: true });
    const keys = stateLayout(host.stateDir).macaroonKeys;
    const secret = "c2VjcmV0LXJvb3Qta2V5LW1hdGVyaWFsLXRoYXQtbXVzdC1ub3QtbGVhaw";
    await writeFile(keys, `{"version":1,"current":"x","keys":[{"id":"x","key":"${secret}"`, { mode: 0o600 });
    const r = await doctor(host, runningAgent(host, ["policy", "certificate", "macaroon"]));
    expect(finding(r, "macaroon").status).toBe("fail");
    expect(r.out + r.err).not.toContain(secret);
  });
});

describe("audit", () => {
  test("ok when the log is writable, fail when not, warn when others can read it", async () => {
    const host = await healthyHost();
    const log = stateLayout(host.stateDir).auditLog;
    await writeFile(log, "{}\n", { mode: 0o600 });
    expect(finding(await doctor(host, runningAgent(host)), "audit")).toEqual({
      check: "audit",
      status: "ok",
      message: `${log} is writable (0.0 MiB).`,
    });
    await chmod(log, 0o400);
    expect(finding(await doctor(host, runningAgent(host)), "audit")).toEqual({
      check: "audit",
      status: "fail",
      message: `${log} is not writable (mode 0400): decisions are not recorded. chmod 600 ${log}`,
    });
    await chmod(log, 0o644);
    expect(finding(await doctor(host, runningAgent(host)), "audit")).toEqual({
      check: "audit",
      status: "warn",
      message:
        `${log} is open to others, or writable by its group (mode 0644; the agent creates it 640): it records who ` +
        `did what. chmod 640 ${log}`,
    });
    await chmod(log, 0o660);
    expect(finding(await doctor(host, runningAgent(host)), "audit").status).toBe("warn");
  });

  test("accepts the mode the audit sink itself creates the log with (0640 under umask 022)", async () => {
    const host = await healthyHost();
    const log = stateLayout(host.stateDir).auditLog;
    const sink = new AuditSink(nodeFileSystem, { path: log, onError: () => {}, nowMs: () => 0 });
    const previous = process.umask(0o022);
    try {
      sink.write(auditEvent());
      await sink.flush();
    } finally {
      process.umask(previous);
    }
    expect((await stat(log)).mode & 0o777).toBe(AUDIT_FILE_MODE);
    expect(finding(await doctor(host, runningAgent(host)), "audit").status).toBe("ok");
  });

  test("fails when the audit log path is a directory", async () => {
    const host = await healthyHost();
    const log = host.path("audit-dir");
    await mkdir(log);
    expect(finding(await doctor(host, runningAgent(host), { args: ["--audit-log", log] }), "audit")).toEqual({
      check: "audit",
      status: "fail",
      message: `${log} is a directory, not the audit log: move it away.`,
    });
  });
});

describe("usage", () => {
  test("a flag given twice is a usage error (exit 2), not a guess", async () => {
    const host = await healthyHost();
    const r = await agent(["doctor", "--socket", host.socket, "--socket", "/elsewhere.sock"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /^agent: --socket (was given more than once|may be given only once) \[ERR_USAGE\]\n$/,
    );
  });
});
