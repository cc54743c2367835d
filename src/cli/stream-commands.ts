/**
 * The Stream API's container commands, after docker-cloud's: `agent container logs`, `agent service logs`
 * (each line prefixed with its container's name) and `agent container exec` (this process's stdin
 * forwarded, the command's exit code returned). Websockets at the REST API's address (client/stream.ts);
 * the object is named as for the other commands (uuid, resource_uri or unique live name).
 */
import type { CAC } from "cac";
import { clientConfig } from "../client/config.ts";
import { type ApiClient, apiClient } from "../client/rest.ts";
import {
  objectStreamPath,
  type OpenStream,
  openStream,
  printable,
  type StreamClose,
  streamOrigin,
} from "../client/stream.ts";
import { AgentError } from "../errors.ts";
import type { Platform, WebSocketPeer } from "../ports.ts";
import { CLIENT_ENVIRONMENT, type ResourceAccess } from "./api-group.ts";
import type { CliContext, ExitCode } from "./context.ts";
import { integer, passthrough } from "./option-kinds.ts";

/** The server's limits: `tail` (src/api/container-streams.ts) and the length of `command`. */
export const MAX_TAIL = 10_000;
export const MAX_COMMAND_LENGTH = 4096;
/** Stdin goes out in pieces of at most this size (the client queues at most 1 MiB). */
const STDIN_PIECE_BYTES = 64 * 1024;
/** How long to wait before trying again when the websocket's send queue is full. */
const SEND_RETRY_MS = 10;

type Signal = "SIGINT" | "SIGTERM";

interface LogsOptions {
  readonly follow?: boolean;
  readonly tail?: number;
  readonly json?: boolean;
}

/** Waits for the websocket's end; SIGINT or SIGTERM close it (1000) first and are reported. */
async function untilClosed(
  ctx: CliContext,
  stream: OpenStream,
): Promise<{ end: StreamClose; signal: Signal | undefined }> {
  let signal: Signal | undefined;
  const on = (name: Signal) => () => {
    if (signal !== undefined) return;
    signal = name;
    stream.peer.close(1000, "interrupted");
  };
  const removers = [
    ctx.platform.onSignal("SIGINT", on("SIGINT")),
    ctx.platform.onSignal("SIGTERM", on("SIGTERM")),
  ];
  try {
    const end = await stream.closed;
    return { end, signal };
  } finally {
    for (const remove of removers) remove();
  }
}

/** Why a websocket ended that should not have: lost (1006) or closed by the agent with another code. */
function closedError(origin: string, what: string, end: StreamClose): AgentError {
  if (end.code === 1006) {
    return new AgentError("ERR_API_UNREACHABLE", `the connection to the agent at ${origin} was lost`);
  }
  const why = end.reason === "" ? "" : `: ${printable(end.reason)}`;
  return new AgentError("ERR_API_RESPONSE", `the agent at ${origin} closed the ${what} (${end.code}${why})`);
}

/** Container names by resource_uri, for the prefixes of a service's lines; empty when they cannot be read. */
async function containerNames(client: ApiClient): Promise<Map<string, string>> {
  try {
    const names = new Map<string, string>();
    for (const container of await client.list("app", "container")) {
      const uri = container["resource_uri"];
      const name = container["name"];
      if (typeof uri === "string" && typeof name === "string" && name !== "") names.set(uri, name);
    }
    return names;
  } catch {
    return new Map();
  }
}

/** A container's short id from its resource_uri (`.../container/ID/`). */
function shortId(uri: string): string {
  const m = /\/container\/([^/]+)\/?$/.exec(uri);
  return (m?.[1] ?? uri).slice(0, 12);
}

