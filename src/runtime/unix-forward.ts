/**
 * Platform.unixForward over node:http (the same code under Bun and Deno): one request to a server on a unix
 * socket, bodies streamed both ways. node:http's client was about five times faster per call than fetch's
 * `unix` option on Bun 1.4.5 (47-60 us against 290-490 us, measured), and streams a 1 GiB upload with bounded
 * memory (about 70 MiB RSS at 620 MB/s, measured). Connections are kept alive in one pool per socket path.
 *
 * Backpressure both ways: the request body is read from its stream only as fast as the socket takes it, and
 * the response is paused while its stream's queue is full. Cancelling the response body, or aborting, closes
 * the connection (dockerd then ends a `logs -f` or an `events`).
 */
import { Agent, type IncomingMessage, request as httpRequest } from "node:http";
import { AgentError } from "../errors.ts";
import type { ForwardRequest, ForwardResponse } from "../ports.ts";
import { webStreamOf } from "./web-stream.ts";

/** Idle kept-alive connections per socket path (dockerd serves each on its own goroutine). */
const MAX_FREE_SOCKETS = 64;

const pools = new Map<string, Agent>();

function poolOf(socketPath: string): Agent {
  let agent = pools.get(socketPath);
  if (agent === undefined) {
    agent = new Agent({ keepAlive: true, maxFreeSockets: MAX_FREE_SOCKETS });
    pools.set(socketPath, agent);
  }
  return agent;
}

export function unixForward(socketPath: string, forward: ForwardRequest): Promise<ForwardResponse> {
  return new Promise<ForwardResponse>((resolve, reject) => {
    const signal = forward.signal;
    if (signal?.aborted) {
      reject(unreachable(socketPath, "aborted"));
      return;
    }
    const headers: [string, string][] = [];
    for (const [name, value] of forward.headers) headers.push([name, value]);
    // HTTP/1.1 needs a Host (dockerd answers 400 without one); the client's is kept when there is one.
    if (!headers.some(([name]) => name.toLowerCase() === "host")) headers.unshift(["host", "localhost"]);
    let settled = false;
    const req = httpRequest({
      socketPath,
      method: forward.method,
      path: forward.target,
      agent: poolOf(socketPath),
      // Arrays keep repeated headers and their order.
      headers: headers.flat(),
      setHost: false,
    });
    const onAbort = () => req.destroy(new Error("aborted"));
    signal?.addEventListener("abort", onAbort, { once: true });
    req.once("error", (err: Error) => {
      signal?.removeEventListener("abort", onAbort);
      if (!settled) {
        settled = true;
        reject(unreachable(socketPath, err.message));
      }
    });
    req.once("response", (res: IncomingMessage) => {
      settled = true;
      resolve({
        status: res.statusCode ?? 502,
        statusText: res.statusMessage ?? "",
        headers: pairsOf(res.rawHeaders),
        body: bodyOf(res, () => {
          signal?.removeEventListener("abort", onAbort);
          req.destroy();
        }),
      });
    });
    sendBody(req, forward.body);
  });
}

function unreachable(socketPath: string, detail: string): AgentError {
  return new AgentError("ERR_DOCKER_UNREACHABLE", `cannot reach the Docker daemon at ${socketPath}`, detail);
}

function pairsOf(raw: readonly string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return pairs;
}

type ClientRequest = ReturnType<typeof httpRequest>;

/** Writes the body, reading a stream only as fast as the socket drains; a stream that fails breaks the call. */
function sendBody(req: ClientRequest, body: ForwardRequest["body"]): void {
  if (body === undefined) {
    req.end();
    return;
  }
  if (body instanceof Uint8Array) {
    req.end(body);
    return;
  }
  const reader = body.getReader();
  req.once("close", () => void reader.cancel().catch(() => undefined));
  void (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (req.destroyed) return;
        if (!req.write(value)) await drained(req);
      }
      req.end();
    } catch (err) {
      req.destroy(err instanceof Error ? err : new Error("request body failed"));
    }
  })();
}

function drained(req: ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off("drain", done);
      req.off("close", done);
      resolve();
    };
    req.once("drain", done);
    req.once("close", done);
  });
}

/** The response as a web stream with backpressure; cancelling it closes the connection. */
function bodyOf(res: IncomingMessage, close: () => void): ReadableStream<Uint8Array> {
  return webStreamOf(res, {
    // An error, or a close before the end: the daemon went away mid-answer.
    broken: (cause) =>
      cause === undefined
        ? new AgentError("ERR_DOCKER_UNREACHABLE", "the Docker daemon closed the connection")
        : new AgentError("ERR_DOCKER_UNREACHABLE", "the connection to dockerd broke", cause.message),
    cancel: close,
  });
}
