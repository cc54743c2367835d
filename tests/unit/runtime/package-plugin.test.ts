/** scripts/package-plugin without docker: the directory it writes, and what it refuses. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..", "..");
const SCRIPT = join(ROOT, "scripts", "package-plugin");
// Any dynamically linked executable stands in for dist/agent: the script copies what `ldd` names.
const BINARY = "/bin/true";
const dir = mkdtempSync(join(tmpdir(), "package-plugin-"));

function packagePlugin(args: string[]) {
  const result = Bun.spawnSync([SCRIPT, ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("scripts/package-plugin", () => {
  const out = join(dir, "plugin");

  test("writes config.json for an authz plugin on agent.sock with no network and no extra capabilities", () => {
    const r = packagePlugin(["--binary", BINARY, "--out", out]);
    expect(r.stderr).toContain(`package-plugin: ${out}`);
    expect(r.code).toBe(0);
    const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
    expect(config.interface).toEqual({ types: ["docker.authz/1.0"], socket: "agent.sock" });
    expect(config.network).toEqual({ type: "none" });
    expect(config.linux).toEqual({ capabilities: [] });
    expect(config.entrypoint.slice(0, 2)).toEqual(["/agent", "serve"]);
    expect(config.entrypoint.at(-1)).toBe("/run/docker/plugins/agent.sock");
  });

  test("mounts the host's state read-write and its policy directory read-only, both with settable sources", () => {
    const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
    const mounts = Object.fromEntries(
      (config.mounts as { name: string }[]).map((m) => [m.name, m]),
    );
    expect(mounts["state"]).toMatchObject({
      source: "/var/lib/agent",
      destination: "/var/lib/agent",
      type: "bind",
      options: ["rbind", "rw"],
      settable: ["source"],
    });
    expect(mounts["policy"]).toMatchObject({
      source: "/etc/agent",
      destination: "/etc/agent",
      type: "bind",
      options: ["rbind", "ro"],
      settable: ["source"],
    });
  });

  test("puts the executable, the loader and every library ldd names into the rootfs", () => {
    const rootfs = join(out, "rootfs");
    expect(statSync(join(rootfs, "agent")).mode & 0o111).not.toBe(0);
    const ldd = Bun.spawnSync(["ldd", BINARY]).stdout.toString();
    const paths = [...ldd.matchAll(/(?:=> )?(\/\S+) \(0x/g)].map((m) => m[1]!);
    expect(paths.length).toBeGreaterThan(1);
    for (const path of paths) expect(existsSync(join(rootfs, path))).toBe(true);
    for (const empty of ["tmp", "run/docker/plugins", "var/lib/agent", "etc/agent"]) {
      expect(statSync(join(rootfs, empty)).isDirectory()).toBe(true);
    }
  });

  test("replaces a plugin directory it made before", () => {
    writeFileSync(join(out, "rootfs", "stale"), "x");
    expect(packagePlugin(["--binary", BINARY, "--out", out]).code).toBe(0);
    expect(existsSync(join(out, "rootfs", "stale"))).toBe(false);
  });

  test("refuses to replace a directory that is not a plugin directory, and leaves it alone", () => {
    const other = join(dir, "precious");
    mkdirSync(other);
    writeFileSync(join(other, "keep.txt"), "mine");
    const r = packagePlugin(["--binary", BINARY, "--out", other]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("exists and is not a plugin directory; refusing to replace it");
    expect(readFileSync(join(other, "keep.txt"), "utf8")).toBe("mine");
  });

  test("fails on a binary that is not executable", () => {
    const r = packagePlugin(["--binary", join(dir, "missing"), "--out", join(dir, "p2")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("package-plugin: not an executable:");
  });

  test("exits 2 on an unknown argument or a missing value", () => {
    const unknown = packagePlugin(["--frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("package-plugin: unknown argument: --frobnicate");
    expect(packagePlugin(["--out"]).code).toBe(2);
  });
});
