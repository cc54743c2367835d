/**
 * What the streaming Engine API calls (logs.ts, exec.ts) share: the headers hook each call goes through,
 * dockerd's error answers as typed errors, and a byte stream read as an async iterable that releases its
 * connection however the reader stops.
 */
import { AgentError } from "../errors.ts";

/**
 * The extra headers for one Engine API call, asked once per call with its method and URI (path and query,
 * as sent): a caller attaches a one-time proof for exactly that call. dockerd hands custom headers to its
 * authorization plugin on every call, hijacked ones included (shared/design/docker-authz.md).
 */
export type CallHeaders = (method: string, uri: string) => Readonly<Record<string, string>>;

export const NO_HEADERS: CallHeaders = () => ({});

/**
 * dockerd answered a call with an error status. `message` is "the Docker daemon answered STATUS: TEXT" with
 * dockerd's own text (what the docker CLI would show, e.g. "No such container: web"), which is also in
 * `daemonMessage`. Code ERR_DOCKER_NOT_FOUND for 404, ERR_DOCKER_RESPONSE otherwise.
 */
export class DockerCallError extends AgentError {
  readonly status: number;
  readonly daemonMessage: string;

  constructor(status: number, daemonMessage: string, call: string) {
    super(
      status === 404 ? "ERR_DOCKER_NOT_FOUND" : "ERR_DOCKER_RESPONSE",
      `the Docker daemon answered ${status}${daemonMessage === "" ? "" : `: ${daemonMessage}`}`,
      call,
    );
    this.status = status;
    this.daemonMessage = daemonMessage;
  }
}

/** dockerd's `{"message": ...}` from an error body (short), or the start of the text when it is not JSON. */
export function daemonMessage(body: string): string {
  let text = body.trim();
  try {
    const parsed = JSON.parse(body) as unknown;
    if (typeof parsed === "object" && parsed !== null) {
      const message = (parsed as Record<string, unknown>)["message"];
      if (typeof message === "string") text = message.trim();
    }
  } catch {
    // not JSON: the text as it is
  }
  // One line of printable text: the message may be shown to a user and written to a log.
  return [...text].map((c) => (c.charCodeAt(0) < 0x20 || c === "\x7f" ? " " : c)).join("").replace(
    / {2,}/g,
    " ",
  )
    .slice(0, 300);
}

/** Reads an error Response's body into a DockerCallError (an unreadable body leaves the message empty). */
export async function callError(response: Response, call: string): Promise<DockerCallError> {
  let body = "";
  try {
    body = await response.text();
  } catch {
    body = "";
  }
  return new DockerCallError(response.status, daemonMessage(body), call);
}

export function unreachable(socketPath: string, err: unknown): AgentError {
  if (err instanceof AgentError) return err;
  return new AgentError(
    "ERR_DOCKER_UNREACHABLE",
    `cannot reach the Docker daemon at ${socketPath}`,
    err instanceof Error ? err.message : String(err),
  );
}

/**
 * The chunks of a byte stream. However the loop ends (the stream's end, an error, `break`, a thrown
 * consumer) the stream is cancelled, which closes the connection under it.
 */
export async function* chunksOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        finished = true;
        return;
      }
      if (value.length > 0) yield value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
    try {
      reader.releaseLock();
    } catch {
      // a runtime that refuses while a read is settling: the stream is cancelled anyway
    }
  }
}

/** A container id or name in a path: percent-encoded, so `../` or `?` cannot change the call. */
export function pathSegment(id: string): string {
  if (id.length === 0 || id.length > 256) {
    throw new AgentError("ERR_DOCKER_NOT_FOUND", "no container has an empty or over-long name");
  }
  return encodeURIComponent(id);
}
