/**
 * What the pure core needs from the outside world. Only `src/runtime/` implements these; tests pass fakes.
 * Keeping them here lets core modules be typed against them without importing any runtime.
 */

/** Returns the current time. Core code never reads the clock itself. */
export type Clock = () => Date;

/** Returns n cryptographically random bytes. Core code never reads the RNG itself. */
export type RandomBytes = (n: number) => Uint8Array;

export interface FileInfo {
  readonly mode: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly isDirectory: boolean;
  /** Owner's user id, where the platform reports one (`agent doctor` checks who owns the state). */
  readonly uid?: number;
}

/** The file operations the agent's state needs. Every write that matters is atomic. */
export interface FileSystem {
  readText(path: string): Promise<string>;
  readBytes(path: string): Promise<Uint8Array>;
  /** Write to a temp file in the same directory, fsync, rename over `path`, fsync the directory. */
  writeAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void>;
  /** Create a new file (O_EXCL); fails with ERR_STATE_EXISTS when `path` exists. */
  writeExclusive(path: string, data: string | Uint8Array, mode: number): Promise<void>;
  /** Append one line (adds "\n"); creates the file with `mode` when missing. */
  appendLine(path: string, line: string, mode: number): Promise<void>;
  stat(path: string): Promise<FileInfo | undefined>;
  mkdir(path: string, mode: number): Promise<void>;
  list(dir: string): Promise<string[]>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  /** Remove a directory and everything under it (`agent uninstall --purge`); symbolic links are removed, never followed. */
  removeTree(path: string): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
}

/** Read-only view of environment variables. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Where a command writes: data to `out`, diagnostics to `err`. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

// ---- sockets, signals, processes (implemented in src/runtime/) ----
import type { EtcdClient, EtcdConnectOptions } from "./fleet/etcd.ts";

export interface UnixServer {
  stop(): Promise<void>;
}

export interface ServeOptions {
  readonly socketPath: string;
  readonly socketMode: number;
  readonly fetch: (request: Request) => Response | Promise<Response>;
}

/**
 * The HTTPS listener's limits (src/api/limits.ts has the defaults and says why). A client over a limit is cut
 * off: headers too large get 431, bodies too large 413, and a connection that is too slow is closed. A
 * websocket upgrade request is a request like any other until its 101: the header and request timeouts
 * apply to it; once upgraded, none of them does (a websocket may live for hours) and pings keep it honest.
 */
export interface HttpsLimits {
  /** Request line and headers together, in bytes. */
  readonly maxHeaderBytes: number;
  /** A request body, in bytes (after removing chunked framing). */
  readonly maxBodyBytes: number;
  /** From accepting the TCP connection to the end of the TLS handshake. */
  readonly handshakeTimeoutMs: number;
  /** From the handshake, or from the end of the previous response (keep-alive), to a request's last header. */
  readonly headersTimeoutMs: number;
  /** From a request's last header to the end of its response: a slow body or a slow reader is cut off. */
  readonly requestTimeoutMs: number;
  /** Open connections (handshaking or not) from one client address. */
  readonly maxConnectionsPerAddress: number;
  /** Open connections in all. */
  readonly maxConnections: number;
  /** The largest websocket message a client may send (its fragments together); over it: closed with 1009. */
  readonly maxWebSocketMessageBytes: number;
  /** Bytes queued to one websocket but not yet written; over it WebSocketPeer.sendText returns false. */
  readonly maxWebSocketBufferedBytes: number;
  /** Open websockets from one client address (each is a connection too); over it: 429 before the 101. */
  readonly maxWebSocketsPerAddress: number;
  /** Open websockets in all; over it: 503 before the 101. */
  readonly maxWebSockets: number;
  /** How often the server pings each websocket (0: never); one that answered neither of the last two is closed. */
  readonly webSocketPingIntervalMs: number;
}

/** One open websocket, either side. */
export interface WebSocketPeer {
  /**
   * Queues one text message; returns false (and queues nothing) when bufferedBytes would go over the limit
   * (a message larger than the limit is always refused) or the websocket is closing: the caller decides to
   * close.
   */
  sendText(text: string): boolean;
  /** As sendText, one binary message. */
  sendBinary(data: Uint8Array): boolean;
  /** Bytes queued but not yet written. */
  readonly bufferedBytes: number;
  /**
   * Sends a close frame and closes the socket (after a short grace for the peer's close). Does nothing once
   * closing. Throws a RangeError for a code that may not be sent (1005, 1006, 1015, 1016-2999, 5000-).
   */
  close(code: number, reason: string): void;
}

