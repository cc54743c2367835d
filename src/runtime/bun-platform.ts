/** Platform services on Bun: unix-socket HTTP server, signals, file watching, child processes. */
import { chmod, rm } from "node:fs/promises";
import { type FSWatcher, watch } from "node:fs";
import { basename, dirname } from "node:path";
import {
  claimSocketPath,
  pendingSocketPath,
  publishSocket,
  releaseSocketPath,
  type SocketIdentity,
} from "./unix-socket-claim.ts";
import { abortableSleep } from "./sleep.ts";
import type { Platform, ServeOptions, UnixServer } from "../ports.ts";

async function serveUnix(options: ServeOptions): Promise<UnixServer> {
  // A stale socket from a crashed run is replaced; a live one is refused (ERR_SOCKET_IN_USE).
  await claimSocketPath(options.socketPath);
  const pending = pendingSocketPath(options.socketPath);
  await rm(pending, { force: true });
  const server = Bun.serve({
    unix: pending,
    fetch: options.fetch,
    // Never Bun's HTML error page: dockerd forwards it verbatim to the docker user.
    error: () =>
      new Response(
        JSON.stringify({
          Allow: false,
          Msg: "internal error in the authorization plugin",
          Err: "internal error",
        }),
        {
          status: 200,
          headers: { "content-type": "application/json" },
        },
      ),
    development: false,
    // Beyond the plugin's own 8 MiB limit (checked in the app), Bun refuses the body outright.
    maxRequestBodySize: 16 * 1024 * 1024,
  });
  let mine: SocketIdentity | undefined;
  try {
    await chmod(pending, options.socketMode);
    mine = await publishSocket(pending, options.socketPath);
  } catch (err) {
    await server.stop(true);
    await rm(pending, { force: true });
    throw err;
  }
  return {
    async stop() {
      await server.stop(true);
      await releaseSocketPath(options.socketPath, mine);
    },
  };
}

function onSignal(signal: "SIGTERM" | "SIGINT" | "SIGHUP", handler: () => void): () => void {
  process.on(signal, handler);
  return () => process.off(signal, handler);
}

function watchFile(path: string, onChange: () => void): () => void {
  // Watch the directory: editors and atomic writers replace the file, which ends a watch on the file itself.
  let watcher: FSWatcher | undefined;
  try {
    const name = basename(path);
    watcher = watch(dirname(path), (_event, changed) => {
      if (changed === null || changed === name) onChange();
    });
  } catch {
    watcher = undefined;
  }
  return () => watcher?.close();
}

async function unixFetch(socketPath: string, path: string, init?: RequestInit): Promise<Response> {
  return await fetch(`http://localhost${path}`, { ...init, unix: socketPath } as RequestInit);
}

async function spawn(command: string, args: readonly string[], env: Readonly<Record<string, string>>) {
  const child = Bun.spawn([command, ...args], {
    env: { ...process.env, ...env },
    stdio: ["inherit", "inherit", "inherit"],
  });
  return { exitCode: await child.exited };
}

export const bunPlatform: Platform = {
  serveUnix,
  onSignal,
  watchFile,
  unixFetch,
  spawn,
  sleep: abortableSleep,
  pid: process.pid,
  monotonicMs: () => performance.now(),
};
