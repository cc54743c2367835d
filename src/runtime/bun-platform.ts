/** Platform services on Bun: unix-socket HTTP server, signals, file watching, child processes. */
import { type FSWatcher, watch } from "node:fs";
import { basename, dirname } from "node:path";
import { serveOnSocket } from "./unix-socket-claim.ts";
import { hostNames } from "./host-names.ts";
import { abortableSleep } from "./sleep.ts";
import { stdinChunks } from "./stdin.ts";
import { connectSyslog } from "./syslog-transport.ts";
import type { Platform, ServeOptions, UnixServer } from "../ports.ts";

function serveUnix(options: ServeOptions): Promise<UnixServer> {
  // A live socket is refused (ERR_SOCKET_IN_USE); a stale one is replaced (unix-socket-claim.ts).
  return serveOnSocket(options.socketPath, options.socketMode, (path) =>
    Bun.serve({
      unix: path,
      fetch: options.fetch,
      // Never Bun's HTML error page: dockerd forwards it verbatim to the docker user.
      error: () =>
        new Response(
          JSON.stringify({
            Allow: false,
            Msg: "internal error in the authorization plugin",
            Err: "internal error",
          }),
          { status: 200, headers: { "content-type": "application/json" } },
        ),
      development: false,
      // Beyond the plugin's own 8 MiB limit (checked in the app), Bun refuses the body outright.
      maxRequestBodySize: 16 * 1024 * 1024,
    }), (server) => server.stop(true));
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

async function httpsFetch(url: string, init: RequestInit, trust: { readonly caPem?: string }) {
  const tls = trust.caPem === undefined ? {} : { tls: { ca: trust.caPem } };
  const response = await fetch(url, { ...init, ...tls } as RequestInit);
  return new Response(await response.arrayBuffer(), response);
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
  // node:http and node:tls (the listener, the gateway's hops, websockets out) load only when first used: a
  // plugin-only host and most commands never do, and loading them costs start-up time and memory.
  serveHttps: async (options) => (await import("./https-listener.ts")).serveHttps(options),
  hostNames,
  onSignal,
  watchFile,
  unixFetch,
  httpsFetch,
  websocketConnect: async (url, init, open) =>
    (await import("./websocket.ts")).websocketConnect(url, init, open),
  spawn,
  connectSyslog,
  // grpc-js is large: loaded only by commands that reach etcd.
  connectEtcd: async (options) => (await import("./etcd-grpc.ts")).connectEtcd(options),
  sleep: abortableSleep,
  pid: process.pid,
  monotonicMs: () => performance.now(),
  unixHijack: async (socketPath, request) =>
    (await import("./unix-hijack.ts")).unixHijack(socketPath, request),
  unixForward: async (socketPath, request) =>
    (await import("./unix-forward.ts")).unixForward(socketPath, request),
  readStdin: () => stdinChunks(() => Bun.stdin.stream()),
  collectGarbage: () => Bun.gc(true),
};
