/**
 * `agent apikey set USER`: the key (from AGENT_APIKEY or stdin, never argv) goes into the docker client's
 * config.json as HttpHeaders.Authorization, checked first, and is never printed; --ca copies the agent's CA.
 */
import "reflect-metadata"; // @peculiar/x509 needs it before it loads
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { apikeyCommands } from "../../../src/cli/apikey.ts";
import type { CliContext } from "../../../src/cli/context.ts";
import { headerOf, withHeader } from "../../../src/cli/docker-config.ts";
import { runCli } from "../../../src/cli/index.ts";
import { formatApiKey, parseBasicAuthorization } from "../../../src/apikey/index.ts";
import { initAuthority } from "../../../src/ca/init.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { fakePlatform } from "../id/helpers.ts";
import { fixedClock, removeTempDirs, seededRandom } from "./helpers.ts";
import { tempDir } from "../../helpers/fixtures.ts";

afterAll(removeTempDirs);

const KEY = formatApiKey(seededRandom("set test key")(32));
const OTHER_KEY = formatApiKey(seededRandom("set test other key")(32));
/** One character of the random part changed: the checksum no longer matches. */
const TYPO = KEY.slice(0, 20) + (KEY[20] === "a" ? "b" : "a") + KEY.slice(21);

const EXISTING = {
  auths: { "registry.example.com": { auth: "dXNlcjpwYXNz" } },
  HttpHeaders: { "User-Agent": "team-cli", "X-Macaroon": "kept", authorization: "Basic c3RhbGU6c3RhbGU=" },
  psFormat: "table {{.ID}}",
};

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
  /** Whether the command read stdin. */
  readonly readStdin: boolean;
}

interface SetEnv {
  readonly root: string;
  readonly dockerConfig: string;
  run(args: readonly string[], options?: { stdin?: string; env?: Record<string, string> }): Promise<Run>;
}

async function setEnv(): Promise<SetEnv> {
  const root = await tempDir("agent-apikey-set-");
  const dockerConfig = join(root, "docker-config");
  return {
    root,
    dockerConfig,
    async run(args, options = {}) {
      const out: string[] = [];
      const err: string[] = [];
      let readStdin = false;
      const platform = {
        ...fakePlatform(),
        readStdin: (): AsyncIterable<Uint8Array> => {
          readStdin = true;
          if (options.stdin === undefined) throw new Error("this test gives no stdin");
          const bytes = new TextEncoder().encode(options.stdin);
          // In two pieces, split inside the key: lines are found across chunks.
          const cut = Math.floor(bytes.length / 2);
          return (async function* () {
            yield bytes.subarray(0, cut);
            yield bytes.subarray(cut);
          })();
        },
      };
      const ctx: CliContext = {
        fs: nodeFileSystem,
        clock: fixedClock,
        random: seededRandom(root),
        env: { DOCKER_CONFIG: dockerConfig, HOME: root, ...options.env },
        output: { out: (t) => void out.push(t), err: (t) => void err.push(t) },
        build: { version: "test", commit: "test" },
        platform,
      };
      const code = await runCli(["apikey", ...args], ctx, [apikeyCommands]);
      return { code, out: out.join(""), err: err.join(""), readStdin };
    },
  };
}

function writeConfig(dir: string, value: unknown): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), typeof value === "string" ? value : JSON.stringify(value));
}

function readConfig(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
}

function headers(dir: string): Record<string, string> {
  return readConfig(dir)["HttpHeaders"] as Record<string, string>;
}

/** Neither the key, nor any long piece of it, nor the header carrying it, is in `text`. */
function expectNoSecret(text: string, key: string = KEY): void {
  expect(text).not.toContain(key.slice(4, 24));
  expect(text).not.toContain(key.slice(24));
  for (const user of ["alice", "bob"]) expect(text).not.toContain(btoa(`${user}:${key}`).slice(0, 24));
}

const basic = (user: string, key: string) => `Basic ${btoa(`${user}:${key}`)}`;

