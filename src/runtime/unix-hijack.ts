/**
 * Platform.unixHijack over node:net (the same code under Bun and Deno): one HTTP/1.1 request written by hand
 * to a unix socket with `Connection: Upgrade` and `Upgrade: tcp`, the response head parsed here, and the
 * connection handed on as a byte stream both ways (dockerd's exec start and attach).
 *
 * The socket is opened with allowHalfOpen, so closeWrite() sends a FIN (the process's stdin sees EOF) while
 * dockerd's output keeps arriving. Reading applies backpressure: the socket is paused while the output
 * stream's queue is full.
 */
import { createConnection, type Socket } from "node:net";
import { AgentError } from "../errors.ts";
import type { HijackedStream, HijackRequest } from "../ports.ts";
import { joinBytes } from "../bytes.ts";

/** The response head may be at most this long (dockerd's is about 150 bytes). */
const MAX_HEAD_BYTES = 64 * 1024;
/** An error body is read up to this size; the rest is dropped. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** What the output stream queues before the socket is paused. */
const OUTPUT_HIGH_WATER_BYTES = 256 * 1024;

/** Headers the platform writes itself: a caller's copy of them is dropped (no request smuggling). */
const OWN_HEADERS = new Set([
  "host",
  "connection",
  "upgrade",
  "content-type",
  "content-length",
  "transfer-encoding",
]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const REQUEST_TARGET = /^\/[\x21-\x7e]*$/;

export function unixHijack(socketPath: string, request: HijackRequest): Promise<HijackedStream> {
  let head: string;
  try {
    head = requestHead(request);
  } catch (err) {
    return Promise.reject(err);
  }
  const signal = request.signal;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise<HijackedStream>((resolve, reject) => {
    const socket = createConnection({ path: socketPath, allowHalfOpen: true });
    const chunks: Uint8Array[] = [];
    let received = 0;
    let settled = false;
    const fail = (err: AgentError) => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onAbort = () => fail(abortError(signal!));
    const onError = (err: Error) =>
      fail(
        new AgentError(
          "ERR_DOCKER_UNREACHABLE",
          `cannot reach the Docker daemon at ${socketPath}`,
          err.message,
        ),
      );
    const onEnd = () =>
      fail(new AgentError("ERR_DOCKER_RESPONSE", "the Docker daemon closed the connection"));
    const onData = (data: Uint8Array) => {
      chunks.push(data);
      received += data.length;
      const all = joinBytes(chunks, received);
      const end = indexOfHeadEnd(all);
      if (end < 0) {
        if (received > MAX_HEAD_BYTES) {
          fail(new AgentError("ERR_DOCKER_RESPONSE", "the Docker daemon's response head is too large"));
        }
        return;
      }
      const parsed = parseHead(new TextDecoder().decode(all.subarray(0, end)));
      if (!parsed) {
        fail(new AgentError("ERR_DOCKER_RESPONSE", "the Docker daemon sent an unreadable response head"));
        return;
      }
      settled = true;
      cleanup();
      const rest = new Uint8Array(all.subarray(end + 4));
      if (parsed.status === 101 || parsed.status === 200) {
        resolve(hijacked(socket, parsed, rest, signal));
      } else {
        readErrorBody(socket, parsed.headers, rest).then((body) => resolve(refused(parsed, body)));
      }
    };
    const cleanup = () => {
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
      signal?.removeEventListener("abort", onAbort);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("end", onEnd);
    socket.on("close", onEnd);
    socket.write(head);
    if (request.body !== undefined && request.body.length > 0) socket.write(request.body);
  });
}

function requestHead(request: HijackRequest): string {
  const method = request.method.toUpperCase();
  if (!TOKEN.test(method)) throw new AgentError("ERR_INTERNAL", "unixHijack: a bad method");
  if (!REQUEST_TARGET.test(request.path)) throw new AgentError("ERR_INTERNAL", "unixHijack: a bad path");
  const upgrade = request.upgrade ?? "tcp";
  const contentType = request.contentType ?? (request.body === undefined ? undefined : "application/json");
  if (!TOKEN.test(upgrade) || (contentType !== undefined && !HEADER_VALUE.test(contentType))) {
    throw new AgentError("ERR_INTERNAL", "unixHijack: a bad upgrade or content type");
  }
  const lines = [
    `${method} ${request.path} HTTP/1.1`,
    "Host: localhost",
    "Connection: Upgrade",
    `Upgrade: ${upgrade}`,
  ];
  if (contentType !== undefined) lines.push(`Content-Type: ${contentType}`);
  const body = request.body ?? "";
  lines.push(
    `Content-Length: ${typeof body === "string" ? new TextEncoder().encode(body).length : body.length}`,
  );
  for (const [name, value] of Object.entries(request.headers)) {
    if (!TOKEN.test(name) || !HEADER_VALUE.test(value)) {
      throw new AgentError("ERR_INTERNAL", `unixHijack: header ${JSON.stringify(name)} cannot be sent`);
    }
    if (!OWN_HEADERS.has(name.toLowerCase())) lines.push(`${name}: ${value}`);
  }
  return lines.join("\r\n") + "\r\n\r\n";
}

interface ParsedHead {
  readonly status: number;
  readonly statusText: string;
  readonly headers: ReadonlyMap<string, string>;
  readonly pairs: readonly (readonly [string, string])[];
}

function parseHead(text: string): ParsedHead | undefined {
  const lines = text.split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? "");
  if (!m) return undefined;
  const headers = new Map<string, string>();
  const pairs: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, value);
    pairs.push([name, value]);
  }
  return { status: Number(m[1]), statusText: m[2] ?? "", headers, pairs };
}