async function logs(
  ctx: CliContext,
  access: ResourceAccess,
  resource: "container" | "service",
  ref: string,
  options: LogsOptions,
): Promise<ExitCode> {
  const config = await clientConfig(ctx.env, ctx.fs);
  const client = apiClient(ctx.platform, config);
  const path = objectStreamPath(config, "app", resource, await access.resolve(client, ref), "logs");
  const json = options.json === true;
  const names = resource === "service" && !json ? await containerNames(client) : new Map<string, string>();
  const width = Math.max(0, ...[...names.values()].map((n) => printable(n).length));
  const prefix = (source: unknown) => {
    if (typeof source !== "string") return "";
    return `${printable(names.get(source) ?? shortId(source)).padEnd(width)} | `;
  };
  const query = new URLSearchParams();
  if (options.tail !== undefined) query.set("tail", String(options.tail));
  if (options.follow === true) query.set("follow", "true");

  let failure: string | undefined;
  const stream = await openStream(ctx.platform, config, path, query, (message) => {
    if (message === undefined) return;
    if (json) ctx.output.out(`${JSON.stringify(message)}\n`);
    if (message["type"] === "error") failure = printable(message["error"] ?? "no error message");
    if (json || message["type"] !== "log") return;
    const line = `${prefix(message["source"])}${String(message["log"] ?? "")}\n`;
    if (message["streamType"] === "stderr") ctx.output.err(line);
    else ctx.output.out(line);
  });
  const { end, signal } = await untilClosed(ctx, stream);
  if (signal !== undefined) return 0;
  if (failure !== undefined) throw new AgentError("ERR_API_RESPONSE", `the agent's logs failed: ${failure}`);
  if (end.code === 1000) return 0;
  throw closedError(streamOrigin(config), "logs", end);
}

export function addLogs(
  cli: CAC,
  access: ResourceAccess,
  ctx: CliContext,
  resource: "container" | "service",
): void {
  const service = resource === "service";
  cli
    .command(
      "logs <ref>",
      service
        ? "Print the logs of a service's containers, each line prefixed with its container's name"
        : "Print a container's logs",
    )
    .option("-f, --follow", "Keep printing new lines until interrupted (SIGINT, SIGTERM)")
    .option(`--tail <n>`, `Only the last N lines${service ? " of each container" : ""}`, integer(0, MAX_TAIL))
    .option("--json", "Print each message as its JSON line, all on stdout")
    .usage(
      `logs UUID|NAME [-f|--follow] [--tail N] [--json]\n\n` +
        "Each line goes to stdout, or to stderr when the container wrote it there" +
        (service ? ", prefixed with its\ncontainer's name (or short id): NAME | LINE" : "") +
        ".\nWithout --follow it ends after the last line; with it, when interrupted or when the " +
        (service ? "containers stop.\n" : "container stops.\n") +
        "Exit codes: 0 ok (or interrupted), 1 failure (reason on stderr), 2 usage error.\n\n" +
        CLIENT_ENVIRONMENT,
    )
    .example(`agent ${resource} logs web${service ? "" : "-1"} --tail 100 -f`)
    .action((ref: string, options: LogsOptions) => logs(ctx, access, resource, ref, options));
}