/** Two CA certificates and the first one's private key, made by `agent ca init`'s code. */
let caA: string;
let caB: string;
let caKey: string;
beforeAll(async () => {
  const root = await tempDir("agent-apikey-set-ca-");
  const make = async (name: string) => {
    const caDir = join(root, name);
    await initAuthority({ fs: nodeFileSystem, clock: fixedClock, random: seededRandom(name), caDir }, {
      name,
    });
    return caDir;
  };
  const a = await make("ca-a");
  caA = join(a, "cluster.crt");
  caKey = join(a, "cluster.key");
  caB = join(await make("ca-b"), "cluster.crt");
});

describe("agent apikey set", () => {
  test("writes Authorization: Basic USER:KEY, keeping every other key, replacing any spelling, mode 0600", async () => {
    const e = await setEnv();
    writeConfig(e.dockerConfig, {
      ...EXISTING,
      HttpHeaders: { ...EXISTING.HttpHeaders, AUTHORIZATION: "Basic b3RoZXI6b3RoZXI=" },
    });
    const r = await e.run(["set", "alice"], { env: { AGENT_APIKEY: KEY } });
    expect(r.code).toBe(0);
    expect(r.out).toBe("");
    expect(r.readStdin).toBe(false);
    expect(readConfig(e.dockerConfig)).toEqual({
      auths: EXISTING.auths,
      HttpHeaders: { "User-Agent": "team-cli", "X-Macaroon": "kept", Authorization: basic("alice", KEY) },
      psFormat: "table {{.ID}}",
    });
    const parsed = parseBasicAuthorization(headers(e.dockerConfig)["Authorization"]);
    expect(parsed).toEqual({ ok: true, credentials: { user: "alice", key: KEY } });
    expect(statSync(join(e.dockerConfig, "config.json")).mode & 0o777).toBe(0o600);
    expect(r.err).toContain(
      `Wrote the Authorization header (Basic, user alice) into ${e.dockerConfig}/config.json`,
    );
    expect(r.err).toContain("export DOCKER_HOST=tcp://HOST:PORT DOCKER_TLS_VERIFY=1\n");
    expectNoSecret(r.err);
  });

  test("creates the config when there is none, and uses ~/.docker without DOCKER_CONFIG", async () => {
    const e = await setEnv();
    expect((await e.run(["set", "alice"], { env: { AGENT_APIKEY: KEY } })).code).toBe(0);
    expect(readConfig(e.dockerConfig)).toEqual({ HttpHeaders: { Authorization: basic("alice", KEY) } });
    const r = await e.run(["set", "bob"], { env: { AGENT_APIKEY: KEY, DOCKER_CONFIG: "" } });
    expect(r.code).toBe(0);
    expect(readConfig(join(e.root, ".docker"))).toEqual({
      HttpHeaders: { Authorization: basic("bob", KEY) },
    });
  });

  test("reads the key from the last non-empty line of stdin when AGENT_APIKEY is not set", async () => {
    const e = await setEnv();
    const r = await e.run(["set", "alice"], { stdin: `some earlier line\r\n  ${KEY}  \r\n\n\n` });
    expect(r.code).toBe(0);
    expect(r.readStdin).toBe(true);
    expect(headers(e.dockerConfig)["Authorization"]).toBe(basic("alice", KEY));
    expectNoSecret(r.out + r.err);
    // An empty AGENT_APIKEY counts as unset.
    const again = await e.run(["set", "alice"], { stdin: `${OTHER_KEY}\n`, env: { AGENT_APIKEY: "" } });
    expect(again.code).toBe(0);
    expect(headers(e.dockerConfig)["Authorization"]).toBe(basic("alice", OTHER_KEY));
  });

  test("AGENT_APIKEY wins over stdin, which is then not read", async () => {
    const e = await setEnv();
    const r = await e.run(["set", "alice"], { stdin: `${OTHER_KEY}\n`, env: { AGENT_APIKEY: ` ${KEY}\n` } });
    expect(r.code).toBe(0);
    expect(r.readStdin).toBe(false);
    expect(headers(e.dockerConfig)["Authorization"]).toBe(basic("alice", KEY));
  });

  test("a key with a bad checksum, prefix or length is a usage error naming the problem, never the key", async () => {
    const e = await setEnv();
    writeConfig(e.dockerConfig, EXISTING);
    const before = readFileSync(join(e.dockerConfig, "config.json"), "utf8");
    const cases: [string, string][] = [
      [TYPO, "its checksum does not match"],
      [KEY.slice(0, -1), "an API key is 53 characters long"],
      [`xyz_${KEY.slice(4)}`, "it does not start with agt_"],
      [`${KEY.slice(0, 30)}-${KEY.slice(31)}`, "an API key holds only letters and digits"],
    ];
    for (const [bad, problem] of cases) {
      for (const how of ["env", "stdin"] as const) {
        const r = await e.run(
          ["set", "alice", "--ca", caA],
          how === "env" ? { env: { AGENT_APIKEY: bad } } : { stdin: `${bad}\n` },
        );
        expect({ how, problem, code: r.code }).toEqual({ how, problem, code: 2 });
        const source = how === "env" ? "AGENT_APIKEY" : "stdin";
        expect(r.err).toContain(`agent: the key from ${source} is not an API key: ${problem}`);
        expect(r.err).toContain("[ERR_USAGE]");
        expect(r.out).toBe("");
        expectNoSecret(r.err, bad);
      }
    }
    expect(readFileSync(join(e.dockerConfig, "config.json"), "utf8")).toBe(before);
    expect(existsSync(join(e.dockerConfig, "ca.pem"))).toBe(false);
  });

  test("no key at all, or a flood on stdin, is a usage error", async () => {
    const e = await setEnv();
    const empty = await e.run(["set", "alice"], { stdin: "\n \n" });
    expect(empty.code).toBe(2);
    expect(empty.err).toContain(
      "no API key on stdin: pipe it in (agent apikey create alice | agent apikey set alice)",
    );
    const flood = await e.run(["set", "alice"], { stdin: `${"x".repeat(70_000)}\n${KEY}\n` });
    expect(flood.code).toBe(2);
    expect(flood.err).toContain("stdin holds more than 64 KiB");
    expectNoSecret(flood.err);
    expect(existsSync(join(e.dockerConfig, "config.json"))).toBe(false);
  });

  test("refuses a bad user by apikey create's rules, and a key given as the user unseen", async () => {
    const e = await setEnv();
    for (const user of ["-alice", "bad user", "a:b", "x".repeat(65), "role:web"]) {
      const r = await e.run(["set", user], { env: { AGENT_APIKEY: KEY } });
      expect({ user, code: r.code }).toEqual({ user, code: 2 });
      expectNoSecret(r.err);
    }
    const none = await e.run(["set"], { env: { AGENT_APIKEY: KEY } });
    expect(none.code).toBe(2);
    expect(none.err).toContain("give the USER the API key belongs to");
    for (const key of [KEY, TYPO, KEY.slice(0, 45)]) {
      const r = await e.run(["set", key], { stdin: `${KEY}\n` });
      expect(r.code).toBe(2);
      expect(r.readStdin).toBe(false);
      expect(r.err).toContain("this is an API key, not a user name: never put the key on the command line");
      expectNoSecret(r.err, key);
      expectNoSecret(r.err);
    }
    expect(existsSync(join(e.dockerConfig, "config.json"))).toBe(false);
  });

  test("refuses a config that is not JSON, or whose HttpHeaders is not an object, rather than overwrite it", async () => {
    const e = await setEnv();
    for (const text of ["{ not json", '{"HttpHeaders": ["Authorization"]}', "[1, 2]"]) {
      writeConfig(e.dockerConfig, text);
      const r = await e.run(["set", "alice", "--ca", caA], { env: { AGENT_APIKEY: KEY } });
      expect({ text, code: r.code }).toEqual({ text, code: 1 });
      expect(r.err).toContain("[ERR_DOCKER_CONFIG]");
      expect(readFileSync(join(e.dockerConfig, "config.json"), "utf8")).toBe(text);
      expect(existsSync(join(e.dockerConfig, "ca.pem"))).toBe(false);
    }
    const r = await e.run(["set", "alice"], { env: { AGENT_APIKEY: KEY } });
    expect(r.err).toContain("the docker client config is not a JSON object");
  });
});

