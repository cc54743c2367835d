import { afterAll, describe, expect, test } from "bun:test";
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { agent, fakeExecutable, removeTempRoots, snapshot, tempRoot } from "./helpers.ts";

afterAll(removeTempRoots);

/** A prefix where install ran with --configure-docker and systemctl enable made its links. */
async function installedHost(daemonJson = '{"debug":true}') {
  const root = await tempRoot();
  const path = (p: string) => join(root, p);
  const binary = join(root, "dist-agent");
  await writeFile(binary, fakeExecutable());
  await mkdir(path("etc/docker"), { recursive: true });
  await writeFile(path("etc/docker/daemon.json"), daemonJson);
  const r = await agent(["install", "--prefix", root, "--binary", binary, "--configure-docker"]);
  if (r.code !== 0) throw new Error(r.err);
  for (const wants of ["multi-user.target.wants", "docker.service.wants"]) {
    await mkdir(path(`etc/systemd/system/${wants}`), { recursive: true });
    await symlink("/etc/systemd/system/agent.service", path(`etc/systemd/system/${wants}/agent.service`));
  }
  await writeFile(path("var/lib/agent/audit.log"), "{}\n");
  return { root, path };
}

describe("agent uninstall --prefix", () => {
  test("refuses, changing nothing, while daemon.json still lists the plugin", async () => {
    const h = await installedHost();
    const before = await snapshot(h.root);
    const r = await agent(["uninstall", "--prefix", h.root]);
    expect([r.code, r.err]).toEqual([
      1,
      `agent: dockerd is still configured to use the agent (${
        h.path("etc/docker/daemon.json")
      } lists "agent" in ` +
      "authorization-plugins); without the plugin it would refuse every API call and not start again. Run " +
      "`agent uninstall --configure-docker` to remove the entry (or remove it by hand), then reload dockerd [ERR_INSTALL]\n",
    ]);
    expect(await snapshot(h.root)).toEqual(before);
  });

  test("--configure-docker removes the entry first, then the links, unit and executable; keeps policy and state", async () => {
    const h = await installedHost('{"debug":true,"authorization-plugins":["opa"]}');
    const r = await agent(["uninstall", "--prefix", h.root, "--configure-docker"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(await readFile(h.path("etc/docker/daemon.json"), "utf8"))).toEqual({
      debug: true,
      "authorization-plugins": ["opa"],
    });
    const left = Object.keys(await snapshot(h.root)).map((p) => p.slice(h.root.length + 1));
    expect(left).not.toContain("usr/local/bin/agent");
    expect(left).not.toContain("etc/systemd/system/agent.service");
    expect(left).not.toContain("etc/systemd/system/docker.service.wants/agent.service");
    expect(left).not.toContain("etc/systemd/system/multi-user.target.wants/agent.service");
    expect(left).toContain("etc/agent/policy.yaml");
    expect(left).toContain("var/lib/agent/audit.log");
    const lines = r.out.split("\n");
    expect(lines.findIndex((l) => l.includes("daemon.json"))).toBeLessThan(
      lines.findIndex((l) => l.includes("agent.service")),
    );
    expect(r.out).toContain("systemctl reload docker");
  });

  test("--purge also removes the policy and the state directory", async () => {
    const h = await installedHost();
    const r = await agent(["uninstall", "--prefix", h.root, "--configure-docker", "--purge"]);
    expect(r.code).toBe(0);
    const left = Object.keys(await snapshot(h.root)).map((p) => p.slice(h.root.length + 1));
    expect(left.filter((p) => p.startsWith("etc/agent") || p.startsWith("var/lib/agent"))).toEqual([]);
    expect(left).toContain("etc/docker/daemon.json");
    expect(r.out).toContain("--purge: keys, CA (with its private key), audit log");
  });

  test("--purge never follows a symbolic link out of the state directory", async () => {
    const h = await installedHost();
    const outside = join(await tempRoot("agent-outside-"), "precious");
    await writeFile(outside, "keep me");
    await symlink(join(outside, ".."), h.path("var/lib/agent/link-to-outside"));
    expect((await agent(["uninstall", "--prefix", h.root, "--configure-docker", "--purge"])).code).toBe(0);
    expect(await readFile(outside, "utf8")).toBe("keep me");
  });

  test("--dry-run prints the steps and changes nothing", async () => {
    const h = await installedHost();
    const before = await snapshot(h.root);
    const r = await agent(["uninstall", "--prefix", h.root, "--configure-docker", "--purge", "--dry-run"]);
    expect(r.code).toBe(0);
    expect(await snapshot(h.root)).toEqual(before);
    expect(r.out).toStartWith("Dry run: nothing was changed.");
    expect(r.out).toContain(`remove ${h.path("var/lib/agent")} and everything in it`);
  });

  test("refuses while a docker.service drop-in passes --authorization-plugin=agent", async () => {
    const h = await installedHost();
    await writeFile(h.path("etc/docker/daemon.json"), "{}");
    await mkdir(h.path("etc/systemd/system/docker.service.d"), { recursive: true });
    const dropIn = h.path("etc/systemd/system/docker.service.d/agent.conf");
    await writeFile(
      dropIn,
      "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd --authorization-plugin agent\n",
    );
    const before = await snapshot(h.root);
    const r = await agent(["uninstall", "--prefix", h.root, "--configure-docker"]);
    expect([r.code, r.err]).toEqual([
      1,
      `agent: dockerd is started with --authorization-plugin=agent (${dropIn}): remove that flag and restart dockerd ` +
      "first; uninstalling now would leave dockerd unable to start [ERR_INSTALL]\n",
    ]);
    expect(await snapshot(h.root)).toEqual(before);
  });

  test("refuses when daemon.json is malformed (it cannot tell whether dockerd still uses the agent)", async () => {
    const h = await installedHost();
    await writeFile(h.path("etc/docker/daemon.json"), "{oops");
    const r = await agent(["uninstall", "--prefix", h.root, "--configure-docker"]);
    expect([r.code, r.err]).toEqual([
      1,
      `agent: ${
        h.path("etc/docker/daemon.json")
      } is not valid JSON: fix it by hand (nothing was changed) [ERR_DOCKER_CONFIG]\n`,
    ]);
  });

  test("on a host without the agent says there is nothing to remove", async () => {
    const root = await tempRoot();
    const r = await agent(["uninstall", "--prefix", root]);
    expect([r.code, r.out]).toEqual([0, "The agent is not installed here: nothing to remove.\n"]);
  });
});
