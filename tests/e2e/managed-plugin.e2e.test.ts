/**
 * The agent as a managed (v2) Docker plugin: scripts/package-plugin's directory is created and enabled on a
 * private dockerd started WITHOUT authorization plugins, whose chain then gains the plugin live
 * (daemon.json + SIGHUP). The policy lives on the host, in the directory the plugin's `policy` mount reads.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type Dockerd,
  e2eUnavailable,
  ROOT,
  run,
  skipBanner,
  startDockerd,
  tempDir,
  waitFor,
} from "./harness.ts";

const unavailable = e2eUnavailable();
if (unavailable) skipBanner("managed-plugin.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

const BUN = join(ROOT, "node_modules", ".bin", "bun");
const NAME = "agent-e2e:latest";

/** The host's own user (the unix socket, no TLS) may read and manage plugins, but not create volumes. */
const ADMIN_POLICY = `version: 1
administrators: [anonymous]
rules:
  - id: host-reads
    who: [anonymous]
    allow: ["system:*", "volume:list", "volume:inspect", "plugin:*"]
`;

/** Anonymous may do anything the routes allow, but is no longer an administrator. */
const NON_ADMIN_POLICY = `version: 1
rules:
  - id: host-all
    who: [anonymous]
    allow: ["*"]
`;

