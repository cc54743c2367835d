/**
 * The client side of the agent's Stream API (Docker Cloud's): websockets at the REST API's address with
 * wss:// for https://, the same configuration (config.ts), the Authorization header sent in the handshake
 * only (never in the URL). Messages are JSON objects, one per text message; what they mean is the caller's.
 */
import { AgentError } from "../errors.ts";
import type { Platform, WebSocketPeer } from "../ports.ts";
import type { ApiClientConfig } from "./config.ts";

/** How a websocket ended (WebSocketSession.onClose). */
export interface StreamClose {
  readonly code: number;
  readonly reason: string;
}

export interface OpenStream {
  readonly peer: WebSocketPeer;
  /** Resolves once, whichever side closed it; 1006 when the connection ended without a close frame. */
  readonly closed: Promise<StreamClose>;
}

/**
 * Called with each text message: the JSON object it holds (undefined when it holds none). Binary messages
 * from the server are ignored (the Stream API sends none).
 */
export type MessageHandler = (message: Record<string, unknown> | undefined, text: string) => void;

export type StreamPlatform = Pick<Platform, "websocketConnect">;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `wss://host:port` for `https://host:port`. */
export function streamOrigin(config: ApiClientConfig): string {
  return `wss://${config.baseUrl.replace(/^https:\/\//, "")}`;
}

/** `/api/SUBSYSTEM/v1/[NS/]RESOURCE/`, as the REST client addresses lists. */
export function listPath(config: ApiClientConfig, subsystem: string, resource: string): string {
  return `/api/${subsystem}/v1/${config.namespace === undefined ? "" : `${config.namespace}/`}${resource}/`;
}

/**
 * `.../RESOURCE/ID/VERB/` for an id (a uuid) or a resource_uri of that resource (which names its own
 * namespace); another resource's URI is a usage error.
 */
export function objectStreamPath(
  config: ApiClientConfig,
  subsystem: string,
  resource: string,
  id: string,
  verb: string,
): string {
  if (id.startsWith("/api/")) {
    const pattern = new RegExp(`^/api/${subsystem}/v1/(?:[^/]+/)?${resource}/[^/]+/$`);
    if (!pattern.test(id)) {
      throw new AgentError("ERR_USAGE", `${JSON.stringify(id)} is not the resource_uri of a ${resource}`);
    }
    return `${id}${verb}/`;
  }
  return `${listPath(config, subsystem, resource)}${encodeURIComponent(id)}/${verb}/`;
}

/** Parses one message; undefined when it is not a JSON object. */
export function messageOf(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Opens a websocket to `path` (with `query`); resolves once it is open, with the peer and its end. A refusal
 * before the upgrade rejects with the platform's AgentError, which names the status and the server's error.
 */
export async function openStream(
  platform: StreamPlatform,
  config: ApiClientConfig,
  path: string,
  query: URLSearchParams,
  onMessage: MessageHandler,
): Promise<OpenStream> {
  const search = query.toString();
  const url = `${streamOrigin(config)}${path}${search === "" ? "" : `?${search}`}`;
  let closed!: (end: StreamClose) => void;
  const ended = new Promise<StreamClose>((resolve) => (closed = resolve));
  let peer: WebSocketPeer;
  try {
    peer = await platform.websocketConnect(
      url,
      {
        headers: { authorization: config.authorization },
        ...(config.caPem === undefined ? {} : { caPem: config.caPem }),
      },
      () => ({
        onText: (text) => onMessage(messageOf(text), text),
        onClose: (code, reason) => closed({ code, reason }),
      }),
    );
  } catch (err) {
    if (err instanceof AgentError) {
      if (err.code === "ERR_API_UNREACHABLE" && config.caPem === undefined) {
        throw new AgentError(err.code, `${err.message} (set AGENT_CACERT to the agent's cluster.crt)`);
      }
      throw err;
    }
    const why = err instanceof Error ? err.message : "no answer";
    throw new AgentError("ERR_API_UNREACHABLE", `cannot reach the agent at ${streamOrigin(config)}: ${why}`);
  }
  return { peer, closed: ended };
}

/** Whether a failure to connect may pass: the agent unreachable, restarting (5xx) or busy (429). */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof AgentError)) return true;
  if (err.code === "ERR_API_UNREACHABLE") return true;
  return err.code === "ERR_API_RESPONSE" && / answered (?:429|5[0-9][0-9]):/.test(err.message);
}

/** Text from the server made safe for a terminal: anything unprintable becomes `?`. */
export function printable(value: unknown, max = 500): string {
  return String(value ?? "").slice(0, max).replace(/[^\x20-\x7e]/g, "?");
}
