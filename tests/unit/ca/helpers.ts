/** Shared fixtures for the CA tests: temp state dirs, a seeded random source, openssl, runCli. */
import "reflect-metadata";
import { join } from "node:path";
import type { CaContext } from "../../../src/ca/index.ts";
import { runCli } from "../../../src/cli/index.ts";
import { caCommands } from "../../../src/cli/ca.ts";
import type { CliContext } from "../../../src/cli/context.ts";
import type { Clock, Platform } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { removeTempDirs, seededRandom, tempDir as sharedTempDir } from "../../helpers/fixtures.ts";
export { seededRandom };

/** OpenSSL checks validity against the real clock, so certificates it verifies are made "now". */
export const RUN_STARTED = new Date();
export const fixedClock = (date: Date = RUN_STARTED): Clock => () => new Date(date.getTime());

export { removeTempDirs };

export function tempDir(): Promise<string> {
  return sharedTempDir("agent-ca-test-");
}

export async function newCaContext(
  options: { clock?: Clock; seed?: string } = {},
): Promise<CaContext & { root: string }> {
  const root = await tempDir();
  return {
    root,
    fs: nodeFileSystem,
    clock: options.clock ?? fixedClock(),
    random: seededRandom(options.seed ?? root),
    caDir: join(root, "state", "ca"),
  };
}

/** Runs `openssl ...` synchronously. */
export function openssl(
  args: readonly string[],
  stdin?: string,
): { code: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync(["/usr/bin/openssl", ...args], {
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

/** What dockerd puts in RequestPeerCertificates: base64 of the PEM text. */
export function asDockerSendsIt(pem: string): string {
  return btoa(pem);
}

const noPlatform: Platform = new Proxy({} as Platform, {
  get() {
    throw new Error("the ca commands must not use the platform");
  },
});

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

let runs = 0;

export async function runCa(
  args: readonly string[],
  options: { clock?: Clock; seed?: string } = {},
): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    fs: nodeFileSystem,
    clock: options.clock ?? fixedClock(),
    random: seededRandom(options.seed ?? `${++runs}:${args.join(" ")}`),
    env: {},
    output: { out: (t) => void out.push(t), err: (t) => void err.push(t) },
    build: { version: "test", commit: "test" },
    platform: noPlatform,
  };
  const code = await runCli(["ca", ...args], ctx, [caCommands]);
  return { code, out: out.join(""), err: err.join("") };
}
