import "reflect-metadata";
import { afterAll, describe, expect, test } from "bun:test";
import { lstat, readFile } from "node:fs/promises";
import { join } from "node:path";
import { removeTempDirs, runCa, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

async function stateWithCa(...extra: string[]): Promise<{ state: string; root: string }> {
  const root = await tempDir();
  const state = join(root, "state");
  const result = await runCa(["init", "--state-dir", state, "--name", "test-cluster", ...extra]);
  expect(result.code).toBe(0);
  return { state, root };
}

describe("agent ca (help and usage)", () => {
  test("with no command prints the group help and exits 2", async () => {
    const result = await runCa([]);
    expect(result.code).toBe(2);
    expect(result.out).toContain("Usage: agent ca <command> [options]");
    expect(result.out).toContain("create-api-certificate <user>");
    expect(result.out).toContain("Exit codes: 0 ok, 1 failure (reason on stderr), 2 usage error.");
  });

  test("--help on a command prints its long help with examples to stdout and exits 0", async () => {
    const result = await runCa(["revoke", "--help"]);
    expect(result.code).toBe(0);
    expect(result.out).toContain("Usage: agent ca revoke NAME|SERIAL [--reason R] [--kind K]");
    expect(result.out).toContain("agent ca revoke alice --reason keyCompromise");
    expect(result.out).toContain("--state-dir <dir>");
    expect(result.err).toBe("");
  });

  const usageErrors: Array<[string, string[], string]> = [
    ["an unknown command", ["frobnicate"], "unknown command: agent ca frobnicate"],
    [
      "a missing user",
      ["create-api-certificate"],
      "missing required args for command `create-api-certificate <user>`",
    ],
    [
      "an unknown option",
      ["list", "--colour"],
      "agent: unknown option --colour; `agent ca list --help` lists the options [ERR_USAGE]",
    ],
    ["a bad --days", ["init", "--days", "0"], "--days must be a whole number from 1 to 36500"],
    [
      "an unknown key type",
      ["init", "--key-type", "dsa"],
      "unknown key type: use one of ecdsa, ed25519, rsa",
    ],
    ["--rsa-bits without rsa", ["init", "--rsa-bits", "2048"], "--rsa-bits applies to --key-type rsa only"],
    [
      "an unsupported RSA size",
      ["init", "--key-type", "rsa", "--rsa-bits", "1024"],
      "unsupported RSA key size: use one of 2048, 3072, 4096",
    ],
  ];
  for (const [title, args, message] of usageErrors) {
    test(`exits 2 on ${title}`, async () => {
      const state = join(await tempDir(), "state");
      const result = await runCa([...args, "--state-dir", state]);
      expect(result.code).toBe(2);
      expect(result.err).toContain(message);
      expect(result.err).toContain("[ERR_USAGE]");
      expect(result.out).toBe("");
    });
  }
});

describe("agent ca init", () => {
  test("creates the CA, says where everything is, and refuses a second init", async () => {
    const root = await tempDir();
    const state = join(root, "state");
    const result = await runCa(["init", "--state-dir", state, "--name", "prod"]);
    expect(result.code).toBe(0);
    expect(result.out).toMatch(
      /^Created the certificate authority "prod" \(cluster id [0-9a-f-]{36}\), valid until /,
    );
    expect(result.out).toContain(`${join(state, "ca", "cluster.crt")}  the CA certificate`);
    expect((await lstat(join(state, "ca", "cluster.key"))).mode & 0o777).toBe(0o600);
    const again = await runCa(["init", "--state-dir", state]);
    expect(again.code).toBe(1);
    expect(again.err).toBe(
      "agent: a certificate authority already exists here; `--force` replaces it (certificates it issued stop working) [ERR_CA_EXISTS]\n",
    );
  });

  test("--json prints the cluster id, serial and files; --force replaces and warns on stderr", async () => {
    const { state } = await stateWithCa();
    const result = await runCa(["init", "--state-dir", state, "--force", "--json", "--key-type", "ed25519"]);
    expect(result.code).toBe(0);
    const data = JSON.parse(result.out);
    expect(data.replaced).toBe(true);
    expect(data.files.certificate).toBe(join(state, "ca", "cluster.crt"));
    expect(data.clusterId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.err).toContain("replaced the existing CA");
  });
});

describe("agent ca create-*", () => {
  test("create-api-certificate writes NAME.crt/NAME.key and prints flocker-ca's sentence and how to use them", async () => {
    const { state, root } = await stateWithCa();
    const out = join(root, "out");
    const result = await runCa(["create-api-certificate", "alice", "--state-dir", state, "--out", out]);
    expect(result.code).toBe(0);
    expect(result.out).toContain(
      `Created ${join(out, "alice.crt")} and ${
        join(out, "alice.key")
      }. You can now give these to your API end user so they can access the Docker API through the agent.`,
    );
    expect(result.out).toContain("DOCKER_HOST=tcp://HOST:2376 DOCKER_TLS_VERIFY=1");
    expect(result.out).toContain(
      `--tlscacert ${join(state, "ca", "cluster.crt")} --tlscert ${join(out, "alice.crt")}`,
    );
    expect((await lstat(join(out, "alice.key"))).mode & 0o777).toBe(0o600);
  });

  test("--docker-layout writes ca.pem, cert.pem, key.pem and prints DOCKER_CERT_PATH", async () => {
    const { state, root } = await stateWithCa();
    const out = join(root, "docker");
    const result = await runCa([
      "create-api-certificate",
      "alice",
      "--state-dir",
      state,
      "--out",
      out,
      "--docker-layout",
    ]);
    expect(result.code).toBe(0);
    expect(result.out).toContain(`DOCKER_CERT_PATH=${out}`);
    expect(await readFile(join(out, "ca.pem"), "utf8")).toBe(
      await readFile(join(state, "ca", "cluster.crt"), "utf8"),
    );
  });

  test("repeated --ou options (even numeric ones) become the certificate's groups", async () => {
    const { state, root } = await stateWithCa();
    const result = await runCa([
      "create-api-certificate",
      "alice",
      "--state-dir",
      state,
      "--out",
      join(root, "o"),
      "--ou",
      "devs",
      "--ou",
      "42",
      "--json",
    ]);
    expect(result.code).toBe(0);
    const data = JSON.parse(result.out);
    expect(data.organizationalUnits).toEqual(["devs", "42"]);
    expect(data.subject).toBe("CN=alice, OU=devs, OU=42");
    expect(data.files).toEqual({
      certificate: join(root, "o", "alice.crt"),
      privateKey: join(root, "o", "alice.key"),
    });
  });

  test("refuses a DN string as the user name (exit 1, ERR_CA_NAME) and writes nothing", async () => {
    const { state, root } = await stateWithCa();
    const out = join(root, "o");
    const result = await runCa([
      "create-api-certificate",
      "CN=alice, OU=admins",
      "--state-dir",
      state,
      "--out",
      out,
    ]);
    expect(result.code).toBe(1);
    expect(result.err).toBe(
      "agent: invalid name: use 1 to 64 letters, digits, '.', '_', '@' or '-', not starting with '-' or '.' " +
        '(got "CN=alice, OU=admins") [ERR_CA_NAME]\n',
    );
    expect(await lstat(out).catch(() => undefined)).toBeUndefined();
  });

  test("create-server-certificate takes repeated --san and prints the dockerd flags", async () => {
    const { state, root } = await stateWithCa();
    const out = join(root, "tls");
    const result = await runCa([
      "create-server-certificate",
      "docker1.example",
      "--state-dir",
      state,
      "--out",
      out,
      "--san",
      "10.0.0.5",
      "--san",
      "docker1",
    ]);
    expect(result.code).toBe(0);
    expect(result.out).toContain("(names: docker1.example, localhost, 127.0.0.1, ::1, 10.0.0.5, docker1)");
    expect(result.out).toContain(
      `dockerd --tlsverify --tlscacert ${join(state, "ca", "cluster.crt")} --tlscert ${
        join(out, "docker1.example.crt")
      } --tlskey ${join(out, "docker1.example.key")} -H tcp://0.0.0.0:2376`,
    );
  });

  test("create-server-certificate --no-local-sans names only the host and --san", async () => {
    const { state, root } = await stateWithCa();
    const result = await runCa([
      "create-server-certificate",
      "10.0.0.5",
      "--state-dir",
      state,
      "--out",
      join(root, "o"),
      "--no-local-sans",
      "--json",
    ]);
    expect(JSON.parse(result.out).subjectAltNames).toEqual([{ type: "ip", value: "10.0.0.5" }]);
  });

  test("--docker-layout is not an option of server certificates", async () => {
    const { state, root } = await stateWithCa();
    const result = await runCa([
      "create-server-certificate",
      "h1",
      "--state-dir",
      state,
      "--out",
      root,
      "--docker-layout",
    ]);
    expect(result.code).toBe(2);
    expect(result.err).toBe(
      "agent: unknown option --docker-layout; `agent ca create-server-certificate --help` lists the options [ERR_USAGE]\n",
    );
  });

  test("create-node-certificate issues a node certificate", async () => {
    const { state, root } = await stateWithCa();
    const result = await runCa([
      "create-node-certificate",
      "node1",
      "--state-dir",
      state,
      "--out",
      join(root, "o"),
    ]);
    expect(result.code).toBe(0);
    expect(result.out).toContain("for node node1 (server and client authentication)");
  });

  test("issuing without a CA fails with ERR_CA_MISSING", async () => {
    const root = await tempDir();
    const result = await runCa([
      "create-api-certificate",
      "alice",
      "--state-dir",
      join(root, "state"),
      "--out",
      root,
    ]);
    expect(result.code).toBe(1);
    expect(result.err).toBe(
      `agent: no certificate authority in ${
        join(root, "state", "ca")
      }: run \`agent ca init\` first (or pass the right --state-dir) [ERR_CA_MISSING]\n`,
    );
  });
});

describe("agent ca list, revoke, renew, update-crl", () => {
  async function populated() {
    const { state, root } = await stateWithCa();
    const out = join(root, "o");
    for (
      const args of [["create-api-certificate", "alice", "--out", join(out, "1")], [
        "create-api-certificate",
        "alice",
        "--out",
        join(out, "2"),
      ], ["create-server-certificate", "docker1", "--out", out]]
    ) {
      expect((await runCa([...args, "--state-dir", state])).code).toBe(0);
    }
    return { state, root, out };
  }

  test("list prints a table and --json the index entries with a status", async () => {
    const { state } = await populated();
    const table = await runCa(["list", "--state-dir", state]);
    expect(table.code).toBe(0);
    const lines = table.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^SERIAL\s+KIND\s+NAME\s+NOT AFTER\s+STATUS\s+SUBJECT$/);
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatch(/^[0-9a-f]{32}\s+server\s+docker1\s+\S+\s+valid\s+CN=docker1$/);
    const data = JSON.parse((await runCa(["list", "--state-dir", state, "--json"])).out);
    expect(data.map((c: { name: string; status: string; revoked: boolean }) => [c.name, c.status, c.revoked]))
      .toEqual([
        ["alice", "valid", false],
        ["alice", "valid", false],
        ["docker1", "valid", false],
      ]);
  });

  test("revoking a name with several certificates revokes all and says so", async () => {
    const { state } = await populated();
    const result = await runCa(["revoke", "alice", "--state-dir", state, "--reason", "keyCompromise"]);
    expect(result.code).toBe(0);
    expect(result.out.match(/^Revoked api certificate [0-9a-f]{32} for alice \(keyCompromise\)\.$/gm))
      .toHaveLength(2);
    expect(result.out).toContain(`"alice" matched 2 unrevoked certificates: all of them were revoked.`);
    expect(result.out).toContain(`Wrote CRL number 2 (2 revoked) to ${join(state, "ca", "crl.pem")}.`);
    const list = JSON.parse((await runCa(["list", "--state-dir", state, "--json"])).out);
    expect(list.map((c: { status: string }) => c.status)).toEqual(["revoked", "revoked", "valid"]);
  });

  test("revoke refuses an unknown reason with a usage error", async () => {
    const { state } = await populated();
    const result = await runCa(["revoke", "alice", "--state-dir", state, "--reason", "certificateHold"]);
    expect(result.code).toBe(2);
    expect(result.err).toBe(
      "agent: unknown revocation reason: use one of unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn [ERR_USAGE]\n",
    );
  });

  test("renew says the old certificate stays valid; with --revoke-old it says it was revoked", async () => {
    const { state, root } = await populated();
    const keep = await runCa(["renew", "docker1", "--state-dir", state, "--out", join(root, "r1")]);
    expect(keep.code).toBe(0);
    expect(keep.out).toMatch(
      /a new server certificate for docker1 \(serial [0-9a-f]{32}, new key, valid until /,
    );
    expect(keep.out).toMatch(/The previous certificate [0-9a-f]{32} stays valid until it expires \(/);
    const revoke = await runCa([
      "renew",
      "docker1",
      "--state-dir",
      state,
      "--out",
      join(root, "r2"),
      "--revoke-old",
    ]);
    expect(revoke.code).toBe(0);
    expect(revoke.out).toMatch(/The previous certificate [0-9a-f]{32} was revoked \(superseded\)\./);
  });

  test("update-crl re-signs the CRL with the next number", async () => {
    const { state } = await populated();
    const result = await runCa(["update-crl", "--state-dir", state, "--days", "30", "--json"]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toMatchObject({
      crlNumber: 2,
      revokedCount: 0,
      path: join(state, "ca", "crl.pem"),
    });
  });

  test("list without a CA fails with ERR_CA_MISSING", async () => {
    const result = await runCa(["list", "--state-dir", join(await tempDir(), "none")]);
    expect(result.code).toBe(1);
    expect(result.err).toContain("[ERR_CA_MISSING]");
  });
});
