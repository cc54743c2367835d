/**
 * A container's logs as lines: `GET /containers/{id}/logs` over Platform.unixFetch, demultiplexed (or raw
 * for a TTY container) and split into lines per stream, each with dockerd's timestamp.
 *
 * The response body streams as dockerd writes it; with `follow` the call stays open for as long as the
 * container runs. Quiet periods are no problem: Bun 1.4's fetch kept a unix-socket follow open through
 * 330 s of silence (no idle timeout, no `timeout: false` needed), the Deno platform's node:http through the
 * e2e's 15 s. Aborting `signal`, or leaving the loop early, cancels the body, which closes the connection:
 * dockerd then ends its side of the call.
 */
import { AgentError } from "../errors.ts";
import type { Platform } from "../ports.ts";
import {
  callError,
  type CallHeaders,
  chunksOf,
  DockerCallError,
  NO_HEADERS,
  pathSegment,
  unreachable,
} from "./engine-call.ts";
import { demultiplex, type LogLine, logLines, rawFrames, type StreamType } from "./multiplexed.ts";

export interface DockerStreamDeps {
  readonly platform: Pick<Platform, "unixFetch">;
  /** The Engine API's unix socket. */
  readonly socketPath: string;
}

export interface LogsOptions {
  /** The last N lines only, or "all" (default "all"). */
  readonly tail?: number | "all";
  /** Keep the call open and hand on new lines as the container writes them (default false). */
  readonly follow?: boolean;
  /** Only lines logged at or after this time (a Date, or UNIX seconds, fractions allowed). */
  readonly since?: Date | number;
  /** Only lines logged before this time. */
  readonly until?: Date | number;
  /** Which streams (default both). */
  readonly stdout?: boolean;
  readonly stderr?: boolean;
  /**
   * Whether the container has a TTY (its logs are then one raw stream, all "stdout"). Undefined: read from
   * `GET /containers/{id}/json` (Config.Tty) first, one more call through `headers`.
   */
  readonly tty?: boolean;
  /** Stops the logs: the iteration ends quietly and the connection is closed. */
  readonly signal?: AbortSignal;
  /** Extra headers for each call to dockerd (the inspect, if any, and the logs call). */
  readonly headers?: CallHeaders;
  /** See LineOptions.maxLineBytes (default 1 MiB). */
  readonly maxLineBytes?: number;
  /** See DemultiplexOptions.maxFrameBytes (default 1 MiB). */
  readonly maxFrameBytes?: number;
}

/** One log line: Docker Cloud's stream API's `log` message has these fields. */
export interface LogEntry {
  readonly streamType: StreamType;
  /** The line, without its newline. */
  readonly log: string;
  /** dockerd's timestamp for the line (ISO 8601, UTC, milliseconds); undefined if it sent none. */
  readonly timestamp: string | undefined;
}

/**
 * The logs as they come. Nothing is asked of dockerd until the first `next()`; errors surface there:
 * DockerCallError (404 ERR_DOCKER_NOT_FOUND for a missing container, with dockerd's message), AgentError
 * ERR_DOCKER_UNREACHABLE, or MultiplexedStreamError for a stream that is not what dockerd sends. An abort
 * is no error: the iteration simply ends.
 */
export async function* followLogs(
  deps: DockerStreamDeps,
  containerId: string,
  options: LogsOptions = {},
): AsyncGenerator<LogEntry> {
  const body = await openLogs(deps, containerId, options);
  if (body === undefined) return;
  const frames = body.tty
    ? rawFrames(chunksOf(body.stream))
    : demultiplex(chunksOf(body.stream), { maxFrameBytes: options.maxFrameBytes });
  const lines = logLines(frames, {
    timestamps: true,
    framesAreMessages: !body.tty,
    maxLineBytes: options.maxLineBytes,
  });
  // A consumer that stops early ends this loop, whose generators' finally blocks cancel the body.
  try {
    for await (const line of lines) yield entry(line);
  } catch (err) {
    if (options.signal?.aborted) return;
    if (err instanceof AgentError) throw err;
    throw new AgentError("ERR_DOCKER_UNREACHABLE", "the Docker daemon's logs were cut off", String(err));
  }
}