/** What the application does with one websocket's events. */
export interface WebSocketSession {
  onText?(text: string): void;
  onBinary?(data: Uint8Array): void;
  /**
   * Once, whatever ended it: the code of the close frame that ended it, whichever side sent it first (the
   * peer's, ours from close() or HttpsServer.stop (1001), or a protocol error's: 1002, 1007, 1009); code
   * 1006 when the socket ended without one, or when the peer stopped answering pings. A handler that
   * throws closes the websocket with 1011.
   */
  onClose?(code: number, reason: string): void;
}

/** What a handler returns to accept an upgrade: called with the peer once the 101 is written. */
export type WebSocketAccept = (peer: WebSocketPeer) => WebSocketSession;

/** How Platform.websocketConnect connects. */
export interface WebSocketConnectInit {
  readonly headers: Readonly<Record<string, string>>;
  readonly caPem?: string;
  readonly maxMessageBytes?: number;
  /** The local address to connect from (a load test spreads clients over 127.0.0.0/8). */
  readonly localAddress?: string;
}

/** What the listener knows about the connection a request arrived on. */
export interface HttpsConnection {
  /** The client's IP address (an IPv4 client on a dual-stack socket as plain IPv4, not ::ffff:a.b.c.d). */
  readonly address: string;
  /** The client's certificate chain as the TLS handshake received it, PEM, leaf first; empty without one. */
  readonly peerCertificatesPem: readonly string[];
  /** True only when the TLS layer verified that chain against `clientCaPem` (signature and validity dates). */
  readonly peerVerified: boolean;
  /**
   * Present only on a valid websocket upgrade request (GET, `Upgrade: websocket`, `Connection: upgrade`,
   * `Sec-WebSocket-Version: 13`, a 16-byte base64 `Sec-WebSocket-Key`, no body); an upgrade request that is
   * not one never reaches the handler: the listener answers it 400 (JSON) itself. The handler answers an
   * upgrade like any request (a 401, 403 or 404 is written and the connection closed), or accepts it by
   * returning `accept(open)`: the listener then writes `101 Switching Protocols` (with any headers the handler
   * set on that Response, e.g. Sec-WebSocket-Protocol) and calls `open` with the peer. A framework's copy of
   * that Response (Hono's `c.header()` after the handler) still accepts: it carries a token header of the
   * listener's. Over the listener's websocket limits the request is refused (429, 503) before the handler
   * sees it.
   */
  readonly websocket?: { accept(open: WebSocketAccept): Response };
  /**
   * Present only on an upgrade request to a pass-through target (ServeHttpsOptions.passThrough: the gateway's
   * Engine API, whose attach and exec start switch to a raw stream with `Upgrade: tcp`). The handler answers
   * like any request (written, then the connection closed), or returns `accept(head, open)`: the listener
   * writes `head` as the status line and headers of the switch, then calls `open` with the client's bytes
   * both ways; the request timer no longer applies.
   */
  readonly hijack?: { accept(head: HijackHead, open: (client: ByteStream) => void): Response };
}

/** The status line and headers a hijacked answer starts with (dockerd's `101 UPGRADED`, as it sent them). */
export interface HijackHead {
  readonly status: number;
  readonly statusText: string;
  readonly headers: readonly (readonly [string, string])[];
}

/** Bytes both ways over one connection that can be half-closed (a hijacked stream, either end). */
export interface ByteStream {
  /** Bytes from the other end; ends when it closes its side (or the connection breaks). */
  readonly output: ReadableStream<Uint8Array>;
  /** Resolves once the bytes are handed to the socket; rejects when it is closed. */
  write(data: Uint8Array): Promise<void>;
  /** Half-close: the other end reads EOF; output keeps flowing. */
  closeWrite(): void;
  /** Closes the connection both ways (output ends). Safe to call more than once. */
  close(): void;
}

export interface ServeHttpsOptions {
  /** An IP address or host name to bind; `0.0.0.0` or `::` for every address. */
  readonly hostname: string;
  /** 1-65535, or 0 for any free port (see HttpsServer.port). */
  readonly port: number;
  /** The server certificate (and any intermediates), PEM. */
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /**
   * The CA whose client certificates are verified. Given: a client certificate is requested (never required:
   * one that does not verify is reported with peerVerified false). Absent: none is requested.
   */
  readonly clientCaPem?: string;
  readonly limits: HttpsLimits;
  readonly fetch: (request: Request, connection: HttpsConnection) => Response | Promise<Response>;
  /**
   * Targets passed through as they come (the gateway's Engine API): the body is not read here but given to
   * the handler as a stream (the handler bounds what it reads), the request timer does not apply once the
   * headers are in, the response is streamed with its headers written at once, and an upgrade request gets
   * `connection.hijack` instead of a websocket.
   */
  readonly passThrough?: (target: string) => boolean;
}

