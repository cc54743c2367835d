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
 * off: headers too large get 431, bodies too large 413, and a connection that is too slow is closed.
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
}

/** What the listener knows about the connection a request arrived on. */
export interface HttpsConnection {
  /** The client's IP address (an IPv4 client on a dual-stack socket as plain IPv4, not ::ffff:a.b.c.d). */
  readonly address: string;
  /** The client's certificate chain as the TLS handshake received it, PEM, leaf first; empty without one. */
  readonly peerCertificatesPem: readonly string[];
  /** True only when the TLS layer verified that chain against `clientCaPem` (signature and validity dates). */
  readonly peerVerified: boolean;
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
  /** Run a program with inherited stdio and extra environment; resolves with its exit code. */
  spawn(
    command: string,
    args: readonly string[],
    env: Readonly<Record<string, string>>,
  ): Promise<SpawnResult>;
  /** Resolves after `ms` milliseconds, or as soon as `signal` aborts (the timer is then cleared). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  readonly pid: number;
  /** Milliseconds from an arbitrary origin, for durations only. */
  monotonicMs(): number;
}
