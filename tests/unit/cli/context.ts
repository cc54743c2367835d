/** A test CliContext for command groups: output captured in strings, real files in temp dirs, fixed time. */
import "reflect-metadata"; // @peculiar/x509 (reached through src/decide) needs it before it loads
import type { CliContext } from "../../../src/cli/context.ts";
import type { GroupEntry } from "../../../src/cli/group.ts";
import { runCli } from "../../../src/cli/index.ts";
import type { Clock, Env, Platform, RandomBytes } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { removeTempDirs, tempDir as sharedTempDir } from "../../helpers/fixtures.ts";

export const FIXED_TIME = new Date("2026-01-02T03:04:05.000Z");

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Commands that serve or spawn need a real platform; these tests must not reach it. */
const noPlatform: Platform = new Proxy({} as Platform, {
  get(_, name) {
    throw new Error(`this command must not use the platform (${String(name)})`);
  },
});

/** Deterministic bytes (a counter), so a failing run reproduces. */
function countingRandom(): (n: number) => Uint8Array {
  let next = 0;
  return (n) => Uint8Array.from({ length: n }, () => next++ & 0xff);
}

/** Runs `agent <argv...>` against `groups` and returns the exit code with everything printed. */
export async function runAgent(
  argv: readonly string[],
  groups: readonly GroupEntry[],
  options: { readonly env?: Env; readonly random?: RandomBytes; readonly clock?: Clock } = {},
): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    fs: nodeFileSystem,
    clock: options.clock ?? (() => new Date(FIXED_TIME.getTime())),
    random: options.random ?? countingRandom(),
    env: options.env ?? {},
    output: { out: (text) => void out.push(text), err: (text) => void err.push(text) },
    build: { version: "test", commit: "test" },
    platform: noPlatform,
  };
  const code = await runCli(argv, ctx, groups);
  return { code, out: out.join(""), err: err.join("") };
}

export { removeTempDirs };

export function tempDir(): Promise<string> {
  return sharedTempDir("agent-cli-test-");
}
