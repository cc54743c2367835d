/**
 * Websockets over node:net/node:tls sockets, either side, on Bun and Deno alike (probed on Bun 1.4.5 and Deno
 * 2.9): the peer behind WebSocketPeer (src/ws/ does the framing) and the wss:// client behind
 * Platform.websocketConnect. The server's half of the handshake is in https-listener.ts.
 *
 * Bytes queued are counted from each write to its callback, which Bun, Deno and Node all call once the bytes
 * left the process (probed: the count matches `writableLength`, and grows while the peer does not read).
 */
import { isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { AgentError } from "../errors.ts";
import type { WebSocketAccept, WebSocketConnectInit, WebSocketPeer, WebSocketSession } from "../ports.ts";
import {
  CloseCode,
  encodeClosePayload,
  encodeFrame,
  isSendableCloseCode,
  MessageReader,
  newWebSocketKey,
  Opcode,
  upgradeResponseProblem,
  WEBSOCKET_VERSION,
  type WebSocketEvent,
} from "../ws/index.ts";

/** How long a closing websocket waits for the peer's close frame and the end of its socket. */
export const CLOSE_GRACE_MS = 2_000;
/** Pings a peer may leave unanswered; at the next one it is closed. */
const MAX_UNANSWERED_PINGS = 2;
/** The client's wait for a connection, TLS and the server's answer to the upgrade. */
const CONNECT_TIMEOUT_MS = 10_000;
/** The client's limits on what the server may send: messages, and a refusal's headers and body. */
const CLIENT_MAX_MESSAGE_BYTES = 1024 * 1024;
const CLIENT_MAX_BUFFERED_BYTES = 1024 * 1024;
const MAX_ANSWER_HEAD_BYTES = 64 * 1024;
const MAX_ANSWER_BODY_BYTES = 64 * 1024;

export interface PeerOptions {
  /** The server reads masked frames and writes unmasked ones; the client the other way round. */
  readonly role: "server" | "client";
  readonly maxMessageBytes: number;
  readonly maxBufferedBytes: number;
  /** Ping this often (the server side); a peer that answered neither of the last two pings is closed. */
  readonly pingIntervalMs?: number;
}

const encoder = new TextEncoder();

/** One websocket on a socket whose handshake is done. `start` hands it to the application. */
export class SocketPeer implements WebSocketPeer {
  /** Settles once the socket is closed and onClose was called. */
  readonly closed: Promise<void>;
  readonly #socket: Socket;
  readonly #options: PeerOptions;
  readonly #reader: MessageReader;
  #session: WebSocketSession = {};
  #buffered = 0;
  #sentClose = false;
  #receivedClose = false;
  /** No more reading: a protocol error, or a handler that threw. */
  #failed = false;
  #ended = false;
  #finished = false;
  /** What onClose reports; set by the first close frame either way (or a dead peer). */
  #outcome: { code: number; reason: string } | undefined;
  #grace: ReturnType<typeof setTimeout> | undefined;
  #pinger: ReturnType<typeof setInterval> | undefined;
  #unanswered = 0;
  #resolveClosed!: () => void;

  constructor(socket: Socket, options: PeerOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#reader = new MessageReader({
      masked: options.role === "server",
      maxMessageBytes: options.maxMessageBytes,
    });
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    socket.on("error", () => {
      // 'close' follows; the websocket ends there (1006 unless a close frame came first).
    });
    socket.once("close", () => this.#finish());
  }

  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Calls `open`, then reads: first `head` (what arrived with the handshake), then the socket. */
  start(open: WebSocketAccept, head: Uint8Array): void {
    if (this.#socket.destroyed) {
      this.#finish();
      return;
    }
    try {
      this.#session = open(this);
    } catch {
      this.#fail(CloseCode.InternalError, "internal error");
      return;
    }
    const interval = this.#options.pingIntervalMs;
    if (interval !== undefined && interval > 0) this.#pinger = setInterval(() => this.#ping(), interval);
    if (head.length > 0) this.#onData(head);
    this.#socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
  }

  sendText(text: string): boolean {
    return this.#sendData(Opcode.Text, encoder.encode(text));
  }

  sendBinary(data: Uint8Array): boolean {
    return this.#sendData(Opcode.Binary, data);
  }

  close(code: number, reason: string): void {
    if (!isSendableCloseCode(code)) throw new RangeError(`close code ${code} may not be sent`);
    if (this.#sentClose || this.#finished) return;
    this.#sendClose(code, reason);
    if (this.#receivedClose) this.#end();
    else this.#armGrace();
  }

  #sendData(opcode: Opcode, payload: Uint8Array): boolean {
    if (this.#sentClose || this.#receivedClose || this.#finished) return false;
    const frame = this.#frame(opcode, payload);
    if (this.#buffered + frame.length > this.#options.maxBufferedBytes) return false;
    this.#write(frame);
    return true;
  }

  #frame(opcode: Opcode, payload: Uint8Array): Uint8Array {
    return this.#options.role === "client"
      ? encodeFrame(opcode, payload, { mask: crypto.getRandomValues(new Uint8Array(4)) })
      : encodeFrame(opcode, payload);
  }

  #write(bytes: Uint8Array): void {
    if (this.#ended || this.#socket.destroyed) return;
    this.#buffered += bytes.length;
    this.#socket.write(bytes, () => {
      this.#buffered -= bytes.length;
    });
  }

  #onData(chunk: Uint8Array): void {
    if (this.#failed || this.#receivedClose || this.#finished) return;
    // A copy: the parser keeps incomplete frames across reads, and a runtime may reuse its read buffer.
    const { events, error } = this.#reader.feed(new Uint8Array(chunk));
    for (const event of events) {
      this.#handle(event);
      if (this.#failed) return;
    }
    if (error !== undefined) this.#fail(error.closeCode, error.message);
  }

  #handle(event: WebSocketEvent): void {
    switch (event.type) {
      case "text":
      case "binary":
        if (this.#sentClose) return;
        try {
          if (event.type === "text") this.#session.onText?.(event.text);
          else this.#session.onBinary?.(event.data);
        } catch {
          this.#fail(CloseCode.InternalError, "internal error");
        }
        return;
      case "ping":
        // Pongs are not counted against the send limit, so a peer that pings without reading gets none.
        if (!this.#sentClose && this.#buffered <= this.#options.maxBufferedBytes) {
          this.#write(this.#frame(Opcode.Pong, event.payload));
        }
        return;
      case "pong":
        this.#unanswered = 0;
        return;
      case "close":
        this.#receivedClose = true;
        if (!this.#sentClose) {
          // The peer's close: echo its code (none when it sent none), then end our side.
          this.#outcome ??= { code: event.code, reason: event.reason };
          this.#sentClose = true;
          const payload = event.code === CloseCode.NoStatus
            ? new Uint8Array(0)
            : encodeClosePayload(event.code, "");
          this.#write(this.#frame(Opcode.Close, payload));
        }
        this.#end();
        return;
    }
  }

  #ping(): void {
    if (this.#sentClose || this.#receivedClose || this.#finished) return;
    if (this.#unanswered >= MAX_UNANSWERED_PINGS) {
      this.#outcome = { code: CloseCode.Abnormal, reason: "no answer to pings" };
      this.#fail(CloseCode.GoingAway, "no answer to pings");
      return;
    }
    this.#unanswered++;
    this.#write(this.#frame(Opcode.Ping, new Uint8Array(0)));
  }

  /** Fails the websocket (RFC 6455 section 7.1.7): our close frame, then the end of the socket. */
  #fail(code: number, reason: string): void {
    this.#failed = true;
    this.#sendClose(code, reason);
    this.#end();
  }

  #sendClose(code: number, reason: string): void {
    if (this.#sentClose) return;
    this.#sentClose = true;
    this.#outcome ??= { code, reason };
    this.#write(this.#frame(Opcode.Close, encodeClosePayload(code, reason)));
  }

  /** Ends our side once the queue is written; the socket is destroyed if it is not closed within the grace. */
  #end(): void {
    if (!this.#ended && !this.#socket.destroyed) {
      this.#ended = true;
      this.#socket.end();
    }
    this.#armGrace();
  }

  #armGrace(): void {
    if (this.#grace !== undefined || this.#finished) return;
    this.#grace = setTimeout(() => this.#socket.destroy(), CLOSE_GRACE_MS);
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#grace);
    clearInterval(this.#pinger);
    const outcome = this.#outcome ?? { code: CloseCode.Abnormal, reason: "" };
    try {
      this.#session.onClose?.(outcome.code, outcome.reason);
    } catch {
      // The websocket is gone either way.
    } finally {
      this.#resolveClosed();
    }
  }
}