maybe("the agent as a managed (v2) Docker plugin", () => {
  let dir: string;
  let dockerd: Dockerd;
  let pluginId = "";
  const hostState = () => join(dir, "host-state");
  const hostPolicyDir = () => join(dir, "host-policy");
  const auditText = () => {
    const file = join(hostState(), "audit.log");
    return existsSync(file) ? readFileSync(file, "utf8") : "";
  };
  /** Replaces the host's policy file the way an editor or config manager would (write, then rename). */
  const writePolicy = (text: string) => {
    const temp = join(hostPolicyDir(), ".policy.yaml.tmp");
    writeFileSync(temp, text);
    renameSync(temp, join(hostPolicyDir(), "policy.yaml"));
  };
  const setAuthorizationPlugins = (plugins: string[]) => {
    writeFileSync(join(dockerd.dir, "daemon.json"), JSON.stringify({ "authorization-plugins": plugins }));
    process.kill(dockerd.pid, "SIGHUP");
  };
  const mustRun = async (args: string[]) => {
    const r = await dockerd.docker(args);
    if (r.code !== 0) throw new Error(`docker ${args.join(" ")} failed: ${r.stderr}`);
    return r.stdout;
  };

  beforeAll(async () => {
    dir = tempDir("managed");
    // A binary of our own (scripts/build's command) so a concurrent build of dist/agent cannot interfere.
    const build = await run([
      BUN,
      "build",
      join(ROOT, "src", "main.ts"),
      "--compile",
      "--minify",
      "--sourcemap=none",
      "--outfile",
      join(dir, "agent"),
    ]);
    if (build.code !== 0) throw new Error(`bun build failed: ${build.stderr}`);
    const pack = await run([
      join(ROOT, "scripts", "package-plugin"),
      "--binary",
      join(dir, "agent"),
      "--out",
      join(dir, "plugin"),
    ]);
    if (pack.code !== 0) throw new Error(`package-plugin failed: ${pack.stderr}`);

    mkdirSync(hostState(), { recursive: true });
    mkdirSync(hostPolicyDir(), { recursive: true });
    writePolicy(ADMIN_POLICY);

    dockerd = await startDockerd({ dir: join(dir, "dockerd"), authorizationPlugins: [] });
    await mustRun(["plugin", "create", NAME, join(dir, "plugin")]);
    pluginId = (await mustRun(["plugin", "inspect", "--format", "{{.Id}}", NAME])).trim();
    await mustRun(["plugin", "set", NAME, `state.source=${hostState()}`, `policy.source=${hostPolicyDir()}`]);
    await mustRun(["plugin", "enable", NAME]);
    setAuthorizationPlugins([NAME]);
    // The chain is live once the plugin has judged a request (its audit log is on the host's state mount).
    await waitFor("the plugin to join dockerd's authorization chain", async () => {
      await dockerd.docker(["version"]);
      return auditText().includes('"action":"system:version"');
    });
  }, 180_000);

  afterAll(async () => {
    if (dockerd) {
      // Out of the chain first: the plugin refuses plugin management to non-administrators by design.
      setAuthorizationPlugins([]);
      await waitFor("the plugin to leave the chain and be disabled", async () => {
        const r = await dockerd.docker(["plugin", "disable", "-f", NAME]);
        return r.code === 0 || r.stderr.includes("already disabled");
      }).catch(() => {});
      await dockerd.docker(["plugin", "rm", "-f", NAME]);
      await dockerd.stop();
    }
    // dockerd keeps a managed plugin's socket under /run/docker/plugins/<id>, whatever its --exec-root.
    if (/^[0-9a-f]{64}$/.test(pluginId)) {
      rmSync(`/run/docker/plugins/${pluginId}`, { recursive: true, force: true });
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 90_000);

  test("the packaged config declares an authz plugin with no network, no extra capabilities and settable mounts", async () => {
    const config = JSON.parse(readFileSync(join(dir, "plugin", "config.json"), "utf8")) as Record<
      string,
      unknown
    >;
    expect(config["interface"]).toEqual({ types: ["docker.authz/1.0"], socket: "agent.sock" });
    expect(config["network"]).toEqual({ type: "none" });
    expect(config["linux"]).toEqual({ capabilities: [] });
    expect(config["entrypoint"]).toEqual([
      "/agent",
      "serve",
      "--state-dir",
      "/var/lib/agent",
      "--policy",
      "/etc/agent/policy.yaml",
      "--socket",
      "/run/docker/plugins/agent.sock",
    ]);
    const inspect = JSON.parse(await mustRun(["plugin", "inspect", NAME])) as [
      { Enabled: boolean; Settings: { Mounts: { Name: string; Source: string }[] } },
    ];
    expect(inspect[0].Enabled).toBe(true);
    const sources = Object.fromEntries(inspect[0].Settings.Mounts.map((m) => [m.Name, m.Source]));
    expect(sources).toEqual({ state: hostState(), policy: hostPolicyDir() });
  });

  test("the rootfs holds the executable, the glibc loader and its libraries", () => {
    const rootfs = join(dir, "plugin", "rootfs");
    expect(existsSync(join(rootfs, "agent"))).toBe(true);
    expect(existsSync(join(rootfs, "lib64", "ld-linux-x86-64.so.2"))).toBe(true);
    for (const dirName of ["tmp", "run/docker/plugins", "var/lib/agent", "etc/agent"]) {
      expect(existsSync(join(rootfs, dirName))).toBe(true);
    }
  });

  test("reads and ping pass through the plugin for the host's user", async () => {
    const ls = await dockerd.docker(["volume", "ls"]);
    expect(ls.stderr).toBe("");
    expect(ls.code).toBe(0);
    const plugins = await mustRun(["plugin", "ls", "--format", "{{.Name}} {{.Enabled}}"]);
    expect(plugins).toContain(`${NAME} true`);
  });

  test("a volume create is denied by the managed plugin, with its reason, and nothing is created", async () => {
    const r = await dockerd.docker(["volume", "create", "managed-denied"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`authorization denied by plugin ${NAME}:`);
    expect(r.stderr).toContain("volume:create");
    expect(r.stderr).toMatch(/decision [0-9a-f]{12}/);
    expect(await mustRun(["volume", "ls", "-q"])).not.toContain("managed-denied");
    // The decision was logged on the host, through the plugin's state mount (written in batches).
    await waitFor(
      "the denial in the host's audit log",
      () => Promise.resolve(auditText().includes('"action":"volume:create"')),
    );
  });

  test("an administrator may manage plugins: creating and removing another plugin passes", async () => {
    const spare = join(dir, "spare");
    mkdirSync(join(spare, "rootfs"), { recursive: true });
    writeFileSync(join(spare, "config.json"), readFileSync(join(dir, "plugin", "config.json")));
    await mustRun(["plugin", "create", "agent-spare:latest", spare]);
    await mustRun(["plugin", "rm", "agent-spare:latest"]);
  });

  test("a policy edit on the host reaches the plugin through its mount", async () => {
    writePolicy(NON_ADMIN_POLICY);
    await waitFor("the plugin to load the edited policy", async () => {
      const r = await dockerd.docker(["volume", "create", "managed-allowed"]);
      return r.code === 0;
    });
    await mustRun(["volume", "rm", "managed-allowed"]);
  });

  test("a non-administrator cannot disable the plugin, which would silently stop all authorization", async () => {
    for (const args of [["plugin", "disable", NAME], ["plugin", "disable", "-f", NAME]]) {
      const r = await dockerd.docker(args);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`authorization denied by plugin ${NAME}:`);
      expect(r.stderr).toContain("only policy administrators may change plugins");
    }
    const removed = await dockerd.docker(["plugin", "rm", "-f", NAME]);
    expect(removed.stderr).toContain("only policy administrators may change plugins");
    expect((await mustRun(["plugin", "inspect", "--format", "{{.Enabled}}", NAME])).trim()).toBe("true");
  });

  test("after a dockerd restart the plugin is restored and back in the chain from daemon.json", async () => {
    await dockerd.restart();
    const r = await dockerd.docker(["plugin", "disable", NAME]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("only policy administrators may change plugins");
  }, 90_000);
});