/** The listener's TLS material: the certificate it serves and the CA whose client certificates it verifies. */
export type HttpsTls = Pick<ServeHttpsOptions, "certificatePem" | "privateKeyPem" | "clientCaPem">;

export interface HttpsServer {
  /** The port bound (the chosen one when 0 was asked for). */
  readonly port: number;
  /**
   * Serves `tls` to connections from now on; open connections keep what they negotiated and are not dropped.
   * Throws ERR_LISTEN, keeping the material in force, when the certificate or key is not PEM or they do not
   * match. Client certificates stay requested only if the listener started with a `clientCaPem` (a client CA
   * given to one that started without is not used; without one the previous client CA stays).
   */
  updateTls(tls: HttpsTls): void;
  /** Stops accepting, closes every open connection. */
  stop(): Promise<void>;
}

/** The names a server certificate for this host should carry. */
export interface HostNames {
  /** The host name as the system reports it (may be anything: callers validate it). */
  readonly hostname: string;
  /** The host's own non-loopback addresses (IPv4 and IPv6, without link-local ones). */
  readonly addresses: readonly string[];
}

/** Where Platform.connectSyslog sends: a syslog collector over TCP or TLS (RFC 6587 / RFC 5425). */
export interface SyslogTarget {
  readonly transport: "tcp" | "tls";
  /** A host name or IP address (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
  /** TLS: the CA the collector's certificate is verified against (default: the system's roots). */
  readonly caPem?: string;
  /** TLS: a client certificate (and its key) for collectors that ask for one. */
  readonly certificatePem?: string;
  readonly privateKeyPem?: string;
}

export interface SyslogConnectionOptions {
  /** Frames kept while the collector is unreachable; past it the oldest are dropped and counted. */
  readonly maxQueued: number;
  /** Problems and recoveries at most once a minute each (drop counts always); never a frame's contents. */
  readonly onError: (message: string) => void;
  /** A frame telling the collector how many were dropped, sent first once it is reachable again. */
  readonly droppedNotice?: (count: number) => Uint8Array;
}

/** A connection that keeps itself up: reconnects with backoff, queues (bounded) while it is down. */
export interface SyslogConnection {
  /** Queues one framed message; returns at once and never throws. */
  send(frame: Uint8Array): void;
  /**
   * Sends what is queued (waiting at most `timeoutMs` for the collector), then closes; frames still queued
   * then are dropped and reported. Never rejects.
   */
  close(timeoutMs: number): Promise<void>;
}

export interface SpawnResult {
  readonly exitCode: number;
}

