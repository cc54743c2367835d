/**
 * Footprint of the compiled agent (dist/agent, rebuilt first): its size, a cold `--version`, what
 * `agent id exec` adds to a docker command, `ca create-api-certificate` as a whole process, and the resident
 * memory of `serve` when idle after start and after a burst of AuthZReq calls. Prints a markdown table for the README. Run by scripts/bench.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const BINARY = join(ROOT, "dist", "agent");
const BUN = join(ROOT, "node_modules", ".bin", "bun");
const VERSION_RUNS = 20;
const CERTIFICATE_RUNS = 10;
const BURST = 2000;

async function exec(cmd: string[]): Promise<{ code: number; ms: number; stderr: string }> {
  const start = performance.now();
  const proc = Bun.spawn(cmd, { stdout: "ignore", stderr: "pipe" });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  return { code, ms: performance.now() - start, stderr };
}

async function must(cmd: string[]): Promise<number> {
  const r = await exec(cmd);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.ms;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function timed(runs: number, cmd: (i: number) => string[]): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await must(cmd(i)));
  return times;
}

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match?.[1]) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

async function serveFigures(dir: string): Promise<{ idle: number; busy: number }> {
  const socket = join(dir, "agent.sock");
  const proc = Bun.spawn([BINARY, "serve", "--demo", "--state-dir", join(dir, "serve"), "--socket", socket], {
    stdout: "ignore",
    stderr: "ignore",
  });
  try {
    const deadline = Date.now() + 20_000;
    while (!existsSync(socket)) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error("agent serve did not start");
      await Bun.sleep(20);
    }
    await Bun.sleep(1000); // settle: what an idle agent holds, not its start-up peak
    const idle = rssKiB(proc.pid);
    const body = JSON.stringify({
      User: "bob",
      UserAuthNMethod: "TLS",
      RequestMethod: "GET",
      RequestUri: "/v1.41/containers/json?all=1",
    });
    for (let i = 0; i < BURST; i++) {
      const res = await fetch(
        "http://plugin/AuthZPlugin.AuthZReq",
        { method: "POST", body, unix: socket } as RequestInit,
      );
      await res.arrayBuffer();
    }
    return { idle, busy: rssKiB(proc.pid) };
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
  }
}

/**
 * What `agent id exec TOKEN -- docker ...` adds to the docker command it runs: the client alone and through
 * the agent, interleaved. The client's `--version` needs no daemon; the agent's share (its start, the
 * temporary config, the spawn) is the same whatever docker then does.
 */
async function idExecFigures(dir: string): Promise<string[][]> {
  const docker = Bun.which("docker");
  if (docker === null) {
    console.error("bench-footprint: no docker client on PATH: `agent id exec` not measured");
    return [];
  }
  const state = join(dir, "id");
  await must([BINARY, "id", "init", "--state-dir", state]);
  const minted = Bun.spawnSync([BINARY, "id", "create", "--state-dir", state], { stderr: "ignore" });
  const token = minted.stdout.toString().trim().split("\n").at(-1) ?? "";
  const alone: number[] = [];
  const through: number[] = [];
  for (let i = 0; i < VERSION_RUNS; i++) {
    alone.push(await must([docker, "--version"]));
    through.push(await must([BINARY, "id", "exec", token, "--", docker, "--version"]));
  }
  return [
    [`\`agent id exec TOKEN -- docker --version\` (median of ${VERSION_RUNS})`, ms(median(through))],
    ["(baseline) `docker --version` alone, interleaved", ms(median(alone))],
    ["what `agent id exec` adds", ms(median(through) - median(alone))],
  ];
}

