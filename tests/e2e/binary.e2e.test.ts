/**
 * The compiled binary is the deliverable: scripts/build makes dist/agent and its checksum, and that one file
 * runs on a host with nothing but the C library. Proof: an empty root filesystem holding only dist/agent and
 * the shared libraries `ldd dist/agent` names (no node, bun, deno or node_modules), where `--version`,
 * `ca init` and `serve --demo` work under chroot, the served socket answering from outside. JavaScriptCore
 * reads /proc/self/maps at start, so /proc is mounted in the root (and unmounted after); nothing else is.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { DEMO_POLICY } from "../../src/policy/index.ts";
import { pluginCall, ROOT, run, spawnLogged, tempDir } from "./harness.ts";

const DIST = join(ROOT, "dist");
const BINARY = join(DIST, "agent");
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "not root (chroot and mount need it)";
  for (const bin of ["ldd", "chroot", "mount", "umount"]) {
    if (!Bun.which(bin)) return `${bin} is not installed`;
  }
  return undefined;
}

const why = unavailable();
if (why) {
  console.log(
    `\n###### SKIP binary.e2e.test.ts: the compiled-binary proof needs root, ldd, chroot and mount (${why}) ######\n`,
  );
}
const maybe = why ? describe.skip : describe;

/** Paths of the shared libraries and the loader `ldd` names for `binary`. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const r = await run(["ldd", binary]);
  if (r.code !== 0) throw new Error(`ldd failed: ${r.stderr}`);
  const paths: string[] = [];
  for (const line of r.stdout.split("\n")) {
    const match = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)/.exec(line);
    if (match?.[1]) paths.push(match[1]);
  }
  return paths;
}

/** Every file under `dir` as a path from `dir`; the mounted /proc is not the root's content. */
function filesUnder(dir: string, prefix = ""): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    if (prefix === "" && name === "proc") continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...filesUnder(path, `${prefix}/${name}`));
    else found.push(`${prefix}/${name}`);
  }
  return found.sort();
}

async function waitForSocket(
  path: string,
  proc: { exitCode: number | null },
  log: () => string,
): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`agent exited ${proc.exitCode}: ${log()}`);
    if (existsSync(path)) return;
    await Bun.sleep(50);
  }
  throw new Error(`no socket at ${path}: ${log()}`);
}

