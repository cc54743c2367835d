/**
 * Composition root: builds the runtime services and hands argv to the CLI.
 * The only place that reads process.argv/env or sets the process exit code.
 *
 * `agent --version` is answered before the rest is loaded (the CLI, the X.509 stack, the runtime): the
 * modules are evaluated only when imported, so a version check costs what a one-line program does. There is
 * no top-level await: the binary is compiled to bytecode (scripts/build), which does not allow one.
 */
import "reflect-metadata"; // @peculiar/x509 needs it before it is imported (also in the compiled binary)
import type { BuildInfo, CliContext } from "./cli/context.ts";
import { asksForVersion, versionLine } from "./cli/version.ts";

// Replaced at build time by scripts/build (bun build --define).
declare const AGENT_VERSION: string | undefined;
declare const AGENT_COMMIT: string | undefined;

const build: BuildInfo = {
  version: typeof AGENT_VERSION === "string" ? AGENT_VERSION : "0.1.0-dev",
  commit: typeof AGENT_COMMIT === "string" ? AGENT_COMMIT : "unknown",
};

async function main(args: readonly string[]): Promise<number> {
  const [{ runCli }, { commandGroups }, { nodeFileSystem }, runtimes] = await Promise.all([
    import("./cli/index.ts"),
    import("./cli/commands.ts"),
    import("./runtime/node-file-system.ts"),
    import("./runtime/select-runtime.ts"),
  ]);
  // Bun for the compiled binary and `bun src/main.ts`; Deno for `deno run` (scripts/run-deno).
  const runtime = runtimes.currentRuntime();
  const ctx: CliContext = {
    fs: nodeFileSystem,
    clock: () => new Date(),
    random: (n) => crypto.getRandomValues(new Uint8Array(n)),
    // Deno's process.env throws for names outside --allow-env; those count as unset.
    env: runtime === "deno" ? runtimes.permissionTolerantEnv(process.env) : process.env,
    output: {
      out: (text) => void process.stdout.write(text),
      err: (text) => void process.stderr.write(text),
    },
    build,
    platform: await runtimes.loadPlatform(runtime),
  };
  return await runCli([...args], ctx, commandGroups);
}

// `agent policy actions | head` closes stdout early: that is the reader's choice, not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

/** How long a finished command waits for open handles to close by themselves before it exits anyway. */
const EXIT_GRACE_MS = 1_000;

const args = process.argv.slice(2);
if (asksForVersion(args)) {
  process.stdout.write(versionLine(build));
} else {
  void main(args).then((code) => {
    process.exitCode = code;
    // The command is done. A connection that cannot close cleanly (an HTTP/2 session to a frozen etcd
    // member never acknowledges its close) must not keep the process alive: exit shortly after, whatever
    // is left. The timer itself keeps nothing alive.
    setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  });
}