/** One word as the agent splits `command` (shell-like: '...' quotes everything but '). */
export function quoteWord(word: string): string {
  return /^[A-Za-z0-9_/.,:=@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Forwards stdin, once started, to the websocket as binary messages, then the empty one (end of stdin);
 * stop() stops reading (also before the start: nothing is read then).
 */
function stdinForwarder(platform: Platform): { start(peer: WebSocketPeer): void; stop(): void } {
  let stopped = false;
  let input: AsyncIterator<Uint8Array> | undefined;
  const send = async (peer: WebSocketPeer, data: Uint8Array): Promise<boolean> => {
    while (!peer.sendBinary(data)) {
      if (stopped) return false;
      await platform.sleep(SEND_RETRY_MS);
    }
    return true;
  };
  const pump = async (peer: WebSocketPeer, from: AsyncIterator<Uint8Array>) => {
    try {
      for (;;) {
        const next = await from.next();
        if (stopped) return;
        if (next.done === true) break;
        // An empty chunk is skipped: an empty message is the end of stdin.
        for (let at = 0; at < next.value.length; at += STDIN_PIECE_BYTES) {
          if (!(await send(peer, next.value.subarray(at, at + STDIN_PIECE_BYTES)))) return;
        }
      }
    } catch {
      // stdin cannot be read (closed, a directory): it ends here.
    }
    if (!stopped) peer.sendBinary(new Uint8Array(0));
  };
  return {
    start(peer) {
      if (stopped || input !== undefined) return;
      input = platform.readStdin()[Symbol.asyncIterator]();
      void pump(peer, input);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      void input?.return?.().catch(() => undefined);
    },
  };
}

async function exec(
  ctx: CliContext,
  access: ResourceAccess,
  ref: string,
  words: readonly string[],
): Promise<ExitCode> {
  if (words.length === 0) {
    throw new AgentError("ERR_USAGE", "name the command to run: exec UUID|NAME COMMAND");
  }
  const command = words.map(quoteWord).join(" ");
  if (command.length > MAX_COMMAND_LENGTH) {
    throw new AgentError("ERR_USAGE", `the command is too long (at most ${MAX_COMMAND_LENGTH} characters)`);
  }
  const config = await clientConfig(ctx.env, ctx.fs);
  const client = apiClient(ctx.platform, config);
  const path = objectStreamPath(config, "app", "container", await access.resolve(client, ref), "exec");

  let exit: { code: unknown } | undefined;
  let failure: string | undefined;
  const stdin = stdinForwarder(ctx.platform);
  const stream = await openStream(ctx.platform, config, path, new URLSearchParams({ command }), (message) => {
    if (message === undefined) return;
    if (message["type"] === "output") {
      const text = String(message["output"] ?? "");
      if (message["streamType"] === "stderr") ctx.output.err(text);
      else ctx.output.out(text);
    } else if (message["type"] === "exit") {
      exit = { code: message["exit_code"] };
      stdin.stop();
    } else if (message["type"] === "error") {
      failure = printable(message["error"] ?? "no error message");
    }
  });
  stdin.start(stream.peer);
  const { end, signal } = await untilClosed(ctx, stream).finally(() => stdin.stop());
  if (signal !== undefined) return signal === "SIGINT" ? 130 : 143;
  if (exit !== undefined) {
    const code = exit.code;
    // null (dockerd did not say) or anything that is no exit status: a failure.
    return typeof code === "number" && Number.isInteger(code) && code >= 0 && code <= 255 ? code : 1;
  }
  if (failure !== undefined) throw new AgentError("ERR_API_RESPONSE", `the agent's exec failed: ${failure}`);
  throw closedError(streamOrigin(config), "exec before the command's exit", end);
}

export function addExec(cli: CAC, access: ResourceAccess, ctx: CliContext): void {
  passthrough(
    cli.command("exec <ref> [...command]", "Run a command in a container, with this process's stdin"),
  )
    .usage(
      "exec UUID|NAME [--] COMMAND [ARGS...]\n\n" +
        "Everything after UUID|NAME is the command, exactly as typed (a leading -- is dropped; no\n" +
        "shell runs it: write sh -c '...' for one). This process's stdin goes to it until end of file;\n" +
        "its output comes to stdout and stderr as it wrote them. No terminal is allocated.\n" +
        "Exit code: the command's own; 1 when it cannot run or the agent fails (reason on stderr, or no\n" +
        "exit code known), 2 usage error, 130/143 when interrupted by SIGINT/SIGTERM.\n\n" +
        CLIENT_ENVIRONMENT,
    )
    .example("agent container exec web-1 ls -l /")
    .example("echo hello | agent container exec web-1 -- cat")
    .action((ref: string, command: string[]) => exec(ctx, access, ref, command));
}
