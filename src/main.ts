/**
 * Composition root: builds the runtime services and hands argv to the CLI.
 * The only place that reads process.argv/env or sets the process exit code.
 */
import "reflect-metadata"; // @peculiar/x509 needs it before it is imported (also in the compiled binary)
import { runCli } from "./cli/index.ts";
import { commandGroups } from "./cli/commands.ts";
import type { CliContext } from "./cli/context.ts";
import { nodeFileSystem } from "./runtime/node-file-system.ts";
import { currentRuntime, loadPlatform, permissionTolerantEnv } from "./runtime/select-runtime.ts";

// Replaced at build time by scripts/build (bun build --define).
declare const AGENT_VERSION: string | undefined;
declare const AGENT_COMMIT: string | undefined;

// Bun for the compiled binary and `bun src/main.ts`; Deno for `deno run` (scripts/run-deno).
const runtime = currentRuntime();

// `agent policy actions | head` closes stdout early: that is the reader's choice, not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

const ctx: CliContext = {
  fs: nodeFileSystem,
  clock: () => new Date(),
  random: (n) => crypto.getRandomValues(new Uint8Array(n)),
  // Deno's process.env throws for names outside --allow-env; those count as unset.
  env: runtime === "deno" ? permissionTolerantEnv(process.env) : process.env,
  output: {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
  },
  build: {
    version: typeof AGENT_VERSION === "string" ? AGENT_VERSION : "0.1.0-dev",
    commit: typeof AGENT_COMMIT === "string" ? AGENT_COMMIT : "unknown",
  },
  platform: await loadPlatform(runtime),
};

const code = await runCli(process.argv.slice(2), ctx, commandGroups);
process.exitCode = code;