describe("agent apikey set --clear", () => {
  test("removes the Authorization header in any spelling, and only it", async () => {
    const e = await setEnv();
    writeConfig(e.dockerConfig, EXISTING);
    const r = await e.run(["set", "--clear"]);
    expect(r.code).toBe(0);
    expect(r.readStdin).toBe(false);
    expect(r.err).toBe(`Removed the Authorization header from ${e.dockerConfig}/config.json.\n`);
    expect(readConfig(e.dockerConfig)).toEqual({
      ...EXISTING,
      HttpHeaders: { "User-Agent": "team-cli", "X-Macaroon": "kept" },
    });
    writeConfig(e.dockerConfig, { HttpHeaders: { AuthoriZation: "" }, detachKeys: "ctrl-q" });
    expect((await e.run(["set", "--clear"])).code).toBe(0);
    expect(readConfig(e.dockerConfig)).toEqual({ detachKeys: "ctrl-q" });
  });

  test("says when there is nothing to remove, and writes nothing", async () => {
    const e = await setEnv();
    const r = await e.run(["set", "--clear"]);
    expect(r.code).toBe(0);
    expect(r.err).toContain("No Authorization header in");
    expect(existsSync(e.dockerConfig)).toBe(false);
  });

  test("takes no USER, --ca or --force", async () => {
    const e = await setEnv();
    for (const args of [["alice", "--clear"], ["--clear", "--ca", caA], ["--clear", "--force"]]) {
      expect((await e.run(["set", ...args])).code).toBe(2);
    }
  });
});

