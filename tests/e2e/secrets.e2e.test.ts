/**
 * No secret leaks into what the agent prints or logs. A realistic session (a private dockerd guarded by
 * the agent; `id init --secret`, minted and attenuated tokens, docker commands with good, narrowed,
 * tampered, revoked and missing tokens; a CA with an issued and a revoked certificate; error paths with
 * corrupt state and bad input) collects every CLI stdout/stderr, serve.log, dockerd.log and the audit
 * log, then scans them for root keys, passphrases, private keys and full tokens. The only place a token
 * may appear is the documented output of `id init/show/create/rotate` (their last stdout line).
 * API keys likewise: created, listed, revoked by id, prefix and full key, refused with a typo, picked up by
 * the running agent and met in a corrupt apikeys.json; a key may appear only as `apikey create`'s last
 * stdout line (not even the part after its display prefix, nor a near-miss of it, anywhere else).
 * The web console's own secrets (session cookies, CSRF tokens, keys typed at sign-in or made on the page, a
 * macaroon a session holds) are scanned for the same way at the end of console.e2e.test.ts, which has the
 * browser that holds them. Fleet secrets: fleet-secrets.e2e.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  agentCli,
  type Dockerd,
  e2eUnavailable,
  type GuardedHost,
  importTinyImage,
  type RunResult,
  skipBanner,
  startGuardedHost,
  tempDir,
  waitFor,
} from "./harness.ts";

const unavailable = e2eUnavailable();
if (unavailable) skipBanner("secrets.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

const POLICY = `version: 1
administrators: [anonymous]
rules:
  - id: local
    who: [anonymous]
    allow: ["*"]
  - id: nobody-privileged
    description: privileged containers are not allowed on this host
    who: ["*"]
    deny: [container:create]
    when: { privileged: true }
`;

const PASSPHRASE = "correct-horse-battery-staple-4711";
const FILE_PASSPHRASE = "another-secret-passphrase-0815";
const SHORT_PASSPHRASE = "s3cr3t!"; // too short: the error must not echo it

interface Captured {
  readonly what: string;
  readonly text: string;
}

/** Base64url and standard base64 of bytes, and lowercase hex: the forms a key could be printed in. */
function encodings(b64url: string): string[] {
  const std = b64url.replaceAll("-", "+").replaceAll("_", "/");
  const bytes = Uint8Array.from(atob(std + "=".repeat((4 - (std.length % 4)) % 4)), (c) => c.charCodeAt(0));
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return [b64url, std.replace(/=+$/, ""), hex];
}

