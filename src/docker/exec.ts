/**
 * A command run in a container, both ways: `POST /containers/{id}/exec` creates it, `POST /exec/{id}/start`
 * over a hijacked connection (Platform.unixHijack) carries stdin to it and its output back, and
 * `GET /exec/{id}/json` tells its exit code once the output ended. The same three calls `docker exec`
 * makes; each goes through the caller's `headers` (when dockerd runs the agent as its authorization plugin,
 * the plugin sees all three, and hears AuthZRes for the start only after the stream ended).
 */
import { AgentError } from "../errors.ts";
import type { HijackedStream, Platform } from "../ports.ts";
import {
  callError,
  type CallHeaders,
  chunksOf,
  daemonMessage,
  DockerCallError,
  NO_HEADERS,
  pathSegment,
  unreachable,
} from "./engine-call.ts";
import { demultiplex, rawFrames, type StreamType } from "./multiplexed.ts";

export interface ExecDeps {
  readonly platform: Pick<Platform, "unixFetch" | "unixHijack" | "sleep">;
  /** The Engine API's unix socket. */
  readonly socketPath: string;
}

export interface ExecOptions {
  /** The command and its arguments (no shell: `["sh", "-c", "..."]` for one). */
  readonly cmd: readonly string[];
  /** Attach stdin: write() reaches the command, closeStdin() ends its input. */
  readonly stdin: boolean;
  /**
   * A TTY (default false). Without one, stdout and stderr come apart (a multiplexed stream); with one,
   * everything is "stdout", raw, as the terminal wrote it.
   */
  readonly tty?: boolean;
  /** Extra headers for each of the three calls, asked per call with its method and URI. */
  readonly headers?: CallHeaders;
  /** Aborting closes the session (as close()). */
  readonly signal?: AbortSignal;
  /** See DemultiplexOptions.maxFrameBytes (default 1 MiB). */
  readonly maxFrameBytes?: number;
}

export interface ExecOutput {
  readonly streamType: StreamType;
  readonly data: Uint8Array;
}

export interface ExecSession {
  /** dockerd's id for this exec. */
  readonly execId: string;
  /**
   * The command's output, as dockerd sends it; iterate once. Ends when the command exits and dockerd
   * closes the stream, or after close(); a stream that is not multiplexed throws MultiplexedStreamError.
   */
  readonly output: AsyncIterable<ExecOutput>;
  /** Sends bytes to the command's stdin. */
  write(data: Uint8Array): Promise<void>;
  /** Ends the command's stdin (dockerd sees EOF; the output keeps coming). */
  closeStdin(): void;
  /**
   * The command's exit code, asked of dockerd once the output ended (read `output` to its end, or call
   * close(), first: this waits for that). null when dockerd reports none (the command still runs after a
   * close(), or the exec is gone).
   */
  exitCode(): Promise<number | null>;
  /** Closes the connection (the command's stdin and stdout go; dockerd leaves the process to end). */
  close(): void;
}

/** How long exitCode() waits for dockerd to record the exit after the stream ended: 40 x 50 ms. */
const EXIT_POLLS = 40;
const EXIT_POLL_MS = 50;

/**
 * Creates and starts the exec. Rejects with DockerCallError carrying dockerd's message (404
 * ERR_DOCKER_NOT_FOUND "No such container: ...", 409 for a container that is not running, a plugin's
 * refusal), or AgentError ERR_DOCKER_UNREACHABLE.
 */