describe("agent apikey set --ca", () => {
  test("copies the CA certificate to ca.pem in the config directory; the same one again changes nothing", async () => {
    const e = await setEnv();
    const r = await e.run(["set", "alice", "--ca", caA], { env: { AGENT_APIKEY: KEY } });
    expect(r.code).toBe(0);
    const caPem = join(e.dockerConfig, "ca.pem");
    expect(readFileSync(caPem, "utf8")).toBe(readFileSync(caA, "utf8"));
    expect(r.err).toContain(`Copied the CA certificate (CN=ca-a`);
    expect(r.err).toContain(`docker verifies the agent with ${caPem} and sends the key.`);
    expect(r.err).not.toContain("docker cannot verify the agent");
    const again = await e.run(["set", "alice", "--ca", caA], { env: { AGENT_APIKEY: KEY } });
    expect(again.code).toBe(0);
    expect(again.err).toContain(`${caPem} already holds this CA certificate`);
    expectNoSecret(r.err + again.err);
  });

  test("refuses to replace a different ca.pem unless --force, writing nothing", async () => {
    const e = await setEnv();
    writeConfig(e.dockerConfig, EXISTING);
    const before = readFileSync(join(e.dockerConfig, "config.json"), "utf8");
    const caPem = join(e.dockerConfig, "ca.pem");
    writeFileSync(caPem, readFileSync(caB));
    const r = await e.run(["set", "alice", "--ca", caA], { env: { AGENT_APIKEY: KEY } });
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `agent: ${caPem} already exists and holds a different certificate: pass --force to replace it [ERR_STATE_EXISTS]\n`,
    );
    expect(readFileSync(caPem, "utf8")).toBe(readFileSync(caB, "utf8"));
    expect(readFileSync(join(e.dockerConfig, "config.json"), "utf8")).toBe(before);
    // Nor a ca.pem that is not a certificate at all.
    writeFileSync(caPem, "garbage");
    expect((await e.run(["set", "alice", "--ca", caA], { env: { AGENT_APIKEY: KEY } })).code).toBe(1);

    const forced = await e.run(["set", "alice", "--ca", caA, "--force"], { env: { AGENT_APIKEY: KEY } });
    expect(forced.code).toBe(0);
    expect(readFileSync(caPem, "utf8")).toBe(readFileSync(caA, "utf8"));
    expect(headers(e.dockerConfig)["Authorization"]).toBe(basic("alice", KEY));
  });

  test("refuses a file that is not a PEM certificate (a private key above all) as a usage error", async () => {
    const e = await setEnv();
    const dir = join(e.root, "files");
    mkdirSync(dir);
    const cert = readFileSync(caA, "utf8");
    const files: Record<string, string> = {
      "empty.pem": "",
      "garbage.pem": "not a certificate\n",
      "bad-body.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
      "cert-and-key.pem": cert + readFileSync(caKey, "utf8"),
      "trailing-text.pem": `${cert}and then some words\n`,
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    for (const file of [caKey, ...Object.keys(files).map((name) => join(dir, name))]) {
      const r = await e.run(["set", "alice", "--ca", file], { env: { AGENT_APIKEY: KEY } });
      expect({ file, code: r.code }).toEqual({ file, code: 2 });
      expect(r.err).toContain(`agent: ${file} is not a PEM certificate`);
      expect(r.err).not.toContain("PRIVATE KEY");
    }
    const missing = await e.run(["set", "alice", "--ca", join(dir, "nope")], { env: { AGENT_APIKEY: KEY } });
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("no such file or directory");
    expect(existsSync(e.dockerConfig)).toBe(false);
  });

  test("a bundle of certificates is accepted; ca.pem goes to DOCKER_CERT_PATH when that is set", async () => {
    const e = await setEnv();
    const bundle = join(e.root, "bundle.pem");
    writeFileSync(bundle, `${readFileSync(caA, "utf8")}\n${readFileSync(caB, "utf8")}`);
    const certs = join(e.root, "certs");
    const r = await e.run(["set", "alice", "--ca", bundle], {
      env: { AGENT_APIKEY: KEY, DOCKER_CERT_PATH: certs },
    });
    expect(r.code).toBe(0);
    expect(readFileSync(join(certs, "ca.pem"), "utf8")).toBe(
      readFileSync(caA, "utf8") + readFileSync(caB, "utf8"),
    );
    expect(existsSync(join(e.dockerConfig, "ca.pem"))).toBe(false);
    expect(headers(e.dockerConfig)["Authorization"]).toBe(basic("alice", KEY));
  });

  test("without --ca and without a ca.pem, says docker cannot verify the agent yet; --force needs --ca", async () => {
    const e = await setEnv();
    const r = await e.run(["set", "alice"], { env: { AGENT_APIKEY: KEY } });
    expect(r.code).toBe(0);
    expect(r.err).toContain(`There is no ${e.dockerConfig}/ca.pem, so docker cannot verify the agent`);
    expect((await e.run(["set", "alice", "--force"], { env: { AGENT_APIKEY: KEY } })).code).toBe(2);
  });
});