// ---- the client ----

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers the handshake itself sets. */
const RESERVED_HEADERS = new Set([
  "host",
  "upgrade",
  "connection",
  "content-length",
  "transfer-encoding",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
]);

export function websocketConnect(
  url: string,
  init: WebSocketConnectInit,
  open: WebSocketAccept,
): Promise<WebSocketPeer> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.reject(new AgentError("ERR_USAGE", "the websocket URL is not a URL"));
  }
  if (target.protocol !== "wss:") {
    return Promise.reject(
      new AgentError("ERR_USAGE", `a websocket URL must start with wss:// (not ${target.protocol}//)`),
    );
  }
  const lines = [`GET ${target.pathname}${target.search} HTTP/1.1`, `Host: ${target.host}`];
  for (const [name, value] of Object.entries(init.headers)) {
    if (!TOKEN.test(name) || /[\r\n\0]/.test(value) || RESERVED_HEADERS.has(name.toLowerCase())) {
      return Promise.reject(
        new AgentError("ERR_USAGE", `the websocket header ${JSON.stringify(name)} cannot be sent`),
      );
    }
    lines.push(`${name}: ${value}`);
  }
  const key = newWebSocketKey((n) => crypto.getRandomValues(new Uint8Array(n)));
  lines.push(
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    `Sec-WebSocket-Version: ${WEBSOCKET_VERSION}`,
    "",
    "",
  );
  const origin = `wss://${target.host}`;
  const host = target.hostname.startsWith("[") ? target.hostname.slice(1, -1) : target.hostname;
  const port = target.port === "" ? 443 : Number(target.port);

  return new Promise<WebSocketPeer>((resolve, reject) => {
    const socket = tlsConnect({
      host,
      port,
      // SNI takes host names only; an address is verified against the certificate's IP names.
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...(init.caPem === undefined ? {} : { ca: init.caPem }),
      ...(init.localAddress === undefined ? {} : { localAddress: init.localAddress }),
      ALPNProtocols: ["http/1.1"],
    });
    const timer = setTimeout(
      () => fail(unreachable(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`)),
      CONNECT_TIMEOUT_MS,
    );
    let settled = false;
    let received: Uint8Array = new Uint8Array(0);
    let answer: { status: number; headers: Headers; bodyStart: number } | undefined;

    const finish = () => {
      settled = true;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("close", onClose);
    };
    const fail = (err: AgentError) => {
      if (settled) return;
      finish();
      socket.on("error", () => {});
      socket.destroy();
      reject(err);
    };
    const unreachable = (why: string) =>
      new AgentError("ERR_API_UNREACHABLE", `cannot reach the agent at ${origin}: ${why}`);
    const refused = (status: number, headers: Headers, body: Uint8Array) => {
      let message = "no error message";
      try {
        const parsed: unknown = JSON.parse(new TextDecoder().decode(dechunked(headers, body)));
        if (
          typeof parsed === "object" && parsed !== null &&
          typeof (parsed as { error?: unknown }).error === "string"
        ) {
          message = (parsed as { error: string }).error;
        }
      } catch {
        // not JSON: the status alone
      }
      fail(
        new AgentError(
          status === 401 || status === 403 ? "ERR_API_REFUSED" : "ERR_API_RESPONSE",
          `the agent at ${origin} answered ${status}: ${message.slice(0, 500)}`,
        ),
      );
    };

    const onData = (chunk: Uint8Array) => {
      received = joined(received, chunk);
      if (answer === undefined) {
        const end = headEnd(received);
        if (end < 0) {
          if (received.length > MAX_ANSWER_HEAD_BYTES) {
            fail(
              new AgentError("ERR_API_RESPONSE", `the agent at ${origin} sent an answer that is too large`),
            );
          }
          return;
        }
        const parsed = parseHead(new TextDecoder().decode(received.subarray(0, end)));
        if (parsed === undefined) {
          fail(new AgentError("ERR_API_RESPONSE", `the agent at ${origin} did not answer in HTTP/1.1`));
          return;
        }
        answer = { ...parsed, bodyStart: end + 4 };
        if (parsed.status === 101) {
          const problem = upgradeResponseProblem(parsed.headers, key);
          if (problem !== undefined) {
            fail(
              new AgentError(
                "ERR_API_RESPONSE",
                `the agent at ${origin} broke the websocket handshake: ${problem}`,
              ),
            );
            return;
          }
          finish();
          const peer = new SocketPeer(socket, {
            role: "client",
            maxMessageBytes: init.maxMessageBytes ?? CLIENT_MAX_MESSAGE_BYTES,
            maxBufferedBytes: CLIENT_MAX_BUFFERED_BYTES,
          });
          peer.start(open, received.subarray(answer.bodyStart));
          resolve(peer);
          return;
        }
      }
      const body = received.subarray(answer.bodyStart);
      const length = Number(answer.headers.get("content-length") ?? Number.NaN);
      if (body.length > MAX_ANSWER_BODY_BYTES || (Number.isInteger(length) && body.length >= length)) {
        refused(
          answer.status,
          answer.headers,
          body.subarray(0, Number.isInteger(length) ? length : undefined),
        );
      }
    };
    const onError = (err: Error) => fail(unreachable(err.message));
    const onClose = () => {
      if (answer === undefined) fail(unreachable("the connection closed before the server answered"));
      else refused(answer.status, answer.headers, received.subarray(answer.bodyStart));
    };
    socket.once("secureConnect", () => socket.write(lines.join("\r\n")));
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", onClose);
  });
}

function joined(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Where "\r\n\r\n" starts, or -1. */
function headEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}

function parseHead(text: string): { status: number; headers: Headers } | undefined {
  const [statusLine, ...fields] = text.split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine ?? "");
  if (m === null) return undefined;
  const headers = new Headers();
  for (const field of fields) {
    const colon = field.indexOf(":");
    if (colon <= 0) return undefined;
    try {
      headers.append(field.slice(0, colon).trim(), field.slice(colon + 1).trim());
    } catch {
      return undefined;
    }
  }
  return { status: Number(m[1]), headers };
}

/** A refusal's body without chunked framing (best effort: what arrived). */
function dechunked(headers: Headers, body: Uint8Array): Uint8Array {
  if (!/chunked/i.test(headers.get("transfer-encoding") ?? "")) return body;
  const text = new TextDecoder("latin1").decode(body);
  let out = "";
  let at = 0;
  for (;;) {
    const eol = text.indexOf("\r\n", at);
    if (eol < 0) break;
    const size = parseInt(text.slice(at, eol), 16);
    if (!Number.isFinite(size) || size <= 0) break;
    out += text.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
  return Uint8Array.from(out, (c) => c.charCodeAt(0));
}