export async function runExec(
  deps: ExecDeps,
  containerId: string,
  options: ExecOptions,
): Promise<ExecSession> {
  if (options.cmd.length === 0 || options.cmd.some((arg) => typeof arg !== "string")) {
    throw new AgentError("ERR_INTERNAL", "exec: cmd must be a non-empty list of strings");
  }
  const headers = options.headers ?? NO_HEADERS;
  const tty = options.tty ?? false;
  const signal = options.signal;
  const execId = await createExec(deps, pathSegment(containerId), options, tty, headers);

  const startUri = `/exec/${pathSegment(execId)}/start`;
  let stream: HijackedStream;
  try {
    stream = await deps.platform.unixHijack(deps.socketPath, {
      method: "POST",
      path: startUri,
      headers: { ...headers("POST", startUri) },
      body: JSON.stringify({ Detach: false, Tty: tty }),
      ...(signal === undefined ? {} : { signal }),
    });
  } catch (err) {
    throw unreachable(deps.socketPath, err);
  }
  if (stream.status !== 101 && stream.status !== 200) {
    stream.close();
    throw new DockerCallError(stream.status, daemonMessage(stream.errorBody), `POST ${startUri}`);
  }

  let markEnded!: () => void;
  const ended = new Promise<void>((resolve) => (markEnded = resolve));
  /** Set when the output reached its end (rather than close() cutting it). */
  let finished = false;
  let closed = false;
  const chunks = chunksOf(stream.output);
  const frames = tty ? rawFrames(chunks) : demultiplex(chunks, { maxFrameBytes: options.maxFrameBytes });
  async function* output(): AsyncGenerator<ExecOutput> {
    try {
      for await (const frame of frames) yield { streamType: frame.stream, data: frame.data };
      // After close() the stream ends cleanly too, but the command need not have exited.
      finished = !closed;
    } catch (err) {
      if (closed) return;
      throw err instanceof AgentError
        ? err
        : new AgentError("ERR_DOCKER_UNREACHABLE", "the exec's stream broke", String(err));
    } finally {
      markEnded();
    }
  }
  const close = () => {
    closed = true;
    stream.close();
    markEnded();
  };
  signal?.addEventListener("abort", close, { once: true });
  void ended.then(() => signal?.removeEventListener("abort", close));

  let exit: Promise<number | null> | undefined;
  return {
    execId,
    output: output(),
    write: (data) => stream.write(data),
    closeStdin: () => stream.closeWrite(),
    exitCode() {
      // After a close() that cut the output, the command may well run on: one look, no waiting.
      exit ??= ended.then(() => exitCodeOf(deps, execId, headers, finished ? EXIT_POLLS : 1));
      return exit;
    },
    close,
  };
}

async function createExec(
  deps: ExecDeps,
  id: string,
  options: ExecOptions,
  tty: boolean,
  headers: CallHeaders,
): Promise<string> {
  const uri = `/containers/${id}/exec`;
  const body = JSON.stringify({
    AttachStdin: options.stdin,
    AttachStdout: true,
    AttachStderr: true,
    Tty: tty,
    Cmd: [...options.cmd],
  });
  let response: Response;
  let text: string;
  try {
    response = await deps.platform.unixFetch(deps.socketPath, uri, {
      method: "POST",
      headers: { ...headers("POST", uri), "content-type": "application/json" },
      body,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    if (response.status !== 201 && response.status !== 200) throw await callError(response, `POST ${uri}`);
    text = await response.text();
  } catch (err) {
    if (err instanceof DockerCallError) throw err;
    throw unreachable(deps.socketPath, err);
  }
  let execId: unknown;
  try {
    execId = (JSON.parse(text) as { Id?: unknown }).Id;
  } catch {
    execId = undefined;
  }
  if (typeof execId !== "string" || !/^[0-9a-f]{1,128}$/.test(execId)) {
    throw new AgentError("ERR_DOCKER_RESPONSE", "the Docker daemon sent no exec id");
  }
  return execId;
}

/** ExitCode from `GET /exec/{id}/json`, waiting briefly while dockerd still reports the exec running. */
async function exitCodeOf(
  deps: ExecDeps,
  execId: string,
  headers: CallHeaders,
  polls: number,
): Promise<number | null> {
  const uri = `/exec/${pathSegment(execId)}/json`;
  for (let poll = 0;; poll++) {
    let text: string;
    try {
      const response = await deps.platform.unixFetch(deps.socketPath, uri, {
        headers: { ...headers("GET", uri) },
      });
      if (response.status === 404) {
        await response.body?.cancel();
        return null;
      }
      if (response.status !== 200) throw await callError(response, `GET ${uri}`);
      text = await response.text();
    } catch (err) {
      if (err instanceof DockerCallError) throw err;
      throw unreachable(deps.socketPath, err);
    }
    let state: { Running?: unknown; ExitCode?: unknown } | null;
    try {
      state = JSON.parse(text) as typeof state;
    } catch {
      throw new AgentError("ERR_DOCKER_RESPONSE", "the Docker daemon sent an unreadable exec");
    }
    if (state?.Running !== true) return typeof state?.ExitCode === "number" ? state.ExitCode : null;
    if (poll + 1 >= polls) return null;
    await deps.platform.sleep(EXIT_POLL_MS);
  }
}