describe("help and the shared header editing", () => {
  test("agent apikey --help lists set; set --help explains where the key comes from", async () => {
    const e = await setEnv();
    const help = await e.run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("set [user]");
    const set = await e.run(["set", "--help"]);
    expect(set.code).toBe(0);
    for (
      const word of ["--ca <file>", "--force", "--clear", "AGENT_APIKEY", "stdin", "agent apikey set alice"]
    ) {
      expect(set.out).toContain(word);
    }
  });

  test("withHeader replaces every spelling of a name and keeps the rest; headerOf finds any spelling", () => {
    const config = { HttpHeaders: { "x-macaroon": "a", Authorization: "b", Other: "c" }, k: 1 };
    expect(withHeader(config, "X-Macaroon", "t")).toEqual({
      HttpHeaders: { Authorization: "b", Other: "c", "X-Macaroon": "t" },
      k: 1,
    });
    expect(withHeader(config, "AUTHORIZATION", undefined)).toEqual({
      HttpHeaders: { "x-macaroon": "a", Other: "c" },
      k: 1,
    });
    expect(headerOf(config, "X-MACAROON")).toBe("a");
    expect(headerOf(config, "Missing")).toBeUndefined();
    expect(config.HttpHeaders).toEqual({ "x-macaroon": "a", Authorization: "b", Other: "c" });
  });
});
