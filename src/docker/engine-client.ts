/**
 * A small client for the local Engine API (the agent's own calls: resolving names to ids, watching events).
 * Extra headers (the agent's own macaroon) are added to every call, so the agent passes its own gate
 * the same way any client does.
 */
import { AgentError } from "../errors.ts";
import type { Platform } from "../ports.ts";

export interface EngineClient {
  /** GET a JSON document; undefined on 404. `headers` are added to this call only. */
  getJson(path: string, headers?: Readonly<Record<string, string>>): Promise<unknown | undefined>;
  /**
   * Any call (the HTTPS API's own creates, starts, stops and removes): dockerd's status and its JSON answer
   * (undefined when it sent none or an unreadable one). Only an unreachable daemon throws.
   */
  send(method: string, path: string, options?: SendOptions): Promise<EngineAnswer>;
  /** Streams newline-delimited JSON (GET /events) until `signal` aborts or the daemon closes it. */
  stream(path: string, onItem: (item: unknown) => void, signal: AbortSignal): Promise<void>;
}

export interface SendOptions {
  /** Sent as JSON. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** This call's deadline (default: the client's). */
  readonly timeoutMs?: number;
}

export interface EngineAnswer {
  readonly status: number;
  readonly body: unknown;
}

export interface EngineClientOptions {
  readonly platform: Platform;
  readonly socketPath: string;
  readonly headers: () => Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

export function engineClient(options: EngineClientOptions): EngineClient {
  const timeoutMs = options.timeoutMs ?? 5_000;
  return {
    async getJson(path, headers) {
      let response: Response;
      try {
        response = await options.platform.unixFetch(options.socketPath, path, {
          headers: { ...options.headers(), ...headers },
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch {
        throw new AgentError(
          "ERR_DOCKER_UNREACHABLE",
          `cannot reach the Docker daemon at ${options.socketPath}`,
        );
      }
      if (response.status === 404) {
        await response.body?.cancel();
        return undefined;
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new AgentError(
          "ERR_DOCKER_RESPONSE",
          `the Docker daemon answered ${response.status} for a lookup`,
        );
      }
      try {
        return await response.json();
      } catch {
        throw new AgentError("ERR_DOCKER_RESPONSE", "the Docker daemon sent an unreadable answer");
      }
    },
    async send(method, path, sendOptions = {}) {
      let response: Response;
      const headers: Record<string, string> = { ...options.headers(), ...sendOptions.headers };
      if (sendOptions.body !== undefined) headers["content-type"] = "application/json";
      try {
        response = await options.platform.unixFetch(options.socketPath, path, {
          method,
          headers,
          ...(sendOptions.body === undefined ? {} : { body: JSON.stringify(sendOptions.body) }),
          signal: AbortSignal.timeout(sendOptions.timeoutMs ?? timeoutMs),
        });
      } catch {
        throw new AgentError(
          "ERR_DOCKER_UNREACHABLE",
          `cannot reach the Docker daemon at ${options.socketPath}`,
        );
      }
      let text: string;
      try {
        text = await response.text();
      } catch {
        throw new AgentError("ERR_DOCKER_UNREACHABLE", "the Docker daemon's answer was cut off");
      }
      let body: unknown;
      try {
        body = text === "" ? undefined : JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status: response.status, body };
    },
    async stream(path, onItem, signal) {
      const response = await options.platform.unixFetch(options.socketPath, path, {
        headers: { ...options.headers() },
        signal,
      });
      if (!response.ok || !response.body) {
        await response.body?.cancel();
        throw new AgentError(
          "ERR_DOCKER_RESPONSE",
          `the Docker daemon answered ${response.status} for ${path}`,
        );
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buffered += value;
        let newline: number;
        while ((newline = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line.length === 0) continue;
          try {
            onItem(JSON.parse(line));
          } catch {
            // An unreadable event only costs a cache refresh; ignore it.
          }
        }
      }
    },
  };
}

/** dockerd's error text (`{"message": "..."}`), short; undefined when the answer has none. */
export function dockerMessage(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const message = (body as Record<string, unknown>)["message"];
  return typeof message === "string" ? message.slice(0, 300) : undefined;
}