/** The runtime's own floor: a compiled Bun.serve on a unix socket that answers every request with {}. */
async function trivialServerRss(dir: string): Promise<number> {
  const socket = join(dir, "trivial.sock");
  await Bun.write(
    join(dir, "trivial.ts"),
    `Bun.serve({ unix: ${JSON.stringify(socket)}, fetch: () => new Response("{}") });\n`,
  );
  await must([
    BUN,
    "build",
    join(dir, "trivial.ts"),
    "--compile",
    "--minify",
    "--outfile",
    join(dir, "trivial"),
  ]);
  const proc = Bun.spawn([join(dir, "trivial")], { stdout: "ignore", stderr: "ignore" });
  try {
    const deadline = Date.now() + 10_000;
    while (!existsSync(socket)) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        throw new Error("the trivial server did not start");
      }
      await Bun.sleep(20);
    }
    await Bun.sleep(1000);
    return rssKiB(proc.pid);
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
  }
}

const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
const ms = (value: number) => `${value.toFixed(1)} ms`;

async function main(): Promise<void> {
  await must([join(ROOT, "scripts", "build")]); // the figures are for the code as it is now
  const dir = mkdtempSync(join(tmpdir(), "agent-footprint-"));
  try {
    const size = statSync(BINARY).size;
    await must([BINARY, "--version"]); // page cache warm, as after the first run on a host
    const version = await timed(VERSION_RUNS, () => [BINARY, "--version"]);
    // Baseline from the same runtime: a compiled Bun program that only prints a line.
    await Bun.write(join(dir, "hello.ts"), 'console.log("hello");\n');
    await must([
      BUN,
      "build",
      join(dir, "hello.ts"),
      "--compile",
      "--minify",
      "--outfile",
      join(dir, "hello"),
    ]);
    await must([join(dir, "hello")]);
    const hello = await timed(VERSION_RUNS, () => [join(dir, "hello")]);
    const state = join(dir, "state");
    const init = await must([BINARY, "ca", "init", "--state-dir", state]);
    const certificate = await timed(CERTIFICATE_RUNS, (i) => [
      BINARY,
      "ca",
      "create-api-certificate",
      `user${i}`,
      "--state-dir",
      state,
      "--out",
      join(dir, "out"),
    ]);
    // Each command group loads only its own modules (the X.509 library only where certificates are made).
    const commands: [string, string[]][] = [
      ["`agent id --help`", ["id", "--help"]],
      ["`agent policy --help`", ["policy", "--help"]],
      ["`agent policy test --demo ...` (a whole decision)", [
        "policy",
        "test",
        "--demo",
        "--user",
        "bob",
        "--method",
        "GET",
        "--uri",
        "/v1.41/containers/json",
      ]],
      ["`agent ca --help`", ["ca", "--help"]],
    ];
    const commandRows: string[][] = [];
    for (const [label, args] of commands) {
      commandRows.push([
        `${label} (median of ${VERSION_RUNS})`,
        ms(median(await timed(VERSION_RUNS, () => [BINARY, ...args]))),
      ]);
    }
    const exec = await idExecFigures(dir);
    const rss = await serveFigures(dir);
    const baselineRss = await trivialServerRss(dir);
    const rows = [
      ["binary size (dist/agent, Bun runtime inside)", mib(size)],
      [
        "(baseline) size of a compiled Bun program that prints one line",
        mib(statSync(join(dir, "hello")).size),
      ],
      [`cold \`agent --version\` (median of ${VERSION_RUNS} processes)`, ms(median(version))],
      ["(baseline) a compiled Bun program that prints one line", ms(median(hello))],
      ...commandRows,
      ...exec,
      ["`agent ca init` (ECDSA P-256, whole process)", ms(init)],
      [
        `\`agent ca create-api-certificate\` (median of ${CERTIFICATE_RUNS} processes)`,
        ms(median(certificate)),
      ],
      ["`agent serve` resident memory, idle after start", mib(rss.idle * 1024)],
      [`\`agent serve\` resident memory after ${BURST} AuthZReq calls`, mib(rss.busy * 1024)],
      ["(baseline) a compiled Bun server on a unix socket answering {}, idle", mib(baselineRss * 1024)],
    ];
    console.log(`\n## Footprint (${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores)\n`);
    console.log("| figure | value |\n|---|---|");
    for (const [figure, value] of rows) console.log(`| ${figure} | ${value} |`);
    console.log("");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