function indexOfHeadEnd(data: Uint8Array): number {
  for (let i = 0; i + 3 < data.length; i++) {
    if (data[i] === 13 && data[i + 1] === 10 && data[i + 2] === 13 && data[i + 3] === 10) return i;
  }
  return -1;
}

/** The connection after a 101 or 200: output from the socket, writes to it. */
function hijacked(socket: Socket, head: ParsedHead, first: Uint8Array, signal?: AbortSignal): HijackedStream {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let outputDone = false;
  const finishOutput = (err?: AgentError) => {
    if (outputDone) return;
    outputDone = true;
    try {
      if (err) controller.error(err);
      else controller.close();
    } catch {
      // already closed by a cancel
    }
  };
  const output = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      if (first.length > 0) c.enqueue(first);
    },
    pull() {
      if (socket.isPaused()) socket.resume();
    },
    cancel() {
      outputDone = true;
      socket.destroy();
    },
  }, { highWaterMark: OUTPUT_HIGH_WATER_BYTES, size: (chunk) => chunk?.byteLength ?? 0 });
  const close = () => {
    signal?.removeEventListener("abort", close);
    socket.destroy();
    finishOutput();
  };
  socket.on("data", (data: Uint8Array) => {
    if (outputDone) return;
    // A plain Uint8Array view of node's Buffer (whose slice() would not copy, unlike Uint8Array's).
    controller.enqueue(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if ((controller.desiredSize ?? 0) <= 0) socket.pause();
  });
  socket.on("end", () => {
    finishOutput();
    // dockerd is done: finish our side too, so the socket closes.
    socket.end();
  });
  socket.on("error", (err: Error) => {
    finishOutput(
      new AgentError("ERR_DOCKER_UNREACHABLE", "the connection to the Docker daemon broke", err.message),
    );
  });
  socket.on("close", () => {
    signal?.removeEventListener("abort", close);
    finishOutput();
  });
  signal?.addEventListener("abort", close, { once: true });
  return {
    status: head.status,
    statusText: head.statusText,
    headers: head.pairs,
    errorBody: "",
    output,
    write(data) {
      if (socket.destroyed || socket.writableEnded) {
        return Promise.reject(
          new AgentError("ERR_DOCKER_UNREACHABLE", "the connection to dockerd is closed"),
        );
      }
      return new Promise<void>((resolve, reject) => {
        socket.write(data, (err) => {
          if (err) {
            reject(new AgentError("ERR_DOCKER_UNREACHABLE", "the connection to dockerd broke", err.message));
          } else resolve();
        });
      });
    },
    closeWrite() {
      if (!socket.destroyed && !socket.writableEnded) socket.end();
    },
    close,
  };
}

