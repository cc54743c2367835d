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

export interface SpawnResult {
  readonly exitCode: number;
}

export interface Platform {
  /** Serve HTTP on a unix socket, replacing a stale socket file. */
  serveUnix(options: ServeOptions): Promise<UnixServer>;
  /** Call `handler` on SIGTERM/SIGINT/SIGHUP; returns a function that removes the handler. */
  onSignal(signal: "SIGTERM" | "SIGINT" | "SIGHUP", handler: () => void): () => void;
  /** Watch a file for changes (content or replacement); returns a function that stops watching. */
  watchFile(path: string, onChange: () => void): () => void;
  /** HTTP request to a server on a unix socket (the Docker Engine API). */
  unixFetch(socketPath: string, path: string, init?: RequestInit): Promise<Response>;
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
