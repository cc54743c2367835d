import { afterAll, describe, expect, test } from "bun:test";
import { chmod, copyFile, cp, mkdir, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_POLICY_FILE, DEFAULT_SOCKET, DEFAULT_STATE_DIR } from "../../../src/cli/context.ts";
import { HOST_PATHS, PLUGIN_NAME, systemdUnit } from "../../../src/install/index.ts";
import { AgentError } from "../../../src/errors.ts";
import { removeTempRoots, tempRoot } from "./helpers.ts";

afterAll(removeTempRoots);

const SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze";
const SYSTEM_UNITS = "/usr/lib/systemd/system";
const unit = systemdUnit();

/** The value of `Key=` lines (comments excluded). */
function directive(key: string): string[] {
  return unit.split("\n").filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}

describe("systemd unit", () => {
  test("install paths are the CLI's defaults, so serve and doctor need no flags on an installed host", () => {
    expect(HOST_PATHS.policy).toBe(DEFAULT_POLICY_FILE);
    expect(HOST_PATHS.stateDir).toBe(DEFAULT_STATE_DIR);
    expect(HOST_PATHS.socket).toBe(DEFAULT_SOCKET);
    expect(PLUGIN_NAME).toBe("agent");
  });

  test("runs serve with the installed state dir, policy and socket", () => {
    expect(directive("ExecStart")).toEqual([
      "/usr/local/bin/agent serve --state-dir /var/lib/agent --policy /etc/agent/policy.yaml --socket /run/docker/plugins/agent.sock",
    ]);
    expect(directive("ExecReload")).toEqual(["/bin/kill -HUP $MAINPID"]);
    expect(directive("Restart")).toEqual(["on-failure"]);
  });

  test("starts before docker.service and is wanted by it, not required (an agent restart must not restart dockerd)", () => {
    expect(directive("Before")).toEqual(["docker.service"]);
    expect(directive("WantedBy")).toEqual(["multi-user.target docker.service"]);
    expect(directive("RequiredBy")).toEqual([]);
    expect(directive("Requires")).toEqual([]);
    expect(directive("BindsTo")).toEqual([]);
  });

  test("holds docker.service back until the socket exists", () => {
    const [post] = directive("ExecStartPost");
    expect(post).toContain("[ ! -S /run/docker/plugins/agent.sock ]");
    // `$$` is systemd's escape for a literal `$`; a bare `$i` would be expanded (to nothing) by systemd.
    expect(post).not.toMatch(/[^$]\$i/);
  });

  test("is hardened: no capabilities, read-only system, unix sockets only", () => {
    const expected: Record<string, string> = {
      NoNewPrivileges: "yes",
      CapabilityBoundingSet: "",
      ProtectSystem: "strict",
      ReadWritePaths: "/var/lib/agent /run/docker/plugins",
      PrivateTmp: "yes",
      ProtectHome: "yes",
      ProtectKernelTunables: "yes",
      ProtectKernelModules: "yes",
      ProtectControlGroups: "yes",
      RestrictAddressFamilies: "AF_UNIX",
      LockPersonality: "yes",
      SystemCallArchitectures: "native",
      UMask: "0077",
      StateDirectory: "agent",
      StateDirectoryMode: "0700",
      RuntimeDirectory: "docker/plugins",
      RuntimeDirectoryMode: "0700",
      RuntimeDirectoryPreserve: "yes",
    };
    for (const [key, value] of Object.entries(expected)) {
      expect([key, directive(key)]).toEqual([key, [value]]);
    }
  });

  test("does not set MemoryDenyWriteExecute (Bun's JIT needs writable+executable memory) and says why", () => {
    expect(directive("MemoryDenyWriteExecute")).toEqual([]);
    expect(unit).toMatch(/# MemoryDenyWriteExecute= is deliberately absent: .*JIT/);
  });

  test("refuses to put a path with spaces or quotes into the unit", () => {
    for (const bad of ["/opt/my agent", "/opt/'x'", "relative/agent"]) {
      let error: unknown;
      try {
        systemdUnit({ ...HOST_PATHS, binary: bad });
      } catch (err) {
        error = err;
      }
      expect(error instanceof AgentError ? [error.code, error.message] : error).toEqual([
        "ERR_INTERNAL",
        "internal error",
      ]);
    }
  });
});

/** A root with the distribution's units, /bin/sh and the files the unit names, for `systemd-analyze --root`. */
async function verifyRoot(unitText: string): Promise<string> {
  const root = await tempRoot("agent-unit-verify-");
  await cp(SYSTEM_UNITS, join(root, SYSTEM_UNITS), { recursive: true, verbatimSymlinks: true });
  for (const dir of ["bin", "usr/local/bin", "etc/systemd/system"]) {
    await mkdir(join(root, dir), { recursive: true });
  }
  await copyFile("/bin/sh", join(root, "bin/sh"));
  await copyFile("/bin/kill", join(root, "bin/kill")).catch(() =>
    copyFile("/usr/bin/kill", join(root, "bin/kill"))
  );
  await writeFile(join(root, "usr/local/bin/agent"), "#!/bin/sh\n");
  await chmod(join(root, "usr/local/bin/agent"), 0o755);
  await writeFile(join(root, "etc/systemd/system/agent.service"), unitText);
  return root;
}

function analyze(root: string): { code: number; output: string } {
  const result = Bun.spawnSync([SYSTEMD_ANALYZE, "verify", `--root=${root}`, "--man=no", "agent.service"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: result.exitCode ?? -1, output: `${result.stdout}${result.stderr}`.trim() };
}

const canVerify = existsSync(SYSTEMD_ANALYZE) && existsSync(SYSTEM_UNITS);
if (!canVerify) {
  console.log(
    `\n###### SKIP systemd-analyze verify: ${SYSTEMD_ANALYZE} or ${SYSTEM_UNITS} is missing ######\n`,
  );
}

describe.skipIf(!canVerify)("systemd-analyze verify", () => {
  test("passes on the generated unit with no warning at all", async () => {
    expect(analyze(await verifyRoot(unit))).toEqual({ code: 0, output: "" });
  });

  test("would catch a mistake: an unknown directive is reported", async () => {
    const broken = unit.replace("[Service]\n", "[Service]\nProtectEverything=yes\n");
    expect(analyze(await verifyRoot(broken)).output).toContain("Unknown key");
  });
});
