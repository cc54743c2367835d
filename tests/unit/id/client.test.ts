import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { idEnv, removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);

const EXISTING = {
  auths: { "registry.example.com": { auth: "dXNlcjpwYXNz" } },
  HttpHeaders: { "User-Agent": "team-cli", "x-macaroon": "stale" },
  psFormat: "table {{.ID}}",
  credsStore: "pass",
};

function writeConfig(dir: string, value: unknown): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify(value));
}

function readConfig(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
}

describe("agent id set", () => {
  test("writes X-Macaroon into HttpHeaders, keeping every other key, mode 0600", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const token = (await env.run(["create", "--op", "read"])).last;
    writeConfig(env.dockerConfig, EXISTING);
    const r = await env.run(["set", token]);
    expect(r.code).toBe(0);
    expect(r.out).toBe("");
    expect(readConfig(env.dockerConfig)).toEqual({
      auths: EXISTING.auths,
      HttpHeaders: { "User-Agent": "team-cli", "X-Macaroon": token },
      psFormat: "table {{.ID}}",
      credsStore: "pass",
    });
    expect(statSync(join(env.dockerConfig, "config.json")).mode & 0o777).toBe(0o600);
    expect(readdirSync(env.dockerConfig)).toEqual(["config.json"]);
  });

  test("creates the config directory and file when there is none", async () => {
    const env = await idEnv();
    const token = (await env.run(["init"])).last;
    expect((await env.run(["set", token])).code).toBe(0);
    expect(readConfig(env.dockerConfig)).toEqual({ HttpHeaders: { "X-Macaroon": token } });
  });

  test("uses ~/.docker when DOCKER_CONFIG is not set", async () => {
    const env = await idEnv();
    const token = (await env.run(["init"])).last;
    const home = join(env.dockerConfig, "..", "home");
    await env.run(["set", token], { env: { DOCKER_CONFIG: "", HOME: home } });
    expect(readConfig(join(home, ".docker"))).toEqual({ HttpHeaders: { "X-Macaroon": token } });
  });

  test("--clear removes only the header, and drops an empty HttpHeaders", async () => {
    const env = await idEnv();
    writeConfig(env.dockerConfig, EXISTING);
    expect((await env.run(["set", "--clear"])).code).toBe(0);
    expect(readConfig(env.dockerConfig)).toEqual({ ...EXISTING, HttpHeaders: { "User-Agent": "team-cli" } });
    writeConfig(env.dockerConfig, { HttpHeaders: { "X-Macaroon": "x" }, detachKeys: "ctrl-q" });
    await env.run(["set", "--clear"]);
    expect(readConfig(env.dockerConfig)).toEqual({ detachKeys: "ctrl-q" });
  });

  test("refuses text that is not a token, and leaves the config untouched", async () => {
    const env = await idEnv();
    writeConfig(env.dockerConfig, EXISTING);
    const before = readFileSync(join(env.dockerConfig, "config.json"), "utf8");
    const r = await env.run(["set", "not a token"]);
    expect(r.code).toBe(1);
    expect(r.err).toBe("agent: malformed macaroon [ERR_MACAROON_FORMAT]\n");
    expect(readFileSync(join(env.dockerConfig, "config.json"), "utf8")).toBe(before);
  });

  test("refuses a config that is not JSON rather than overwrite it", async () => {
    const env = await idEnv();
    const token = (await env.run(["init"])).last;
    mkdirSync(env.dockerConfig, { recursive: true });
    writeFileSync(join(env.dockerConfig, "config.json"), "{ not json");
    const r = await env.run(["set", token]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("the docker client config is not valid JSON");
    expect(readFileSync(join(env.dockerConfig, "config.json"), "utf8")).toBe("{ not json");
  });

  test("needs exactly one of TOKEN and --clear", async () => {
    const env = await idEnv();
    expect((await env.run(["set"])).code).toBe(2);
    expect((await env.run(["set", "x", "--clear"])).code).toBe(2);
  });
});

describe("agent id exec", () => {
  test("runs the command with a temporary config carrying the token, then removes it", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const token = (await env.run(["create", "--op", "read"])).last;
    writeConfig(env.dockerConfig, EXISTING);
    mkdirSync(join(env.dockerConfig, "contexts", "meta", "abc"), { recursive: true });
    writeFileSync(join(env.dockerConfig, "contexts", "meta", "abc", "meta.json"), "{}");
    mkdirSync(join(env.dockerConfig, "cli-plugins"), { recursive: true });
    const before = readFileSync(join(env.dockerConfig, "config.json"), "utf8");
    env.platform.exitCode = 7;

    const r = await env.run(["exec", token, "--", "docker", "ps", "-a", "--format", "{{.ID}}"]);
    expect(r.code).toBe(7);
    const call = env.platform.spawns[0]!;
    expect(call.command).toBe("docker");
    expect(call.args).toEqual(["ps", "-a", "--format", "{{.ID}}"]);
    expect(call.env["DOCKER_CERT_PATH"]).toBe(env.dockerConfig);
    const temp = call.env["DOCKER_CONFIG"]!;
    expect(temp).not.toBe(env.dockerConfig);
    expect(JSON.parse(call.config!)).toEqual({
      ...EXISTING,
      HttpHeaders: { "User-Agent": "team-cli", "X-Macaroon": token },
      cliPluginsExtraDirs: [join(env.dockerConfig, "cli-plugins")],
    });
    expect(existsSync(temp)).toBe(false);
    expect(readFileSync(join(env.dockerConfig, "config.json"), "utf8")).toBe(before);
  });

  test("everything after the token is the command, untouched, with or without --", async () => {
    const env = await idEnv();
    const token = (await env.run(["init"])).last;
    const words = ["docker", "ps", "-a", "--format", "{{.Names}}", "--state-dir", "x", "--help"];
    expect((await env.run(["exec", token, ...words])).code).toBe(0);
    expect((await env.run(["exec", token, "--", ...words])).code).toBe(0);
    expect(env.platform.spawns.filter((s) => s.command !== "rm").map((s) => [s.command, ...s.args])).toEqual([
      words,
      words,
    ]);
  });

  test("keeps an explicit DOCKER_CERT_PATH and copies the docker contexts", async () => {
    const env = await idEnv();
    const token = (await env.run(["init"])).last;
    mkdirSync(join(env.dockerConfig, "contexts", "meta", "abc"), { recursive: true });
    writeFileSync(join(env.dockerConfig, "contexts", "meta", "abc", "meta.json"), '{"Name":"prod"}');
    let copied = "";
    const spawn = env.platform.spawn.bind(env.platform);
    env.platform.spawn = async (command, args, childEnv) => {
      if (command !== "rm") {
        copied = readFileSync(
          join(childEnv["DOCKER_CONFIG"]!, "contexts", "meta", "abc", "meta.json"),
          "utf8",
        );
      }
      return await spawn(command, args, childEnv);
    };
    await env.run(["exec", token, "--", "docker", "context", "ls"], { env: { DOCKER_CERT_PATH: "/certs" } });
    expect(copied).toBe('{"Name":"prod"}');
    expect(env.platform.spawns[0]!.env["DOCKER_CERT_PATH"]).toBeUndefined();
  });

  test("needs a command and a token", async () => {
    const env = await idEnv();
    const token = (await env.run(["init"])).last;
    const none = await env.run(["exec", token]);
    expect(none.code).toBe(2);
    expect(none.err).toContain("give the command to run after the token");
    expect((await env.run(["exec", "garbage", "--", "docker", "ps"])).code).toBe(1);
    expect(env.platform.spawns).toEqual([]);
  });
});
