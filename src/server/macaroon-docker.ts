/**
 * The macaroon gate's link to the local daemon while `agent serve` runs: a cached resolver for names, short
 * ids and exec ids, kept correct by the daemon's event stream. The stream runs only while the macaroon gate
 * is on, reconnects with backoff, and asks for events since just before it connected, so nothing that
 * happened while it was down is missed. While it is down the cache is not trusted: every lookup asks the
 * daemon. The agent's own calls carry its internal token (see decide/internal-token.ts), which the policy
 * recognises for exactly these lookups and the event stream (builtin:agent-lookups): no policy rule needed.
 */
import { cachedResolver } from "../docker/cached-resolver.ts";
import { engineClient } from "../docker/engine-client.ts";
import type { DockerResolver } from "../docker/resolver.ts";
import type { Gate } from "../decide/gate.ts";
import { isMacaroonGate } from "../decide/macaroon-gate.ts";
import type { Clock, Platform } from "../ports.ts";
import { reconnectLoop } from "../stream/reconnect.ts";

export interface MacaroonDockerOptions {
  readonly platform: Platform;
  readonly socketPath: string;
  readonly clock: Clock;
  /** The gates in force (the X-Macaroon for the agent's own calls comes from the macaroon gate). */
  readonly gates: () => readonly Gate[];
  readonly log: (message: string) => void;
  /** Deadline for one lookup (default 4 s, below the gate's own deadline). */
  readonly timeoutMs?: number;
}

export interface MacaroonDocker {
  readonly resolver: DockerResolver;
  /** Runs the event stream while the macaroon gate is on; call after every state (re)load. */
  follow(gates: readonly Gate[]): void;
  stop(): Promise<void>;
}

const EVENT_FILTERS = encodeURIComponent(JSON.stringify({ type: ["container", "image"] }));

/** The X-Macaroon the agent sends on its own calls, from the macaroon gate in force (none when it is off). */
export function internalHeadersOf(gates: readonly Gate[]): Readonly<Record<string, string>> {
  const gate = gates.find(isMacaroonGate);
  return gate ? gate.internalHeaders() : {};
}

export function macaroonDocker(options: MacaroonDockerOptions): MacaroonDocker {
  const { platform, clock, log } = options;
  const client = engineClient({
    platform,
    socketPath: options.socketPath,
    headers: () => internalHeadersOf(options.gates()),
    timeoutMs: options.timeoutMs ?? 4_000,
  });
  const cache = cachedResolver(client);
  let live = false;
  let abort: AbortController | undefined;
  let loop: Promise<void> | undefined;

  const fresh = () => {
    if (!live) cache.clear();
    return cache;
  };
  const resolver: DockerResolver = {
    resolveContainer: (ref) => fresh().resolveContainer(ref),
    resolveImage: (ref) => fresh().resolveImage(ref),
    containerOfExec: (id) => fresh().containerOfExec(id),
    cached: (kind, ref) => fresh().cached(kind, ref),
  };

  function follow(signal: AbortSignal): Promise<void> {
    return reconnectLoop({
      platform,
      signal,
      async connect(signal) {
        // Events since a second before connecting: what happens while connecting is replayed, not lost.
        const since = Math.floor(clock().getTime() / 1000) - 1;
        live = true;
        cache.clear();
        await client.stream(
          `/events?since=${since}&filters=${EVENT_FILTERS}`,
          (e) => cache.onEvent(e),
          signal,
        );
      },
      onDown(why, failures) {
        live = false;
        cache.clear();
        if (failures === 1) {
          log(
            `docker event stream unavailable (${why}); name lookups go to the daemon uncached until it is back`,
          );
        }
      },
    });
  }

  return {
    resolver,
    follow(gates) {
      const on = gates.some(isMacaroonGate);
      if (on && loop === undefined) {
        abort = new AbortController();
        loop = follow(abort.signal);
      } else if (!on && loop !== undefined) {
        abort?.abort();
        loop = undefined;
        live = false;
        cache.clear();
      }
    },
    async stop() {
      abort?.abort();
      await loop;
      loop = undefined;
    },
  };
}