maybe("secrets never appear in logs, audit events, errors or CLI output", () => {
  const plugin = `agent-secrets-${process.pid}`;
  let dir: string;
  let state: string;
  let config: string;
  let host: GuardedHost;
  let dockerd: Dockerd;
  const captured: Captured[] = [];
  const tokens: string[] = [];
  const rootKeys = new Set<string>();
  const apiKeys: string[] = [];
  /** Text that is nearly a key (one character changed): as secret as the key itself. */
  const nearMisses: string[] = [];

  /** Runs `agent args`, keeping everything it printed; `tokenOut` drops the documented token line. */
  const agent = async (
    args: string[],
    opts: { tokenOut?: boolean; keyOut?: boolean; env?: Record<string, string> } = {},
  ) => {
    const r = await agentCli(args, { DOCKER_CONFIG: config, ...opts.env });
    const lines = r.stdout.trimEnd().split("\n");
    const token = (opts.tokenOut || opts.keyOut) && r.code === 0 ? lines.pop() : undefined;
    if (token !== undefined) (opts.keyOut ? apiKeys : tokens).push(token);
    captured.push({ what: `agent ${args.slice(0, 2).join(" ")} stdout`, text: lines.join("\n") });
    captured.push({ what: `agent ${args.slice(0, 2).join(" ")} stderr`, text: r.stderr });
    return { ...r, token: token ?? "" };
  };
  const id = (args: string[], tokenOut = false) => agent(["id", ...args, "--state-dir", state], { tokenOut });
  const ca = (args: string[]) => agent(["ca", ...args, "--state-dir", state]);
  const apikey = (args: string[], keyOut = false) =>
    agent(["apikey", ...args, "--state-dir", state], { keyOut });
  /** docker with a token via `agent id exec` (also the docker CLI's own output is scanned). */
  const docker = async (token: string, args: string[]): Promise<RunResult> => {
    const r = await agent([
      "id",
      "exec",
      "--state-dir",
      state,
      token,
      "--",
      "docker",
      "-H",
      `unix://${dockerd.socket}`,
      ...args,
    ]);
    return r;
  };
  const noteKeys = () => {
    const ring = JSON.parse(readFileSync(join(state, "macaroon", "keys.json"), "utf8")) as {
      keys: { key: string }[];
    };
    for (const k of ring.keys) for (const e of encodings(k.key)) rootKeys.add(e);
  };

  beforeAll(async () => {
    dir = tempDir("secrets");
    state = join(dir, "state");
    writeFileSync(join(dir, "policy.yaml"), POLICY);
    const dockerdDir = join(dir, "dockerd");
    config = join(dockerdDir, "docker-config");
    host = await startGuardedHost({
      dir,
      plugin,
      dockerdDir,
      agent: {
        stateDir: state,
        policyFile: join(dir, "policy.yaml"),
        args: ["--docker-socket", join(dockerdDir, "docker.sock")],
      },
    });
    dockerd = host.dockerd;
    await importTinyImage(dockerd, dir);
  }, 180_000);

  afterAll(async () => {
    await host?.stop();
  }, 60_000);

  test("a realistic session runs (its outcomes are checked as it goes)", async () => {
    // Bad input first: a too-short passphrase is refused without being echoed.
    expect((await id(["init", "--secret", SHORT_PASSPHRASE])).code).toBe(2);
    const root = await id(["init", "--secret", PASSPHRASE], true);
    expect(root.code).toBe(0);
    noteKeys();
    await waitFor("the macaroon gate", async () => (await dockerd.docker(["ps"])).code !== 0, 20_000);
    expect((await id(["show"], true)).code).toBe(0);
    const read = await id(["create", "--op", "read"], true);
    expect(read.code).toBe(0);
    const narrowed = await id(["create", "--from", read.token, "--op", "read", "--expires", "600"], true);
    expect(narrowed.code).toBe(0);
    expect((await id(["create", "--secret", PASSPHRASE, "--op", "read"], true)).code).toBe(0);
    expect((await id(["inspect", narrowed.token])).code).toBe(0);

    expect((await docker(root.token, ["ps"])).code).toBe(0);
    expect((await docker(read.token, ["ps"])).code).toBe(0);
    expect((await docker(read.token, ["rm", "-f", "nothing-here"])).code).not.toBe(0);
    expect((await docker(root.token, ["run", "--rm", "--privileged", "tiny:latest", "true"])).code).not.toBe(
      0,
    );
    const tampered = root.token.slice(0, 30) + (root.token[30] === "A" ? "B" : "A") + root.token.slice(31);
    expect((await docker(tampered, ["ps"])).code).not.toBe(0);
    expect((await docker(root.token.slice(0, -3), ["ps"])).code).not.toBe(0);
    expect((await docker("not-a-token", ["ps"])).code).not.toBe(0);
    const none = await dockerd.docker(["ps"]);
    captured.push({ what: "docker ps without token", text: none.stdout + none.stderr });
    expect(none.code).not.toBe(0);

    expect((await id(["revoke", read.token])).code).toBe(0);
    await waitFor("the revocation", async () => (await docker(read.token, ["ps"])).code !== 0, 20_000);
    // Anyone may attenuate a token without checking it (the plugin checks on use).
    expect((await id(["create", "--from", tampered, "--op", "read"], true)).code).toBe(0);
    await id(["inspect", tampered]);
    expect((await id(["inspect", "AgIA" + "x".repeat(40)])).code).toBe(1);

    // A second root key, then the passphrase from a file on a second state dir.
    expect((await id(["rotate"], true)).code).toBe(0);
    noteKeys();
    const other = join(dir, "other");
    writeFileSync(join(dir, "pass.txt"), FILE_PASSPHRASE + "\n");
    const fromFile = await agent(
      ["id", "init", "--secret-file", join(dir, "pass.txt"), "--state-dir", other],
      {
        tokenOut: true,
      },
    );
    expect(fromFile.code).toBe(0);
    const otherRing = JSON.parse(readFileSync(join(other, "macaroon", "keys.json"), "utf8")) as {
      keys: { key: string }[];
    };
    for (const k of otherRing.keys) for (const e of encodings(k.key)) rootKeys.add(e);
    // Corrupt state: the error names the file, never its content.
    const ringText = readFileSync(join(other, "macaroon", "keys.json"), "utf8");
    writeFileSync(join(other, "macaroon", "keys.json"), ringText.slice(0, ringText.length - 40));
    expect((await agent(["id", "show", "--state-dir", other])).code).toBe(1);
    expect((await agent(["id", "create", "--state-dir", other])).code).toBe(1);
    const serve = await agent(["serve", "--state-dir", other, "--socket", join(dir, "x.sock"), "--demo"]);
    expect(serve.code).toBe(1);

    // The CA: issue, list, revoke; the private key goes to its file only.
    expect((await ca(["init", "--name", "secrets-test"])).code).toBe(0);
    expect((await ca(["create-api-certificate", "alice", "--out", join(dir, "alice")])).code).toBe(0);
    expect((await ca(["create-api-certificate", "alice", "--out", join(dir, "alice")])).code).toBe(1);
    expect((await ca(["list", "--json"])).code).toBe(0);
    expect((await ca(["revoke", "alice", "--reason", "keyCompromise"])).code).toBe(0);
    expect((await ca(["revoke", "alice"])).code).toBe(1);

    // API keys: the running agent picks each change up; the key is printed once, by create, and nowhere else.
    expect((await apikey(["create", "-alice"])).code).toBe(2);
    const laptop = await apikey(["create", "alice", "--name", "laptop", "--expires", "30d"], true);
    expect(laptop.code).toBe(0);
    expect(laptop.token).toMatch(/^agt_[0-9A-Za-z]{49}$/);
    expect(laptop.stderr).toContain("now enforces the API keys.");
    const ci = await apikey(["create", "ci-bot", "--expires", "12h"], true);
    const bob = await apikey(["create", "bob"], true);
    expect([ci.code, bob.code]).toEqual([0, 0]);
    expect((await apikey(["create", bob.token])).code).toBe(2); // the key where the user goes
    expect((await apikey(["list"])).code).toBe(0);
    const listed = await apikey(["list", "--json"]);
    const ids = (JSON.parse(listed.stdout) as { id: string }[]).map((k) => k.id);
    expect(ids).toHaveLength(3);
    const typo = ci.token.slice(0, 30) + (ci.token[30] === "a" ? "b" : "a") + ci.token.slice(31);
    nearMisses.push(typo);
    expect((await apikey(["revoke", typo])).code).toBe(1);
    const byId = await apikey(["revoke", ids[0]!]);
    expect(byId.code).toBe(0);
    expect(byId.stderr).toContain("now enforces the API keys.");
    expect((await apikey(["revoke", ci.token.slice(0, 12)])).code).toBe(0);
    expect((await apikey(["revoke", bob.token])).code).toBe(0);
    expect((await apikey(["revoke", bob.token])).code).toBe(0); // already revoked
    await apikey(["list"]);
    captured.push({ what: "apikeys.json", text: readFileSync(join(state, "apikeys.json"), "utf8") });
    // A corrupt apikeys.json (holding a key) is named, never shown, by the commands and by serve.
    const broken = join(dir, "broken");
    mkdirSync(broken, { recursive: true });
    writeFileSync(join(broken, "apikeys.json"), `{"version":1,"keys":[{"id":"${laptop.token}"`);
    expect((await agent(["apikey", "list", "--state-dir", broken])).code).toBe(1);
    expect((await agent(["apikey", "create", "alice", "--state-dir", broken])).code).toBe(1);
    const brokenServe = await agent([
      "serve",
      "--state-dir",
      broken,
      "--socket",
      join(dir, "y.sock"),
      "--demo",
    ]);
    expect(brokenServe.code).toBe(1);
    expect(brokenServe.stderr).toContain("API key file is corrupt");

    await agent(["audit", "tail", "--state-dir", state, "-n", "1000"]);
    await agent(["audit", "tail", "--state-dir", state, "--json", "-n", "1000"]);
    await agent(["doctor", "--state-dir", state, "--policy", join(dir, "policy.yaml")]);
    expect(tokens.length).toBeGreaterThanOrEqual(5);
    expect(apiKeys).toHaveLength(3);
  }, 240_000);

  test("no root key, passphrase, private key or full token appears anywhere it was written or printed", () => {
    captured.push({ what: "serve.log", text: readFileSync(join(state, "serve.log"), "utf8") });
    captured.push({ what: "dockerd.log", text: dockerd.log() });
    for (const name of readdirSync(state).filter((n) => n.startsWith("audit.log"))) {
      captured.push({ what: name, text: readFileSync(join(state, name), "utf8") });
    }
    const secrets: { what: string; value: string }[] = [
      ...[...rootKeys].map((value) => ({ what: "a root key", value })),
      { what: "the passphrase", value: PASSPHRASE },
      { what: "the file passphrase", value: FILE_PASSPHRASE },
      { what: "the short passphrase", value: SHORT_PASSPHRASE },
      ...tokens.map((value) => ({ what: "a full token", value })),
      ...apiKeys.map((value) => ({ what: "an API key", value })),
      // The part after the display prefix (agt_ and 8 characters), which lists and messages may show.
      ...apiKeys.map((value) => ({ what: "the secret part of an API key", value: value.slice(12) })),
      ...nearMisses.map((value) => ({ what: "a near-miss of an API key", value: value.slice(12) })),
    ];
    const leaks: string[] = [];
    let bytes = 0;
    for (const c of captured) {
      bytes += c.text.length;
      for (const s of secrets) {
        if (s.value.length >= 7 && c.text.includes(s.value)) leaks.push(`${s.what} in ${c.what}`);
      }
      if (c.text.includes("PRIVATE KEY")) leaks.push(`a PEM private key in ${c.what}`);
    }
    console.log(
      `secrets scan: ${captured.length} outputs, ${bytes} bytes, ${secrets.length} secrets (${rootKeys.size} key encodings, ${tokens.length} tokens, ${apiKeys.length} API keys)`,
    );
    expect(leaks).toEqual([]);
    expect(captured.some((c) => c.what === "serve.log" && c.text.includes("reloaded"))).toBe(true);
    expect(captured.some((c) => c.what.startsWith("audit.log") && c.text.length > 0)).toBe(true);
  });
});