/** The logs call's open body and whether it is raw (TTY); undefined when `signal` aborted first. */
export async function openLogs(
  deps: DockerStreamDeps,
  containerId: string,
  options: LogsOptions = {},
): Promise<{ readonly stream: ReadableStream<Uint8Array>; readonly tty: boolean } | undefined> {
  const headers = options.headers ?? NO_HEADERS;
  const signal = options.signal;
  const id = pathSegment(containerId);
  let tty = options.tty;
  if (tty === undefined) {
    const found = await inspectTty(deps, id, headers, signal);
    if (found === undefined) return undefined;
    tty = found;
  }
  const uri = `/containers/${id}/logs?${logsQuery(options)}`;
  let response: Response;
  try {
    response = await deps.platform.unixFetch(deps.socketPath, uri, {
      headers: { ...headers("GET", uri) },
      ...(signal === undefined ? {} : { signal }),
    });
  } catch (err) {
    if (signal?.aborted) return undefined;
    throw unreachable(deps.socketPath, err);
  }
  if (response.status !== 200 || response.body === null) throw await callError(response, `GET ${uri}`);
  return { stream: response.body, tty };
}

/** Config.Tty from the container's inspect; undefined when aborted. */
async function inspectTty(
  deps: DockerStreamDeps,
  id: string,
  headers: CallHeaders,
  signal: AbortSignal | undefined,
): Promise<boolean | undefined> {
  const uri = `/containers/${id}/json`;
  let response: Response;
  let text: string;
  try {
    response = await deps.platform.unixFetch(deps.socketPath, uri, {
      headers: { ...headers("GET", uri) },
      ...(signal === undefined ? {} : { signal }),
    });
    if (response.status !== 200) throw await callError(response, `GET ${uri}`);
    text = await response.text();
  } catch (err) {
    if (signal?.aborted) return undefined;
    if (err instanceof DockerCallError) throw err;
    throw unreachable(deps.socketPath, err);
  }
  try {
    const config = (JSON.parse(text) as { Config?: { Tty?: unknown } }).Config;
    return config?.Tty === true;
  } catch {
    throw new AgentError("ERR_DOCKER_RESPONSE", "the Docker daemon sent an unreadable container");
  }
}

/** The logs call's query: both streams unless told, always with timestamps. */
export function logsQuery(options: LogsOptions): string {
  const query = new URLSearchParams();
  query.set("stdout", options.stdout === false ? "0" : "1");
  query.set("stderr", options.stderr === false ? "0" : "1");
  query.set("timestamps", "1");
  if (options.follow) query.set("follow", "1");
  const tail = options.tail ?? "all";
  if (tail !== "all") {
    if (!Number.isInteger(tail) || tail < 0) {
      throw new AgentError("ERR_INTERNAL", 'logs: tail must be a whole number or "all"');
    }
    query.set("tail", String(tail));
  } else query.set("tail", "all");
  if (options.since !== undefined) query.set("since", unixSeconds(options.since));
  if (options.until !== undefined) query.set("until", unixSeconds(options.until));
  return query.toString();
}

/** dockerd's "SECONDS[.NANOSECONDS]" (never exponent notation). */
function unixSeconds(time: Date | number): string {
  const seconds = typeof time === "number" ? time : time.getTime() / 1000;
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > 253402300799) {
    throw new AgentError("ERR_INTERNAL", "logs: since and until must be times from 1970 to 9999");
  }
  const whole = Math.floor(seconds);
  const nanos = Math.round((seconds - whole) * 1e9);
  return nanos === 0 ? String(whole) : `${whole}.${String(Math.min(nanos, 999_999_999)).padStart(9, "0")}`;
}

function entry(line: LogLine): LogEntry {
  return { streamType: line.streamType, log: line.line, timestamp: line.timestamp };
}
