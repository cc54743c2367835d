/**
 * The Stream API's container websockets, after authentication (401 before any upgrade) and the namespace:
 *
 * - `GET container/(uuid)/logs/?tail=&follow=` and `GET service/(uuid)/logs/` (its containers' lines merged,
 *   each with `source`, the container's resource URI): one message per line, Docker Cloud's
 *   `{"type": "log", "log", "streamType", "timestamp"}` (timestamp: UNIX seconds). Decided as the Engine API's
 *   `GET /containers/{id}/logs` (container:logs, a read). Without `follow` the websocket closes (1000) after
 *   the last line; with it, it stays open through quiet periods (the listener pings) until the client closes.
 * - `GET container/(uuid)/exec/?command=` runs the command (one string, split like a shell's words) and
 *   streams it both ways: what the client sends is the command's stdin (text or binary; an empty binary
 *   message ends it), what it writes comes
 *   as `{"type": "output", "output", "streamType"}`, and at its end `{"type": "exit", "exit_code"}`, then
 *   1000. Decided as `POST /containers/{id}/exec` (container:exec) and `POST /exec/{id}/start` (exec:start):
 *   writes, whatever the GET of the upgrade says, so a read-only key, role or macaroon is refused (403).
 *
 * The agent's calls to dockerd each carry a one-time proof of this decision (streams' proofs wait for their
 * AuthZRes until the stream ends). dockerd's logs are read no faster than the client reads them (reading
 * pauses while 256 KiB wait to be sent); a client that reads nothing for 30 s is closed (1008).
 */
import { followLogs, type LogEntry } from "../docker/logs.ts";
import { runExec } from "../docker/exec.ts";
import { isAgentError } from "../errors.ts";
import type { Platform, WebSocketPeer } from "../ports.ts";
import type { EngineCall } from "./facts.ts";
import { splitWords } from "./service-spec.ts";
import { type ApiAppDeps, type ApiContext, badRequest, decideCalls, refused } from "./steps.ts";

/** What the logs and exec websockets need of dockerd beyond the EngineClient. */
export interface DockerStreams {
  readonly platform: Pick<Platform, "unixFetch" | "unixHijack" | "sleep">;
  readonly socketPath: string;
}

const MAX_TAIL = 10_000;
const CLOSE_TOO_SLOW = 1008;
/** Reading from dockerd waits while more than this is queued to the client (its socket drains it). */
const PAUSE_ABOVE_BYTES = 256 * 1024;
/** ... for at most this long, then the client is too slow and closed. */
const MAX_PAUSE_MS = 30_000;

/** Waits while the peer's queue is long: dockerd is then read no faster than the client reads. */
async function drained(peer: WebSocketPeer, streams: DockerStreams, signal?: AbortSignal): Promise<boolean> {
  for (let waited = 0; peer.bufferedBytes > PAUSE_ABOVE_BYTES; waited += 20) {
    if (waited >= MAX_PAUSE_MS || signal?.aborted) return false;
    await streams.platform.sleep(20, signal);
  }
  return true;
}

function logMessage(entry: LogEntry, source?: string): string {
  const seconds = entry.timestamp === undefined ? null : Math.floor(Date.parse(entry.timestamp) / 1000);
  return JSON.stringify({
    type: "log",
    log: entry.log,
    streamType: entry.streamType,
    timestamp: Number.isFinite(seconds) ? seconds : null,
    ...(source === undefined ? {} : { source }),
  });
}

/** Per-call proof headers under this request's decision; streams' proofs are withdrawn by `end`. */
function proofHeaders(c: ApiContext, deps: ApiAppDeps) {
  const decisionId = c.get("call").decisionId;
  const issued: string[] = [];
  let n = 0;
  const headers = (streaming: boolean) => (method: string, uri: string): Readonly<Record<string, string>> => {
    if (deps.proofs === undefined) return {};
    // One proof per call; ids stay hex and within the proofs' 32 characters.
    const id = `${decisionId}${(n++).toString(16).padStart(4, "0")}`.slice(-32);
    if (streaming) issued.push(id);
    return deps.proofs.issue(id, method, uri, { streaming }) ?? {};
  };
  return {
    headers,
    end: () => {
      for (const id of issued) deps.proofs?.withdraw(id);
    },
  };
}

function logsQuery(c: ApiContext): { tail: number | "all"; follow: boolean } | string {
  const query = new URL(c.req.url).searchParams;
  const tailText = query.get("tail");
  const followText = query.get("follow");
  let tail: number | "all" = "all";
  if (tailText !== null && tailText !== "all") {
    if (!/^[0-9]{1,6}$/.test(tailText) || Number(tailText) > MAX_TAIL) {
      return `tail must be a whole number from 0 to ${MAX_TAIL}, or all`;
    }
    tail = Number(tailText);
  }
  if (followText !== null && !["true", "false", "1", "0"].includes(followText)) {
    return "follow must be true or false";
  }
  return { tail, follow: followText === "true" || followText === "1" };
}

