/** Fixtures for the `agent id` command tests: temp dirs, a fake daemon on the platform port, runCli. */
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { CliContext } from "../../../src/cli/context.ts";
import { idCommands } from "../../../src/cli/id.ts";
import { runCli } from "../../../src/cli/index.ts";
import type { Clock, Platform, RandomBytes } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import {
  removeTempDirs,
  seededRandom as sharedSeededRandom,
  tempDir as sharedTempDir,
} from "../../helpers/fixtures.ts";
import { refusingPlatform } from "../../helpers/refusing-platform.ts";

export const WEB_ID = "3f2a9c".padEnd(64, "1");
export const NUMERIC_ID = "0123".padEnd(64, "7");
export const TINY_ID = `sha256:${"c0ffee".padEnd(64, "3")}`;
export const NOW = new Date("2026-03-01T12:00:00.250Z");
export const fixedClock: Clock = () => new Date(NOW.getTime());

let seedCounter = 0;
export function seededRandom(seed = `run ${++seedCounter}`): RandomBytes {
  return sharedSeededRandom(seed);
}

export { removeTempDirs };

export function tempDir(): Promise<string> {
  return sharedTempDir("agent-id-test-");
}

export interface FetchCall {
  readonly socket: string;
  readonly path: string;
  readonly headers: Record<string, string>;
}

export interface SpawnCall {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** config.json in DOCKER_CONFIG as the command saw it. */
  readonly config: string | undefined;
}

export interface FakePlatform extends Platform {
  readonly fetches: FetchCall[];
  readonly spawns: SpawnCall[];
  exitCode: number;
}

/** A daemon with container web (also "0123...") and image tiny:latest; /missing.sock is unreachable. */
export function fakePlatform(): FakePlatform {
  const containers: Record<string, string> = {
    web: WEB_ID,
    "3f2a9c": WEB_ID,
    [WEB_ID]: WEB_ID,
    "0123": NUMERIC_ID,
  };
  const images: Record<string, string> = { "tiny:latest": TINY_ID, tiny: TINY_ID };
  const platform: FakePlatform = {
    ...refusingPlatform("id tests"),
    fetches: [],
    spawns: [],
    exitCode: 0,
    unixFetch(socket, path, init) {
      // No agent serves in these tests: commands asking the plugin socket whether it applied a change hear none.
      if (socket === "/run/docker/plugins/agent.sock") return Promise.reject(new Error("ENOENT"));
      const headers: Record<string, string> = {};
      new Headers(init?.headers).forEach((value, name) => void (headers[name] = value));
      platform.fetches.push({ socket, path, headers });
      if (socket === "/missing.sock") return Promise.reject(new Error("ENOENT"));
      const m = /^\/(containers|images)\/(.+)\/json$/.exec(path);
      const table = m?.[1] === "containers" ? containers : images;
      const id = m ? table[decodeURIComponent(m[2]!)] : undefined;
      return Promise.resolve(
        id === undefined
          ? new Response(JSON.stringify({ message: "No such object" }), { status: 404 })
          : new Response(JSON.stringify({ Id: id }), { status: 200 }),
      );
    },
    async spawn(command, args, env) {
      if (command === "rm") {
        await rm(args[args.length - 1]!, { recursive: true, force: true });
        return { exitCode: 0 };
      }
      let config: string | undefined;
      try {
        config = readFileSync(join(env["DOCKER_CONFIG"] ?? "/nonexistent", "config.json"), "utf8");
      } catch {
        config = undefined;
      }
      platform.spawns.push({ command, args, env, config });
      return { exitCode: platform.exitCode };
    },
  };
  return platform;
}

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
  /** The last line of stdout (where tokens go). */
  readonly last: string;
}

export interface IdEnv {
  readonly stateDir: string;
  readonly dockerConfig: string;
  readonly platform: FakePlatform;
  run(
    args: readonly string[],
    options?: { clock?: Clock; env?: Record<string, string>; random?: RandomBytes },
  ): Promise<CliRun>;
}

/** A temp state dir and DOCKER_CONFIG; `run` calls `agent id ...` with --state-dir. */
export async function idEnv(): Promise<IdEnv> {
  const root = await tempDir();
  const stateDir = join(root, "state");
  const dockerConfig = join(root, "docker-config");
  const platform = fakePlatform();
  const random = seededRandom(root);
  return {
    stateDir,
    dockerConfig,
    platform,
    async run(args, options = {}) {
      const out: string[] = [];
      const err: string[] = [];
      const ctx: CliContext = {
        fs: nodeFileSystem,
        clock: options.clock ?? fixedClock,
        random: options.random ?? random,
        env: { DOCKER_CONFIG: dockerConfig, HOME: root, TMPDIR: root, ...options.env },
        output: { out: (t) => void out.push(t), err: (t) => void err.push(t) },
        build: { version: "test", commit: "test" },
        platform,
      };
      // --state-dir right after the verb, so it never lands after `--` (exec).
      const argv = ["id", ...args.slice(0, 1), "--state-dir", stateDir, ...args.slice(1)];
      const code = await runCli(argv, ctx, [idCommands]);
      const stdout = out.join("");
      return { code, out: stdout, err: err.join(""), last: stdout.trimEnd().split("\n").at(-1) ?? "" };
    },
  };
}
