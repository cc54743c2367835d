import { afterAll, describe, expect, test } from "bun:test";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DEFAULT_POLICY, systemdUnit } from "../../../src/install/index.ts";
import { agent, fakeExecutable, removeTempRoots, snapshot, tempRoot } from "./helpers.ts";

afterAll(removeTempRoots);

interface Host {
  readonly root: string;
  readonly binary: string;
  path(p: string): string;
}

async function host(): Promise<Host> {
  const root = await tempRoot();
  const binary = join(await tempRoot("agent-binary-"), "agent");
  await writeFile(binary, fakeExecutable());
  return { root, binary, path: (p) => join(root, p) };
}

const modeOf = async (path: string) => ((await stat(path)).mode & 0o7777).toString(8);

describe("agent install --prefix", () => {
  test("installs the executable, unit, default policy and state dir, and prints the daemon.json entry", async () => {
    const h = await host();
    const r = await agent(["install", "--prefix", h.root, "--binary", h.binary]);
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    expect(await readFile(h.path("usr/local/bin/agent"))).toEqual(Buffer.from(fakeExecutable()));
    expect(await modeOf(h.path("usr/local/bin/agent"))).toBe("755");
    expect(await readFile(h.path("etc/systemd/system/agent.service"), "utf8")).toBe(systemdUnit());
    expect(await readFile(h.path("etc/agent/policy.yaml"), "utf8")).toBe(DEFAULT_POLICY);
    expect(await modeOf(h.path("var/lib/agent"))).toBe("700");
    expect(await modeOf(h.path("var/lib"))).toBe("755");
    expect(r.out).toContain(`write  ${h.path("usr/local/bin/agent")} (0755,`);
    expect(r.out).toContain('  "authorization-plugins": ["agent"]');
    expect(r.out).toContain("systemctl enable --now agent.service");
    // Without --configure-docker, dockerd's configuration is not created.
    expect((await snapshot(h.root))[h.path("etc/docker")]).toBeUndefined();
  });

  test("--dry-run prints every step and changes nothing", async () => {
    const h = await host();
    await mkdir(h.path("etc/docker"), { recursive: true });
    await writeFile(h.path("etc/docker/daemon.json"), '{"debug": true}');
    const before = await snapshot(h.root);
    const r = await agent([
      "install",
      "--prefix",
      h.root,
      "--binary",
      h.binary,
      "--configure-docker",
      "--dry-run",
    ]);
    expect(r.code).toBe(0);
    expect(await snapshot(h.root)).toEqual(before);
    expect(r.out).toStartWith("Dry run: nothing was changed.");
    for (
      const path of [
        "usr/local/bin/agent",
        "etc/agent/policy.yaml",
        "var/lib/agent",
        "etc/systemd/system/agent.service",
        "etc/docker/daemon.json",
      ]
    ) {
      expect(r.out).toContain(h.path(path));
    }
    expect(r.out).toContain("would be configured");
  });

  test("--configure-docker merges the plugin into daemon.json, keeping every other key and its mode", async () => {
    const h = await host();
    await mkdir(h.path("etc/docker"), { recursive: true });
    await writeFile(
      h.path("etc/docker/daemon.json"),
      '{"log-level":"warn","authorization-plugins":["opa"]}',
      { mode: 0o600 },
    );
    await chmod(h.path("etc/docker/daemon.json"), 0o600);
    const r = await agent(["install", "--prefix", h.root, "--binary", h.binary, "--configure-docker"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(await readFile(h.path("etc/docker/daemon.json"), "utf8"))).toEqual({
      "log-level": "warn",
      "authorization-plugins": ["opa", "agent"],
    });
    expect(await modeOf(h.path("etc/docker/daemon.json"))).toBe("600");
    expect(r.out).toContain("is now configured");
  });

  test("reinstalling the same executable changes nothing and keeps an edited policy", async () => {
    const h = await host();
    expect((await agent(["install", "--prefix", h.root, "--binary", h.binary, "--configure-docker"])).code)
      .toBe(0);
    await writeFile(h.path("etc/agent/policy.yaml"), "version: 1\nrules: []\n");
    const before = await snapshot(h.root);
    const r = await agent(["install", "--prefix", h.root, "--binary", h.binary, "--configure-docker"]);
    expect(r.code).toBe(0);
    expect(await snapshot(h.root)).toEqual(before);
    expect(r.out).toContain("the same executable is installed");
    expect(r.out).toContain("install never replaces it without --policy");
    expect(r.out).toContain("dockerd already uses the plugin");
  });

  test("a new executable replaces the old one atomically", async () => {
    const h = await host();
    await agent(["install", "--prefix", h.root, "--binary", h.binary]);
    await writeFile(h.binary, fakeExecutable("v2"));
    expect((await agent(["install", "--prefix", h.root, "--binary", h.binary])).code).toBe(0);
    expect(await readFile(h.path("usr/local/bin/agent"))).toEqual(Buffer.from(fakeExecutable("v2")));
    expect(Object.keys(await snapshot(h.path("usr/local/bin")))).toEqual([h.path("usr/local/bin/agent")]);
  });

  test("--policy installs a checked policy over the one there", async () => {
    const h = await host();
    await agent(["install", "--prefix", h.root, "--binary", h.binary]);
    const file = join(h.root, "mine.yaml");
    await writeFile(file, "version: 1\nrules:\n  - id: ops\n    who: [alice]\n    allow: ['*']\n");
    const r = await agent(["install", "--prefix", h.root, "--binary", h.binary, "--policy", file]);
    expect(r.code).toBe(0);
    expect(await readFile(h.path("etc/agent/policy.yaml"), "utf8")).toBe(await readFile(file, "utf8"));
    expect(r.out).toContain("(replaces the one there)");
  });

  test("refuses an invalid --policy before changing anything", async () => {
    const h = await host();
    const file = join(h.root, "bad.yaml");
    await writeFile(
      file,
      "version: 1\nrules:\n  - id: x\n    who: [alice]\n    allow: [container:teleport]\n",
    );
    const before = await snapshot(h.root);
    const r = await agent(["install", "--prefix", h.root, "--binary", h.binary, "--policy", file]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^agent: .*bad\.yaml:5:\d+: .* \[ERR_POLICY_INVALID\]\n$/);
    expect(await snapshot(h.root)).toEqual(before);
  });

  test("refuses a malformed daemon.json untouched, changing nothing else either", async () => {
    const h = await host();
    await mkdir(h.path("etc/docker"), { recursive: true });
    await writeFile(h.path("etc/docker/daemon.json"), '{"debug": true');
    const before = await snapshot(h.root);
    const r = await agent(["install", "--prefix", h.root, "--binary", h.binary, "--configure-docker"]);
    expect([r.code, r.err]).toEqual([
      1,
      `agent: ${
        h.path("etc/docker/daemon.json")
      } is not valid JSON: fix it by hand (nothing was changed) [ERR_DOCKER_CONFIG]\n`,
    ]);
    expect(await snapshot(h.root)).toEqual(before);
  });

  test("refuses --configure-docker when dockerd already gets --authorization-plugin from a drop-in", async () => {
    const h = await host();
    await mkdir(h.path("etc/systemd/system/docker.service.d"), { recursive: true });
    await writeFile(
      h.path("etc/systemd/system/docker.service.d/authz.conf"),
      "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd --authorization-plugin=opa\n",
    );
    const before = await snapshot(h.root);
    const r = await agent(["install", "--prefix", h.root, "--binary", h.binary, "--configure-docker"]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `agent: dockerd gets --authorization-plugin on its command line (${
        h.path("etc/systemd/system/docker.service.d/authz.conf")
      }), ` +
        "and it refuses to start when daemon.json lists plugins too: add --authorization-plugin=agent there instead of --configure-docker [ERR_INSTALL]\n",
    );
    expect(await snapshot(h.root)).toEqual(before);
  });

  test("tightens a state directory that is not 0700, and refuses one that is a file", async () => {
    const h = await host();
    await mkdir(h.path("var/lib/agent"), { recursive: true, mode: 0o755 });
    await chmod(h.path("var/lib/agent"), 0o755);
    expect((await agent(["install", "--prefix", h.root, "--binary", h.binary])).out).toContain("chmod ");
    expect(await modeOf(h.path("var/lib/agent"))).toBe("700");

    const other = await host();
    await mkdir(other.path("var/lib"), { recursive: true });
    await writeFile(other.path("var/lib/agent"), "not a directory");
    const r = await agent(["install", "--prefix", other.root, "--binary", other.binary]);
    expect([r.code, r.err]).toEqual([
      1,
      `agent: ${
        other.path("var/lib/agent")
      } exists and is not a directory: move it away first [ERR_INSTALL]\n`,
    ]);
  });

  test("says so, without changing anything, when the installed policy does not load", async () => {
    const h = await host();
    await mkdir(h.path("etc/agent"), { recursive: true });
    await writeFile(h.path("etc/agent/policy.yaml"), "version: 2\n");
    const r = await agent(["install", "--prefix", h.root, "--binary", h.binary]);
    expect(r.code).toBe(0);
    expect(await readFile(h.path("etc/agent/policy.yaml"), "utf8")).toBe("version: 2\n");
    expect(r.err).toMatch(
      /^agent: warning: .*policy\.yaml:1:\d+: .*the agent will not start until the policy is fixed\n$/,
    );
  });
});

describe("agent install refuses", () => {
  test("to install from source without --binary (the running executable is the JavaScript runtime)", async () => {
    const h = await host();
    const r = await agent(["install", "--prefix", h.root], { version: "0.1.0-dev" });
    expect([r.code, r.err]).toEqual([
      1,
      "agent: this agent runs from source, not as the compiled executable: build it (scripts/build) and run dist/agent install, or pass --binary dist/agent [ERR_INSTALL]\n",
    ]);
    expect(await snapshot(h.root)).toEqual({});
  });

  test("a --binary that is not an executable", async () => {
    const h = await host();
    const script = join(h.root, "agent.sh");
    await writeFile(script, "#!/bin/sh\necho hi\n");
    const r = await agent(["install", "--prefix", h.root, "--binary", script]);
    expect([r.code, r.err]).toEqual([
      1,
      `agent: ${script} is not a Linux executable (scripts/build makes dist/agent) [ERR_INSTALL]\n`,
    ]);
    const missing = await agent(["install", "--prefix", h.root, "--binary", join(h.root, "nope")]);
    expect([missing.code, missing.err]).toEqual([
      1,
      `agent: no executable at ${join(h.root, "nope")} [ERR_INSTALL]\n`,
    ]);
  });

  test("a relative --prefix (usage error, exit 2)", async () => {
    const r = await agent(["install", "--prefix", "image"]);
    expect([r.code, r.err]).toEqual([
      2,
      "agent: --prefix needs an absolute directory (e.g. --prefix /mnt/image) [ERR_USAGE]\n",
    ]);
  });
});

describe("help", () => {
  test("install --help prints usage, options, examples and exit codes", async () => {
    const r = await agent(["install", "--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("Usage: agent install [--dry-run] [--prefix DIR]");
    expect(r.out).toContain("--configure-docker");
    expect(r.out).toContain("Examples:");
    expect(r.out).toContain("Exit codes: 0 done, 1 failure or refusal");
  });
});