/** `GET container/(id)/logs/` (one container) or `GET service/(id)/logs/` (several, with `source`). */
export async function logsStream(
  c: ApiContext,
  deps: ApiAppDeps,
  containers: readonly { readonly id: string; readonly uri: string }[],
  withSource: boolean,
): Promise<Response> {
  const websocket = c.env.connection.websocket;
  if (websocket === undefined || deps.dockerStreams === undefined) {
    return badRequest(c, "logs are a websocket: send Upgrade: websocket");
  }
  const options = logsQuery(c);
  if (typeof options === "string") return badRequest(c, options);
  const calls: EngineCall[] = containers.map((ct) => ({ method: "GET", uri: `/containers/${ct.id}/logs` }));
  if (calls.length > 0) {
    const denied = await decideCalls(c, deps, calls);
    if (denied !== undefined) return denied;
  }
  const streams = deps.dockerStreams;
  return websocket.accept((peer) => {
    const stop = new AbortController();
    const proofs = proofHeaders(c, deps);
    const send = (text: string) => {
      if (!peer.sendText(text)) {
        stop.abort();
        peer.close(CLOSE_TOO_SLOW, "too slow: log lines were not read fast enough");
      }
    };
    const one = async (container: { id: string; uri: string }) => {
      for await (
        const entry of followLogs(streams, container.id, {
          tail: options.tail,
          follow: options.follow,
          signal: stop.signal,
          headers: proofs.headers(true),
        })
      ) {
        if (!(await drained(peer, streams, stop.signal))) {
          if (!stop.signal.aborted) {
            stop.abort();
            peer.close(CLOSE_TOO_SLOW, "too slow: log lines were not read for 30 s");
          }
          break;
        }
        send(logMessage(entry, withSource ? container.uri : undefined));
        if (stop.signal.aborted) break;
      }
    };
    void Promise.all(containers.map(one)).then(
      () => {
        if (!stop.signal.aborted) peer.close(1000, "end of logs");
      },
      (err: unknown) => {
        if (stop.signal.aborted) return;
        peer.sendText(JSON.stringify({ type: "error", error: failure(err) }));
        peer.close(1011, "logs failed");
      },
    ).finally(() => proofs.end());
    return {
      onClose: () => stop.abort(),
    };
  });
}

/** `GET container/(id)/exec/?command=`. */
export async function execStream(c: ApiContext, deps: ApiAppDeps, id: string): Promise<Response> {
  const websocket = c.env.connection.websocket;
  if (websocket === undefined || deps.dockerStreams === undefined) {
    return badRequest(c, "exec is a websocket: send Upgrade: websocket");
  }
  const text = new URL(c.req.url).searchParams.get("command") ?? "";
  const cmd = text.length > 4096 ? undefined : splitWords(text);
  if (cmd === undefined || cmd.length === 0) {
    return badRequest(c, "command is required: ?command=CMD (at most 4096 characters, quotes closed)");
  }
  const body = { AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: false, Cmd: cmd };
  // Writes: creating and starting an exec changes the container (the GET of the upgrade does not count).
  const denied = await decideCalls(c, deps, [
    { method: "POST", uri: `/containers/${id}/exec`, body },
    { method: "POST", uri: `/exec/${"0".repeat(64)}/start` },
  ]);
  if (denied !== undefined) return denied;
  const streams = deps.dockerStreams;
  const proofs = proofHeaders(c, deps);
  let session;
  try {
    session = await runExec(streams, id, {
      cmd,
      stdin: true,
      headers: (method, uri) => proofs.headers(uri.endsWith("/start"))(method, uri),
    });
  } catch (err) {
    proofs.end();
    return refused(c, 502, "ERR_DOCKER_RESPONSE", `the Docker daemon refused the exec: ${failure(err)}`);
  }
  const exec = session;
  return websocket.accept((peer: WebSocketPeer) => {
    const decoder = new TextDecoder();
    void (async () => {
      try {
        for await (const out of exec.output) {
          const sent = peer.sendText(JSON.stringify({
            type: "output",
            output: decoder.decode(out.data, { stream: true }),
            streamType: out.streamType,
          }));
          if (!sent) {
            exec.close();
            peer.close(CLOSE_TOO_SLOW, "too slow: output was not read fast enough");
            return;
          }
        }
        peer.sendText(JSON.stringify({ type: "exit", exit_code: await exec.exitCode() }));
        peer.close(1000, "exited");
      } catch (err) {
        peer.sendText(JSON.stringify({ type: "error", error: failure(err) }));
        peer.close(1011, "exec failed");
      } finally {
        proofs.end();
      }
    })();
    const encoder = new TextEncoder();
    return {
      onText: (input) => void exec.write(encoder.encode(input)).catch(() => undefined),
      // An empty binary message ends the command's stdin (`cat` then ends); other bytes go to it as they are.
      onBinary: (input) =>
        input.length === 0 ? exec.closeStdin() : void exec.write(input).catch(() => undefined),
      onClose: () => exec.close(),
    };
  });
}

/** A failure's text for the client (the daemon's message; never a stack). */
function failure(err: unknown): string {
  return isAgentError(err) ? err.message.slice(0, 300) : "internal error";
}
