/**
 * Gateway mode end to end: the real docker CLI against `agent serve --listen ... --gateway` (the Engine API on
 * the agent's TLS port), forwarding to a private dockerd that also runs the agent as its authorization plugin.
 * Shown: the CLI with a client certificate and with an API key (HttpHeaders Authorization), run/exec/logs/ps,
 * `docker exec` without -i still printing (half-close forwarded), a deny in dockerd's words, one decision per
 * request (the plugin records the gateway's decision, never an anonymous one), the client's address in the
 * audit event and the macaroon `ip` caveat, and a gateway proof copied by another plugin in dockerd's chain
 * refused when replayed on dockerd's socket.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  agentCli,
  e2eUnavailable,
  type GatewayHost,
  type GuardedHost,
  registerPlugin,
  run,
  skipBanner,
  startGatewayHost,
  tempDir,
  waitFor,
} from "./harness.ts";

const unavailable = e2eUnavailable();
if (unavailable !== undefined && process.env["CI"] !== "true") skipBanner("gateway.e2e.test.ts", unavailable);

const POLICY = `version: 1
administrators: [admin]
groups:
  team: [alice, carol]
rules:
  - id: local
    who: anonymous
    allow: ["image:*", "system:ping", "container:list", "container:inspect"]
  - id: users
    who: [alice, bob, carol, admin]
    allow: ["container:*", "exec:*", "volume:*", "network:*", "system:*", "image:list", "image:inspect"]
  - id: admin
    who: [admin]
    allow: ["*"]
  - id: no-privileged
    who: "*"
    deny: [container:create]
    when: { privileged: true }
`;

interface AuditLine {
  readonly decisionId: string;
  readonly user: string | null;
  readonly action: string | null;
  readonly allow: boolean;
  readonly decidedBy: string;
  readonly door?: string;
  readonly clientAddress?: string;
  readonly apiDecisionId?: string;
  readonly phase: string;
  readonly uri: string | null;
}

describe.skipIf(unavailable !== undefined && process.env["CI"] !== "true")("gateway mode", () => {
  let gw: GatewayHost;
  let dir: string;
  let state: string;
  let host: GuardedHost;
  let port: number;
  const plugin = `agent-gw-${process.pid}`;
  /** The gateway's proofs a spy plugin in dockerd's chain saw (the replay test): secrets, like the keys. */
  const proofsSeen: { uri: string; proof: string }[] = [];
  const auditLines = (): AuditLine[] => gw.audit() as unknown as AuditLine[];
  const gatewayEnv = (user: string) => gw.env(user);
  const withCert = (user: string, args: string[], stdin?: string) => gw.docker(user, args, stdin);
  const withKey = (user: string, args: string[]) => gw.dockerWithKey(user, args);
  /** curl's answer status alone (stdout), for the requests the docker CLI cannot make. */
  const curlStatus = (args: string[]) =>
    run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", ...args]);
  /** A POST on dockerd's own socket with a proof header, as a local client would send it: its status. */
  const postOnSocket = (uri: string, proof: string) =>
    curlStatus([
      "--unix-socket",
      host.dockerd.socket,
      "-X",
      "POST",
      "-H",
      `X-Agent-Decision: ${proof}`,
      `http://docker${uri}`,
    ]);

  beforeAll(async () => {
    gw = await startGatewayHost({
      dir: tempDir("gateway"),
      plugin,
      policy: POLICY,
      users: ["alice", "bob", "carol", "admin"],
      keys: ["alice", "bob"],
      // The replay test adds a spy plugin to dockerd's chain while it runs.
      pluginsInConfig: true,
    });
    ({ dir, state, host, port } = gw);
  }, 180_000);

  afterAll(async () => {
    await host?.stop();
  }, 60_000);

  test("the docker CLI runs a container through the gateway with a client certificate", async () => {
    const r = await withCert("alice", [
      "run",
      "--rm",
      "--network",
      "none",
      "tiny:latest",
      "echo",
      "hello gateway",
    ]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("hello gateway\n");
    expect(r.code).toBe(0);
  }, 60_000);

  test(
    "and with an API key in HttpHeaders, verifying the agent with its CA and no client certificate",
    async () => {
      const r = await withKey("bob", [
        "run",
        "--rm",
        "--network",
        "none",
        "tiny:latest",
        "echo",
        "bob via key",
      ]);
      expect(r.stdout).toBe("bob via key\n");
      expect(r.code).toBe(0);
      // Streams with the key too: a hijacked exec (half-closed at once, no -i) and logs.
      expect(
        (await withKey("bob", [
          "run",
          "-d",
          "--name",
          "bob-key",
          "--network",
          "none",
          "tiny:latest",
          "sleep",
          "300",
        ])).code,
      )
        .toBe(0);
      expect((await withKey("bob", ["exec", "bob-key", "echo", "exec via key"])).stdout).toBe(
        "exec via key\n",
      );
      expect((await withKey("bob", ["logs", "bob-key"])).code).toBe(0);
      expect((await withKey("bob", ["rm", "-f", "bob-key"])).code).toBe(0);
      const wrong = await run(["docker", "ps"], {
        env: {
          DOCKER_HOST: `tcp://127.0.0.1:${port}`,
          DOCKER_TLS_VERIFY: "1",
          DOCKER_CERT_PATH: join(dir, "keyconfig-bob"),
          DOCKER_CONFIG: join(dir, "nokey"),
        },
      });
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toContain("authentication required");
    },
    60_000,
  );

  test(
    "docker exec without -i still prints (the client's half-close is forwarded, not taken for the end)",
    async () => {
      const started = await withCert("alice", [
        "run",
        "-d",
        "--name",
        "gw-exec",
        "--network",
        "none",
        "tiny:latest",
        "sleep",
        "300",
      ]);
      expect(started.code).toBe(0);
      const r = await withCert("alice", ["exec", "gw-exec", "echo", "from exec"]);
      expect(r.stdout).toBe("from exec\n");
      expect(r.code).toBe(0);
      const piped = await withCert("alice", ["exec", "-i", "gw-exec", "cat"], "line one\nline two\n");
      expect(piped.stdout).toBe("line one\nline two\n");
      const logs = await withCert("alice", ["logs", "gw-exec"]);
      expect(logs.code).toBe(0);
      const ps = await withCert("alice", ["ps", "--format", "{{.Names}}"]);
      expect(ps.stdout.split("\n")).toContain("gw-exec");
    },
    60_000,
  );

  test("a denied request is refused in dockerd's words, with the decision id", async () => {
    const r = await withCert("alice", [
      "run",
      "--rm",
      "--privileged",
      "--network",
      "none",
      "tiny:latest",
      "true",
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("authorization denied by agent");
    expect(r.stderr).toMatch(/decision [0-9a-f]+/);
  }, 60_000);

  test("one decision per request: the plugin records the gateway's decision, and the audit names the address", async () => {
    const r = await withCert("alice", ["inspect", "gw-exec"]);
    expect(r.code).toBe(0);
    const lines = auditLines();
    const gateway = lines.filter((l) => l.door === "gateway" && l.action === "container:inspect");
    expect(gateway.length).toBeGreaterThan(0);
    const last = gateway.at(-1)!;
    expect(last.user).toBe("alice");
    expect(last.clientAddress).toBe("127.0.0.1");
    const plugin = lines.filter((l) => l.apiDecisionId === last.decisionId);
    expect(plugin.map((l) => l.phase).sort()).toEqual(["request", "response"]);
    for (const l of plugin) expect(l.decidedBy).toBe("gateway");
    // Nothing the gateway forwarded was decided again as anonymous (and denied).
    expect(
      lines.filter((l) => l.door === undefined && l.user === null && !l.allow).map((l) =>
        `${l.phase} ${l.uri}`
      ),
    ).toEqual([]);
  });

  test("streams both ways: logs -f, events, cp in and out, save and load", async () => {
    const follow = Bun.spawn(["docker", "logs", "-f", "gw-exec"], {
      env: { ...process.env, ...gatewayEnv("alice") },
      stdout: "pipe",
      stderr: "pipe",
    });
    const events = Bun.spawn([
      "docker",
      "events",
      "--format",
      "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ], {
      env: { ...process.env, ...gatewayEnv("alice") },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      await Bun.sleep(500);
      const r = await withCert("alice", [
        "run",
        "--rm",
        "--name",
        "gw-evented",
        "--network",
        "none",
        "tiny:latest",
        "true",
      ]);
      expect(r.code).toBe(0);
      const seen: string[] = [];
      const reader = events.stdout.getReader();
      const decoder = new TextDecoder();
      await waitFor("the events through the gateway", async () => {
        const { value } = await reader.read();
        if (value !== undefined) seen.push(decoder.decode(value));
        return seen.join("").includes("container destroy gw-evented");
      }, 20_000);
      reader.releaseLock();
    } finally {
      events.kill();
      follow.kill();
    }
    const big = join(dir, "big.bin");
    writeFileSync(big, crypto.getRandomValues(new Uint8Array(8 * 1024 * 1024)).toString());
    expect((await withCert("alice", ["cp", big, "gw-exec:/big.bin"])).code).toBe(0);
    expect((await withCert("alice", ["cp", "gw-exec:/big.bin", join(dir, "big-back.bin")])).code).toBe(0);
    expect(readFileSync(join(dir, "big-back.bin")).equals(readFileSync(big))).toBe(true);
    const stats = await withCert("alice", ["stats", "--no-stream", "--format", "{{.Name}}", "gw-exec"]);
    expect(stats.stdout).toBe("gw-exec\n");
    const top = await withCert("alice", ["top", "gw-exec"]);
    expect(top.stdout).toContain("sleep");
    const saved = join(dir, "tiny.tar");
    expect((await withCert("admin", ["save", "-o", saved, "tiny:latest"])).code).toBe(0);
    const loaded = await withCert("admin", ["load", "-i", saved]);
    expect(loaded.stdout).toContain("tiny:latest");
    rmSync(saved);
  }, 120_000);

  test(
    "nothing is cut after an idle period: logs -f and attach stay open through 32 s of quiet",
    async () => {
      // Longer than every timer of the listener (10 s between requests, 30 s for a request and its answer).
      await withCert("alice", [
        "run",
        "-d",
        "--name",
        "gw-quiet",
        "--network",
        "none",
        "tiny:latest",
        "sh",
        "-c",
        "sleep 32; echo late",
      ]);
      const [logs, attach] = await Promise.all([
        run(["docker", "logs", "-f", "gw-quiet"], { env: gatewayEnv("alice"), timeoutMs: 90_000 }),
        run(["docker", "attach", "gw-quiet"], { env: gatewayEnv("alice"), timeoutMs: 90_000 }),
      ]);
      expect(logs.stdout).toBe("late\n");
      expect(attach.stdout).toBe("late\n");
    },
    120_000,
  );

  test("docker build streams its context through the gateway and the image runs", async () => {
    const context = join(dir, "build");
    mkdirSync(context, { recursive: true });
    writeFileSync(
      join(context, "Dockerfile"),
      'FROM tiny:latest\nRUN echo built > /built\nCMD ["cat", "/built"]\n',
    );
    const built = await run(["docker", "build", "-t", "gw-built:1", context], {
      env: { ...gatewayEnv("admin"), DOCKER_BUILDKIT: "0" },
      timeoutMs: 90_000,
    });
    expect(built.code).toBe(0);
    const ran = await withCert("admin", ["run", "--rm", "--network", "none", "gw-built:1"]);
    expect(ran.stdout).toBe("built\n");
  }, 120_000);

  test("interactive: docker run -it and exec -it through a pty", async () => {
    const viaPty = (user: string, command: string, input: string) =>
      run(["script", "-qec", command, "/dev/null"], {
        env: gatewayEnv(user),
        stdin: input,
        timeoutMs: 30_000,
      });
    const ran = await viaPty(
      "alice",
      "docker run -it --rm --network none tiny:latest sh",
      "echo in-run-$((6*7))\nexit\n",
    );
    expect(ran.stdout).toContain("in-run-42");
    const exec = await viaPty("alice", "docker exec -it gw-exec sh", "echo in-exec-$((6*7))\nexit\n");
    expect(exec.stdout).toContain("in-exec-42");
  }, 60_000);

  test(
    "a gateway proof copied by another plugin in dockerd's chain is refused when replayed on the socket",
    async () => {
      // A spy plugin after the agent in dockerd's chain sees every header, the proof included.
      const spySocket = join(dir, "spy.sock");
      const seen = proofsSeen;
      const spy = Bun.serve({
        unix: spySocket,
        async fetch(req) {
          const path = new URL(req.url, "http://spy").pathname;
          if (path === "/Plugin.Activate") return Response.json({ Implements: ["authz"] });
          const body = (await req.json()) as { RequestUri?: string; RequestHeaders?: Record<string, string> };
          const proof = Object.entries(body.RequestHeaders ?? {}).find(([k]) =>
            k.toLowerCase() === "x-agent-decision"
          );
          if (path === "/AuthZPlugin.AuthZReq" && proof !== undefined) {
            seen.push({ uri: body.RequestUri ?? "", proof: proof[1] });
          }
          return Response.json({ Allow: true });
        },
      });
      const spyName = `spy-gw-${process.pid}`;
      const unregister = registerPlugin(spyName, spySocket);
      const daemonJson = join(dir, "dockerd", "daemon.json");
      try {
        writeFileSync(daemonJson, JSON.stringify({ "authorization-plugins": [plugin, spyName] }));
        process.kill(host.dockerd.pid, "SIGHUP");
        await waitFor("the spy in dockerd's chain", async () => {
          await withCert("alice", ["pause", "gw-exec"]);
          await withCert("alice", ["unpause", "gw-exec"]);
          return seen.some((s) => s.uri.includes("/pause"));
        }, 20_000);
        const copied = seen.find((s) => s.uri.includes("/pause"))!;
        const replay = await postOnSocket(copied.uri, copied.proof);
        expect(replay.stdout).toBe("403");
        const forged = await postOnSocket(copied.uri, `${copied.proof.split(".")[0]}.${"0".repeat(32)}`);
        expect(forged.stdout).toBe("403");
        const inspected = await withCert("alice", ["inspect", "-f", "{{.State.Paused}}", "gw-exec"]);
        expect(inspected.stdout.trim()).toBe("false");
      } finally {
        writeFileSync(daemonJson, JSON.stringify({ "authorization-plugins": [plugin] }));
        process.kill(host.dockerd.pid, "SIGHUP");
        await Bun.sleep(500);
        unregister();
        await spy.stop(true);
        rmSync(spySocket, { force: true });
      }
    },
    60_000,
  );

  test(
    "agent apikey set writes the docker config; no key, Basic header or proof is printed or logged",
    async () => {
      const config = join(dir, "apikey-set");
      const set = await agentCli(["apikey", "set", "alice", "--ca", join(state, "ca", "cluster.crt")], {
        DOCKER_CONFIG: config,
        AGENT_APIKEY: gw.keys["alice"]!,
      });
      expect(set.code).toBe(0);
      // The wrong thing a user types: the key as an argument. Refused, and never echoed.
      const typed = await agentCli(["apikey", "set", "alice", gw.keys["alice"]!], { DOCKER_CONFIG: config });
      expect(typed.code).toBe(2);
      const env = { DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: "1", DOCKER_CONFIG: config };
      const ps = await run(["docker", "ps", "--format", "{{.Names}}"], { env });
      expect(ps.code).toBe(0);
      expect(ps.stdout).toContain("gw-exec");
      const asBob = await run(["docker", "ps"], {
        env: { ...env, DOCKER_CONFIG: join(dir, "keyconfig-bob") },
      });
      expect(asBob.code).toBe(0); // bob's key, from his own config
      const outputs = [
        set.stdout,
        set.stderr,
        typed.stdout,
        typed.stderr,
        ps.stdout,
        ps.stderr,
        asBob.stderr,
        host.agent.log(),
        host.dockerd.log(),
      ];
      outputs.push(readFileSync(join(state, "audit.log"), "utf8"));
      const secrets = [
        ...Object.values(gw.keys),
        ...Object.entries(gw.keys).map(([user, key]) => btoa(`${user}:${key}`)),
        ...proofsSeen.map((p) => p.proof.split(".")[1]!),
      ];
      expect(secrets.length).toBeGreaterThanOrEqual(5);
      const leaks = secrets.filter((secret) => outputs.some((text) => text.includes(secret)));
      expect(leaks).toEqual([]);
    },
    60_000,
  );

  test("the ip caveat holds at the gateway: allowed from 127.0.0.1, refused from 127.0.0.2", async () => {
    // Last in the file: from here on every request needs a macaroon.
    expect((await agentCli(["id", "init", "--state-dir", state])).code).toBe(0);
    const minted = await agentCli(["id", "create", "--ip", "127.0.0.1", "--state-dir", state]);
    expect(minted.code).toBe(0);
    const token = minted.stdout.trim().split("\n").pop()!;
    const curl = (from: string) =>
      curlStatus([
        "--interface",
        from,
        "--cacert",
        join(dir, "alice", "ca.pem"),
        "--cert",
        join(dir, "alice", "cert.pem"),
        "--key",
        join(dir, "alice", "key.pem"),
        "-H",
        `X-Macaroon: ${token}`,
        `https://127.0.0.1:${port}/v1.41/containers/json`,
      ]);
    await waitFor("the macaroon gate", async () => (await curl("127.0.0.2")).stdout === "403", 10_000);
    expect((await curl("127.0.0.1")).stdout).toBe("200");
    expect((await curl("127.0.0.2")).stdout).toBe("403");
    const denied = auditLines().filter((l) =>
      l.door === "gateway" && !l.allow && l.clientAddress === "127.0.0.2"
    );
    expect(denied.length).toBeGreaterThan(0);
  }, 60_000);
});