/** An answer other than 101 or 200: its body (the daemon's error JSON), then the connection is closed. */
function refused(head: ParsedHead, body: string): HijackedStream {
  const closed = () => {};
  return {
    status: head.status,
    statusText: head.statusText,
    headers: head.pairs,
    errorBody: body,
    output: new ReadableStream<Uint8Array>({ start: (c) => c.close() }),
    write: () => Promise.reject(new AgentError("ERR_DOCKER_RESPONSE", "the Docker daemon refused the call")),
    closeWrite: closed,
    close: closed,
  };
}

/** Reads a non-upgraded response's body (Content-Length, chunked, or to the end), at most 64 KiB. */
function readErrorBody(
  socket: Socket,
  headers: ReadonlyMap<string, string>,
  first: Uint8Array,
): Promise<string> {
  const length = Number(headers.get("content-length") ?? "NaN");
  const chunked = /\bchunked\b/i.test(headers.get("transfer-encoding") ?? "");
  return new Promise<string>((resolve) => {
    const chunks: Uint8Array[] = [first];
    let received = first.length;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      socket.destroy();
      const all = joinBytes(chunks, received);
      const bytes = chunked ? unchunk(all) : Number.isInteger(length) ? all.subarray(0, length) : all;
      resolve(new TextDecoder().decode(bytes.subarray(0, MAX_ERROR_BODY_BYTES)));
    };
    const complete = () =>
      received >= MAX_ERROR_BODY_BYTES ||
      (chunked
        ? /\r\n0\r\n\r\n$|^0\r\n\r\n$/.test(tail(chunks))
        : Number.isInteger(length) && received >= length);
    if (complete()) return finish();
    socket.on("data", (data: Uint8Array) => {
      chunks.push(data);
      received += data.length;
      if (complete()) finish();
    });
    socket.on("end", finish);
    socket.on("close", finish);
    socket.on("error", finish);
  });
}

/** The last (up to) 7 bytes received, as text: enough to see chunked framing's last chunk. */
function tail(chunks: readonly Uint8Array[]): string {
  const bytes: number[] = [];
  for (let i = chunks.length - 1; i >= 0 && bytes.length < 7; i--) {
    const chunk = chunks[i]!;
    for (let j = chunk.length - 1; j >= 0 && bytes.length < 7; j--) bytes.unshift(chunk[j]!);
  }
  return String.fromCharCode(...bytes);
}

/** Removes chunked framing (stops at the last chunk or at anything unreadable). */
function unchunk(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  let at = 0;
  for (;;) {
    let lineEnd = -1;
    for (let i = at; i + 1 < data.length; i++) {
      if (data[i] === 13 && data[i + 1] === 10) {
        lineEnd = i;
        break;
      }
    }
    if (lineEnd < 0) break;
    const n = parseInt(new TextDecoder().decode(data.subarray(at, lineEnd)).split(";")[0]!.trim(), 16);
    if (!Number.isInteger(n) || n <= 0) break;
    const start = lineEnd + 2;
    const part = data.subarray(start, Math.min(start + n, data.length));
    parts.push(part);
    size += part.length;
    at = start + n + 2;
    if (at > data.length) break;
  }
  return joinBytes(parts, size);
}

function abortError(signal: AbortSignal): AgentError {
  const why = signal.reason instanceof Error ? signal.reason.message : "aborted";
  return new AgentError("ERR_DOCKER_UNREACHABLE", "the call to the Docker daemon was aborted", why);
}
