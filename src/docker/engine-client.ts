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
  /** Streams newline-delimited JSON (GET /events) until `signal` aborts or the daemon closes it. */
  stream(path: string, onItem: (item: unknown) => void, signal: AbortSignal): Promise<void>;
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