maybe("the compiled binary", () => {
  beforeAll(async () => {
    const r = await run([join(ROOT, "scripts", "build")], { timeoutMs: 170_000 });
    if (r.code !== 0) throw new Error(`scripts/build failed: ${r.stderr}`);
  }, 180_000);

  test("dist/agent.sha256 matches dist/agent", async () => {
    const hash = new Bun.CryptoHasher("sha256").update(await Bun.file(BINARY).arrayBuffer()).digest("hex");
    expect(readFileSync(join(DIST, "agent.sha256"), "utf8")).toBe(`${hash}  agent\n`);
  });

  test("--version prints the package version and the commit it was built from", async () => {
    const r = await run([BINARY, "--version"]);
    expect(r.code).toBe(0);
    const head = (await run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"])).stdout.trim();
    expect(r.stdout).toMatch(
      new RegExp(`^agent ${VERSION.replace(/\./g, "\\.")} \\(${head}(-dirty)?\\)\\n$`),
    );
  });

  describe("in an empty root holding only the libraries ldd names", () => {
    let root: string;
    let libraries: string[];
    let serve: ReturnType<typeof Bun.spawn> | undefined;
    let serveLog = "";
    let procMounted = false;

    beforeAll(async () => {
      root = join(tempDir("binary"), "root");
      mkdirSync(root, { recursive: true });
      copyFileSync(BINARY, join(root, "agent"));
      libraries = await sharedLibraries(BINARY);
      for (const lib of libraries) {
        mkdirSync(join(root, dirname(lib)), { recursive: true });
        copyFileSync(lib, join(root, lib)); // follows links: the root holds plain files at the paths asked for
      }
      mkdirSync(join(root, "proc"));
      const mounted = await run(["mount", "-t", "proc", "proc", join(root, "proc")]);
      if (mounted.code !== 0) throw new Error(`mount proc failed: ${mounted.stderr}`);
      procMounted = true;
    });

    afterAll(async () => {
      if (serve && serve.exitCode === null) {
        serve.kill("SIGKILL");
        await serve.exited;
      }
      if (procMounted) {
        const r = await run(["umount", join(root, "proc")]);
        if (r.code !== 0) await run(["umount", "-l", join(root, "proc")]);
      }
      if (!procMounted || (await run(["mountpoint", "-q", join(root, "proc")])).code !== 0) {
        rmSync(dirname(root), { recursive: true, force: true });
      }
    });

    test("holds no JavaScript runtime, no node_modules: just the agent, libc's libraries and the loader", () => {
      const files = filesUnder(root);
      expect(files).toEqual(["/agent", ...libraries].sort());
      expect(files.filter((f) => /node|bun|deno/.test(f))).toEqual([]);
      expect(libraries.some((lib) => lib.includes("ld-linux"))).toBe(true);
    });

    test("chroot ROOT /agent --version", async () => {
      const r = await run(["chroot", root, "/agent", "--version"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(r.stdout).toStartWith(`agent ${VERSION} (`);
    });

    test("chroot ROOT /agent ca init --state-dir /state", async () => {
      const r = await run(["chroot", root, "/agent", "ca", "init", "--state-dir", "/state"]);
      expect(r.code).toBe(0);
      for (const file of ["cluster.crt", "cluster.key", "crl.pem", "index.json"]) {
        expect(existsSync(join(root, "state", "ca", file))).toBe(true);
      }
      expect(statSync(join(root, "state", "ca", "cluster.key")).mode & 0o777).toBe(0o600);
    });

    test("chroot ROOT /agent serve --demo answers Plugin.Activate and AuthZReq on ROOT/state/agent.sock", async () => {
      const socket = join(root, "state", "agent.sock");
      const logFile = join(dirname(root), "serve.log");
      serve = spawnLogged(
        [
          "chroot",
          root,
          "/agent",
          "serve",
          "--demo",
          "--state-dir",
          "/state",
          "--socket",
          "/state/agent.sock",
        ],
        logFile,
      );
      const proc = serve;
      serveLog = logFile;
      await waitForSocket(socket, proc, () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : ""));
      expect(await pluginCall(socket, "/Plugin.Activate", "")).toEqual({
        status: 200,
        json: { Implements: ["authz"] },
      });
      const decision = await pluginCall(
        socket,
        "/AuthZPlugin.AuthZReq",
        JSON.stringify({ RequestMethod: "GET", RequestUri: "/v1.41/containers/json" }),
      );
      expect([decision.status, decision.json["Allow"]]).toEqual([200, true]);
    });

    test("the compiled doctor, outside, finds that agent answering with the CA it made", async () => {
      const socket = join(root, "state", "agent.sock");
      const policy = join(dirname(root), "demo-policy.yaml");
      writeFileSync(policy, DEMO_POLICY); // the same text as the embedded demo: the same policy hash
      const r = await run([
        BINARY,
        "doctor",
        "--json",
        "--state-dir",
        join(root, "state"),
        "--policy",
        policy,
        "--socket",
        socket,
        "--docker-config",
        join(dirname(root), "etc", "docker", "daemon.json"),
      ]);
      const report = JSON.parse(r.stdout) as {
        findings: { check: string; status: string; message: string }[];
      };
      const status = Object.fromEntries(report.findings.map((f) => [f.check, f.status]));
      expect(status).toMatchObject({
        socket: "ok",
        policy: "ok",
        "state-dir": "ok",
        ca: "ok",
        crl: "ok",
        docker: "fail",
      });
      expect(r.code).toBe(1); // dockerd is not configured to use it: that is a failure
    });

    test("stops cleanly on SIGTERM", async () => {
      if (!serve) throw new Error("serve did not start");
      serve.kill("SIGTERM");
      expect(await serve.exited).toBe(0);
      expect(readFileSync(serveLog, "utf8")).toContain("agent: stopped");
      expect(existsSync(join(root, "state", "agent.sock"))).toBe(false);
    });
  });

  test("install copies the running executable itself; uninstall refuses while dockerd uses it, then removes it", async () => {
    const prefix = tempDir("binary-install");
    try {
      const installed = await run([BINARY, "install", "--prefix", prefix, "--configure-docker"]);
      expect([installed.code, installed.stderr]).toEqual([0, ""]);
      const copy = join(prefix, "usr", "local", "bin", "agent");
      expect(Buffer.compare(readFileSync(copy), readFileSync(BINARY))).toBe(0);
      expect(statSync(copy).mode & 0o777).toBe(0o755);
      expect((await run([copy, "--version"])).stdout).toStartWith(`agent ${VERSION} (`);
      expect(JSON.parse(readFileSync(join(prefix, "etc", "docker", "daemon.json"), "utf8"))).toEqual({
        "authorization-plugins": ["agent"],
      });

      const refused = await run([BINARY, "uninstall", "--prefix", prefix]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("dockerd is still configured to use the agent");
      expect(existsSync(copy)).toBe(true);

      const removed = await run([BINARY, "uninstall", "--prefix", prefix, "--configure-docker", "--purge"]);
      expect(removed.code).toBe(0);
      expect(filesUnder(prefix)).toEqual(["/etc/docker/daemon.json"]);
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  });
});
