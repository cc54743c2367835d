/** Shared fixtures for the install and doctor tests: temp roots, a test CliContext, tree snapshots. */
import "reflect-metadata";
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../../src/cli/index.ts";
import type { CliContext } from "../../../src/cli/context.ts";
import { serveCommands } from "../../../src/cli/serve.ts";
import type { Clock, Platform } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";

export const NOW = new Date("2026-03-01T12:00:00Z");
export const fixedClock = (date: Date = NOW): Clock => () => new Date(date.getTime());

const dirs: string[] = [];

export async function tempRoot(prefix = "agent-install-test-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export async function removeTempRoots(): Promise<void> {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/** A platform whose every use fails the test (install and uninstall must not serve, spawn or fetch). */
export const noPlatform: Platform = new Proxy({} as Platform, {
  get(_target, name) {
    throw new Error(`this command must not use the platform (${String(name)})`);
  },
});

/** Bytes that pass the executable check: the ELF magic and some content. */
export function fakeExecutable(tag = "v1"): Uint8Array {
  return new Uint8Array([
    0x7f,
    0x45,
    0x4c,
    0x46,
    2,
    1,
    1,
    0,
    ...new TextEncoder().encode(`fake agent ${tag}`),
  ]);
}

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export interface RunOptions {
  readonly version?: string;
  readonly platform?: Platform;
  readonly clock?: Clock;
  readonly env?: Record<string, string>;
}

/** Runs `agent <args>` through the top-level commands with captured output and real files. */
export async function agent(args: readonly string[], options: RunOptions = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    fs: nodeFileSystem,
    clock: options.clock ?? fixedClock(),
    random: (n) => new Uint8Array(n).fill(7),
    env: options.env ?? {},
    output: { out: (t) => void out.push(t), err: (t) => void err.push(t) },
    build: { version: options.version ?? "1.2.3", commit: "test" },
    platform: options.platform ?? noPlatform,
  };
  const code = await runCli(args, ctx, [serveCommands]);
  return { code, out: out.join(""), err: err.join("") };
}

/** Every path under `root` with its mode and content (or link target): equal snapshots mean nothing changed. */
export async function snapshot(root: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  const walk = async (dir: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const info = await lstat(path);
      const mode = (info.mode & 0o7777).toString(8);
      if (info.isSymbolicLink()) result[path] = `link -> ${await readlink(path)}`;
      else if (info.isDirectory()) {
        result[path] = `dir ${mode}`;
        await walk(path);
      } else result[path] = `file ${mode} ${(await readFile(path)).toString("base64")}`;
    }
  };
  await walk(root);
  return result;
}