export interface Platform {
  /** Serve HTTP on a unix socket, replacing a stale socket file. */
  serveUnix(options: ServeOptions): Promise<UnixServer>;
  /** Serve HTTPS on a TCP address with the given limits, telling the handler each request's connection. */
  serveHttps(options: ServeHttpsOptions): Promise<HttpsServer>;
  /** This host's name and addresses (for the listener's certificate). */
  hostNames(): HostNames;
  /** Call `handler` on SIGTERM/SIGINT/SIGHUP; returns a function that removes the handler. */
  onSignal(signal: "SIGTERM" | "SIGINT" | "SIGHUP", handler: () => void): () => void;
  /** Watch a file for changes (content or replacement); returns a function that stops watching. */
  watchFile(path: string, onChange: () => void): () => void;
  /** HTTP request to a server on a unix socket (the Docker Engine API). */
  unixFetch(socketPath: string, path: string, init?: RequestInit): Promise<Response>;
  /**
   * HTTPS request that trusts `caPem` (the agent's CA) instead of the system's roots when given: the
   * client commands talking to an agent's HTTPS API. The body is read before it resolves.
   */
  httpsFetch(url: string, init: RequestInit, trust: { readonly caPem?: string }): Promise<Response>;
  /**
   * A websocket client (wss:// only) that verifies the server against `caPem` when given, the system's roots
   * otherwise, and sends `headers` with the handshake. Resolves once the server's 101 is checked and
   * `open` was called with the peer (frames the server sent with its 101 come after). Rejects with an
   * AgentError: ERR_USAGE for a URL that is not wss:// or a header that cannot be sent,
   * ERR_API_UNREACHABLE when the server cannot be reached or verified (or says nothing within 10 s), and,
   * for an answer other than 101, ERR_API_REFUSED (401, 403) or ERR_API_RESPONSE naming the status and the
   * server's `{"error"}` ("the agent at wss://host:port answered 401: ..."). Messages from the server over
   * `maxMessageBytes` (default 1 MiB) close it with 1009; at most 1 MiB is queued to send.
   */
  websocketConnect(url: string, init: WebSocketConnectInit, open: WebSocketAccept): Promise<WebSocketPeer>;
  /** Run a program with inherited stdio and extra environment; resolves with its exit code. */
  spawn(
    command: string,
    args: readonly string[],
    env: Readonly<Record<string, string>>,
  ): Promise<SpawnResult>;
  /** A syslog collector's connection (the audit log shipped, src/audit/syslog-sink.ts); connects in the background. */
  connectSyslog(target: SyslogTarget, options: SyslogConnectionOptions): SyslogConnection;
  /**
   * An etcd v3 client over gRPC (the fleet, src/fleet/); its code is loaded on first use, so commands that
   * never reach etcd do not pay for it.
   */
  connectEtcd(options: EtcdConnectOptions): Promise<EtcdClient>;
  /** Resolves after `ms` milliseconds, or as soon as `signal` aborts (the timer is then cleared). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  readonly pid: number;
  /** Milliseconds from an arbitrary origin, for durations only. */
  monotonicMs(): number;
  /**
   * A hijacked HTTP/1.1 call to a server on a unix socket (the Engine API's exec start and attach): the
   * request goes out with `Connection: Upgrade` and `Upgrade: tcp`, and once dockerd's response head is in,
   * the same connection carries the stream both ways. Rejects only when the socket cannot be reached or
   * closes before a whole response head (an AgentError, ERR_DOCKER_UNREACHABLE or ERR_DOCKER_RESPONSE).
   */
  unixHijack(socketPath: string, request: HijackRequest): Promise<HijackedStream>;
  /**
   * One HTTP/1.1 request to a server on a unix socket, bodies streamed both ways with backpressure, over kept-
   * alive connections (the gateway's forwarding to dockerd). Resolves once the response head is in; rejects
   * with ERR_DOCKER_UNREACHABLE when the socket cannot be reached or breaks before the head.
   */
  unixForward(socketPath: string, request: ForwardRequest): Promise<ForwardResponse>;
  /**
   * This process's stdin as it arrives, opened on first read (`agent container exec` forwards it). Leaving
   * the loop (the iterator's `return`) stops reading at once, even with a read pending.
   */
  readStdin(): AsyncIterable<Uint8Array>;
  /** A full garbage collection now, where the runtime offers one (server/large-bodies.ts asks after a budget). */
  readonly collectGarbage?: () => void;
}

export interface HijackRequest {
  readonly method: string;
  /** The path and query, e.g. `/exec/ID/start`. */
  readonly path: string;
  /** Extra headers (Host, Connection, Upgrade, Content-Type and Content-Length are set by the platform). */
  readonly headers: Readonly<Record<string, string>>;
  /** Sent with its Content-Length, as `contentType` (default `application/json`). */
  readonly body?: string | Uint8Array;
  readonly contentType?: string;
  /** The protocol asked for (default `tcp`, as the docker CLI asks; BuildKit's session asks `h2c`). */
  readonly upgrade?: string;
  /** Aborting rejects a call still waiting for its response head, and closes a hijacked connection. */
  readonly signal?: AbortSignal;
}

/** `output` is dockerd's bytes after the response head (the multiplexed or raw stream); `closeWrite` ends stdin. */
export interface HijackedStream extends ByteStream {
  /** dockerd's status line code: 101 (upgraded) or 200 (raw stream follows), or an error status with its body. */
  readonly status: number;
  /** The status line's text (`UPGRADED` from dockerd). */
  readonly statusText: string;
  /** The response head's headers, names lower-cased, in order. */
  readonly headers: readonly (readonly [string, string])[];
  /** The response body for a non-upgraded answer (error JSON), else "". */
  readonly errorBody: string;
}

/** One request forwarded to a server on a unix socket (the gateway to dockerd). */
export interface ForwardRequest {
  readonly method: string;
  /** The request target, path and query, exactly as it is to be sent. */
  readonly target: string;
  /** Sent as given, in order (the caller has removed hop-by-hop headers and set Content-Length if known). */
  readonly headers: readonly (readonly [string, string])[];
  /** A whole body, or a stream sent as it comes (chunked unless a Content-Length header is given). */
  readonly body?: Uint8Array | ReadableStream<Uint8Array>;
  /** Aborting breaks the call (the connection to the server is closed). */
  readonly signal?: AbortSignal;
}

export interface ForwardResponse {
  readonly status: number;
  readonly statusText: string;
  /** The server's headers, names lower-cased, in order (hop-by-hop ones included: the caller drops them). */
  readonly headers: readonly (readonly [string, string])[];
  /** The body as it arrives (framing removed); cancelling it closes the connection to the server. */
  readonly body: ReadableStream<Uint8Array>;
}
