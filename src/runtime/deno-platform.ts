/**
 * Platform services on Deno: unix-socket HTTP server, signals, file watching, child processes.
 * Every call here needs an explicit permission (see scripts/run-deno): the socket needs read, write and
 * `--allow-net=unix:PATH`; spawn needs `--allow-run`, which `serve` never uses.
 */
import { request as httpRequest } from "node:http";
import { Readable } from "node:stream";
import { basename, dirname } from "node:path";
import { serveOnSocket } from "./unix-socket-claim.ts";
import { serveHttps } from "./https-listener.ts";
import { websocketConnect } from "./websocket.ts";
import { hostNames } from "./host-names.ts";
import { abortableSleep } from "./sleep.ts";
import { unixHijack } from "./unix-hijack.ts";
import { unixForward } from "./unix-forward.ts";
import { stdinChunks } from "./stdin.ts";
import { connectSyslog } from "./syslog-transport.ts";
import type { Platform, ServeOptions, SpawnResult, UnixServer } from "../ports.ts";

// Never an HTML or text error page: dockerd forwards the body verbatim to the docker user.
const INTERNAL_ERROR_BODY = JSON.stringify({
  Allow: false,
  Msg: "internal error in the authorization plugin",
  Err: "internal error",
});

function serveUnix(options: ServeOptions): Promise<UnixServer> {
  // A live socket is refused (ERR_SOCKET_IN_USE); a stale one is replaced (unix-socket-claim.ts).
  const handler = options.fetch;
  return serveOnSocket(options.socketPath, options.socketMode, (path) =>
    Deno.serve({
      transport: "unix",
      path,
      // Deno prints "Listening on ..." to stdout by default; the agent's log lines are its own.
      onListen: () => {},
      onError: () =>
        new Response(INTERNAL_ERROR_BODY, { status: 200, headers: { "content-type": "application/json" } }),
    }, (request) => handler(request)), (server) => server.shutdown());
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

/**
 * HTTP over a unix socket with node:http's `socketPath`. Deno's own fetch would need a net permission for
 * the URL's host even through a unix-socket client; node:http needs only `--allow-net=unix:PATH` (plus
 * read and write on PATH), which keeps the agent off TCP entirely.
 */
async function httpsFetch(url: string, init: RequestInit, trust: { readonly caPem?: string }) {
  const client = trust.caPem === undefined ? undefined : Deno.createHttpClient({ caCerts: [trust.caPem] });
  try {
    const response = await fetch(
      url,
      { ...init, ...(client === undefined ? {} : { client }) } as RequestInit,
    );
    return new Response(await response.arrayBuffer(), response);
  } finally {
    client?.close();
  }
}

function unixFetch(socketPath: string, path: string, init: RequestInit = {}): Promise<Response> {
  const method = (init.method ?? "GET").toUpperCase();
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, key) => (headers[key] = value));
  headers["host"] ??= "localhost";
  const body = typeof init.body === "string" ? init.body : undefined;
  if (init.body !== undefined && init.body !== null && body === undefined) {
    return Promise.reject(new TypeError("unixFetch on Deno sends string bodies only"));
  }
  const signal = init.signal ?? undefined;
  return new Promise<Response>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const request = httpRequest({ socketPath, path, method, headers }, (incoming) => {
      const status = incoming.statusCode ?? 502;
      const responseHeaders = new Headers();
      for (let i = 0; i + 1 < incoming.rawHeaders.length; i += 2) {
        responseHeaders.append(incoming.rawHeaders[i]!, incoming.rawHeaders[i + 1]!);
      }
      const bodyless = method === "HEAD" || status === 204 || status === 304;
      if (bodyless) incoming.resume();
      // node:stream/web's ReadableStream is the web one at run time; only the declared types differ.
      const stream = bodyless ? null : (Readable.toWeb(incoming) as unknown as ReadableStream<Uint8Array>);
      resolve(new Response(stream, { status, headers: responseHeaders }));
    });
    const onAbort = () =>
      request.destroy(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
    signal?.addEventListener("abort", onAbort, { once: true });
    request.on("close", () => signal?.removeEventListener("abort", onAbort));
    request.on("error", reject);
    request.end(body);
  });
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
  serveHttps,
  hostNames,
  onSignal,
  watchFile,
  unixFetch,
  httpsFetch,
  websocketConnect,
  spawn,
  connectSyslog,
  // grpc-js is large: loaded only by commands that reach etcd.
  connectEtcd: async (options) => (await import("./etcd-grpc.ts")).connectEtcd(options),
  sleep: abortableSleep,
  pid: Deno.pid,
  monotonicMs: () => performance.now(),
  unixHijack,
  unixForward,
  readStdin: () => stdinChunks(() => Deno.stdin.readable),
};
