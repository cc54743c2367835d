/**
 * The few Deno APIs src/runtime/deno-platform.ts and src/main.ts use, declared by hand so `tsc` (whose
 * types are Bun's) checks them without pulling in Deno's whole lib. Shapes follow `deno types` of 2.9.
 * Only declarations: under Deno the real globals are used, under Bun `Deno` is undefined.
 */

declare namespace Deno {
  export const pid: number;
  export const args: readonly string[];

  export interface UnixAddr {
    readonly transport: "unix" | "unixpacket";
    readonly path: string;
  }

  export interface ServeUnixOptions {
    readonly transport?: "unix";
    readonly path: string;
    readonly signal?: AbortSignal;
    readonly onError?: (error: unknown) => Response | Promise<Response>;
    readonly onListen?: (localAddr: UnixAddr) => void;
  }

  export interface HttpServer {
    readonly finished: Promise<void>;
    shutdown(): Promise<void>;
  }

  export function serve(
    options: ServeUnixOptions,
    handler: (request: Request) => Response | Promise<Response>,
  ): HttpServer;

  export type Signal = "SIGTERM" | "SIGINT" | "SIGHUP";
  export function addSignalListener(signal: Signal, handler: () => void): void;
  export function removeSignalListener(signal: Signal, handler: () => void): void;

  export interface FsEvent {
    readonly kind: "any" | "access" | "create" | "modify" | "rename" | "remove" | "other";
    readonly paths: string[];
  }

  export interface FsWatcher extends AsyncIterable<FsEvent> {
    close(): void;
  }

  export function watchFs(paths: string | string[], options?: { recursive?: boolean }): FsWatcher;

  export interface CommandOptions {
    args?: string[];
    env?: Record<string, string>;
    stdin?: "piped" | "inherit" | "null";
    stdout?: "piped" | "inherit" | "null";
    stderr?: "piped" | "inherit" | "null";
  }

  export interface CommandStatus {
    readonly success: boolean;
    readonly code: number;
  }

  export interface ChildProcess {
    readonly pid: number;
    readonly status: Promise<CommandStatus>;
  }

  export class Command {
    constructor(command: string, options?: CommandOptions);
    spawn(): ChildProcess;
  }

  export interface HttpClient {
    close(): void;
  }
  export function createHttpClient(options: { readonly caCerts?: string[] }): HttpClient;

  export const env: {
    get(key: string): string | undefined;
  };

  export const stdin: {
    readonly readable: ReadableStream<Uint8Array>;
  };
}
