/**
 * Following a daemon stream for as long as the agent runs: connect, and when the connection fails or ends,
 * wait (250 ms doubling to 5 s) and connect again, until `signal` aborts. A connection that lasted over
 * 10 s counts as a recovery: the failure count starts again (the next failure is the first again, so a
 * caller that reports only the first of a row reports it). Used by the macaroon gate's daemon link
 * (server/macaroon-docker.ts) and the Stream API's event reader (docker-event-reader.ts).
 */
import { isAgentError } from "../errors.ts";
import type { Platform } from "../ports.ts";

export const MAX_BACKOFF_MS = 5_000;
/** A stream that lasted this long counts as a recovery: the next failure is reported again. */
export const HEALTHY_MS = 10_000;

/** The wait after `failures` failures in a row (1 = the first). */
export function backoffMs(failures: number): number {
  return Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(failures, 5));
}

export interface ReconnectOptions {
  readonly platform: Pick<Platform, "sleep" | "monotonicMs">;
  readonly signal: AbortSignal;
  /** One connection: resolves when the daemon ends it, rejects when it cannot be made or breaks. */
  readonly connect: (signal: AbortSignal) => Promise<void>;
  /**
   * After each connection that failed or ended (never after `signal` aborted): why (an AgentError's message,
   * else "cannot reach the Docker daemon"; "the daemon closed it" when it just ended) and how many in a row.
   */
  readonly onDown: (why: string, failures: number) => void;
}

/** Runs connections one after the other until `signal` aborts; resolves then (a backoff wait is cut short). */
export async function reconnectLoop(options: ReconnectOptions): Promise<void> {
  const { platform, signal } = options;
  let failures = 0;
  while (!signal.aborted) {
    const started = platform.monotonicMs();
    let why = "the daemon closed it";
    try {
      await options.connect(signal);
    } catch (err) {
      why = isAgentError(err) ? err.message : "cannot reach the Docker daemon";
    }
    // A stopped loop leaves the state alone: a newer loop may own it already.
    if (signal.aborted) break;
    if (platform.monotonicMs() - started > HEALTHY_MS) failures = 0;
    failures++;
    options.onDown(why, failures);
    // Stopping must not wait out a backoff, nor leave its timer keeping the process alive.
    await platform.sleep(backoffMs(failures), signal);
  }
}
