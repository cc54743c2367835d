/**
 * Platform services on Deno: unix-socket HTTP server, signals, file watching, child processes.
 * Every call here needs an explicit permission (see scripts/run-deno): the socket needs read, write and
 * `--allow-net=unix:PATH`; spawn needs `--allow-run`, which `serve` never uses.
 */
import { chmod, rm } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { Platform, ServeOptions, SpawnResult, UnixServer } from "../ports.ts";

// Never an HTML or text error page: dockerd forwards the body verbatim to the docker user.
const INTERNAL_ERROR_BODY = JSON.stringify({
  Allow: false,
  Msg: "internal error in the authorization plugin",
  Err: "internal error",
});

async function serveUnix(options: ServeOptions): Promise<UnixServer> {
  // A stale socket from a crashed run would make listen fail with EADDRINUSE.
  await rm(options.socketPath, { force: true });
  const handler = options.fetch;
  const server = Deno.serve({
    transport: "unix",
    path: options.socketPath,
    // Deno prints "Listening on ..." to stdout by default; the agent's log lines are its own.
    onListen: () => {},
    onError: () =>
      new Response(INTERNAL_ERROR_BODY, { status: 200, headers: { "content-type": "application/json" } }),
  }, (request) => handler(request));
  await chmod(options.socketPath, options.socketMode);
  return {
    async stop() {
      await server.shutdown();
      await rm(options.socketPath, { force: true });
    },
  };
}

function onSignal(signal: "SIGTERM" | "SIGINT" | "SIGHUP", handler: () => void): () => void {
  Deno.addSignalListener(signal, handler);
  return () => Deno.removeSignalListener(signal, handler);
}

function watchFile(path: string, onChange: () => void): () => void {
  // Watch the directory: editors and atomic writers replace the file, which ends a watch on the file itself.
  const name = basename(path);
  let watcher: Deno.FsWatcher;
  try {
    watcher = Deno.watchFs(dirname(path), { recursive: false });
  } catch {
    return () => {};
  }
  void (async () => {
    try {
      for await (const event of watcher) {
        if (event.paths.some((changed) => basename(changed) === name)) onChange();
      }
    } catch {
      // The watcher was closed or the directory vanished: callers also poll, so nothing is lost.
    }
  })();
  return () => {
    try {
      watcher.close();
    } catch {
      // already closed
    }
  };
}

// One HTTP client per socket keeps connections pooled across calls.
const clients = new Map<string, Deno.HttpClient>();

async function unixFetch(socketPath: string, path: string, init?: RequestInit): Promise<Response> {
  let client = clients.get(socketPath);
  if (client === undefined) {
    client = Deno.createHttpClient({ proxy: { transport: "unix", path: socketPath } });
    clients.set(socketPath, client);
  }
  return await fetch(`http://localhost${path}`, { ...init, client } as RequestInit);
}

async function spawn(
  command: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<SpawnResult> {
  // Deno.Command adds `env` to the inherited environment, so the parent's need not be read.
  const child = new Deno.Command(command, {
    args: [...args],
    env: { ...env },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const status = await child.status;
  return { exitCode: status.code };
}

export const denoPlatform: Platform = {
  serveUnix,
  onSignal,
  watchFile,
  unixFetch,
  spawn,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  pid: Deno.pid,
  monotonicMs: () => performance.now(),
};
