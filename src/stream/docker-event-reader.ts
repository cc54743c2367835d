/**
 * The Stream API's reader of dockerd's container events: `GET /events?since=...&filters={"type":["container"]}`
 * for as long as `agent serve` runs, reconnecting with backoff (reconnect.ts, as the macaroon gate's daemon
 * link does). It never slows dockerd down (dockerd skips a listener that takes over 100 ms per event): each
 * event is handed to `onEvent` synchronously (which only translates and appends, see docker-events.ts).
 *
 * Nothing is missed across a reconnection and nothing is handed over twice: a reconnection asks for events
 * since a second before the newest one read (dockerd stamps an event before it publishes it, so one stamped
 * earlier may arrive later), and skips those it already handed over (the same line). A restart resumes
 * after `after` (the `position()` the last run saved with its events, see event-file.ts). Both rely on
 * dockerd still having the events: it keeps its newest 256 only.
 *
 * The first failure after being connected is logged once, and so is the recovery: one line per transition.
 */
import { AgentError } from "../errors.ts";
import type { Clock, Platform } from "../ports.ts";
import { reconnectLoop } from "./reconnect.ts";

/** Opens `path` on dockerd: resolves once it answered 200, to its body's lines; aborting `signal` ends them. */
export type EventLineSource = (path: string, signal: AbortSignal) => Promise<AsyncIterable<string>>;

export const EVENT_FILTERS = encodeURIComponent(JSON.stringify({ type: ["container"] }));
/** How far before the newest event read a reconnection asks (default). */
export const OVERLAP_MS = 1_000;
/** Lines remembered to skip after a reconnection (the overlap's). */
const MAX_RECENT = 10_000;
const NANOS_PER_MS = 1_000_000n;

export interface DockerEventReaderOptions {
  readonly source: EventLineSource;
  readonly platform: Pick<Platform, "sleep" | "monotonicMs">;
  readonly clock: Clock;
  /** Each new dockerd event (a parsed line), once, in dockerd's order. What it throws is caught. */
  readonly onEvent: (event: unknown) => void;
  /** One line per transition (down, back up). */
  readonly log: (message: string) => void;
  /** Told each transition too: true once connected (again), false once the stream is lost. */
  readonly onStatus?: (up: boolean) => void;
  /** Resume after this dockerd time (timeNano, decimal digits): the last run's `position()`. */
  readonly after?: string;
  /** How far back a reconnection asks (default OVERLAP_MS). */
  readonly overlapMs?: number;
}

export interface DockerEventReader {
  /** Connected now. */
  readonly up: boolean;
  /**
   * The dockerd time (timeNano, decimal digits) up to which every event was handed over: the newest event's,
   * or where reading started. Save it with the events; pass it back as `after` at the next start.
   */
  position(): string;
  /** Stops reading (an open stream is aborted, a backoff wait cut short). */
  stop(): Promise<void>;
}

const TIME_NANO = /"timeNano"\s*:\s*([0-9]{1,20})\b/;
const TIME = /"time"\s*:\s*([0-9]{1,12})\b/;

/** The exact time of a raw event line, in ns (timeNano exceeds 2^53: read from the text, not the number). */
export function nanosOfLine(line: string): bigint | undefined {
  const nano = TIME_NANO.exec(line);
  if (nano !== null) return BigInt(nano[1]!);
  const time = TIME.exec(line);
  return time === null ? undefined : BigInt(time[1]!) * 1_000_000_000n;
}

/** dockerd's `since=` for a time in ns: `seconds.nanoseconds`. */
export function sinceParam(nanos: bigint): string {
  const n = nanos < 0n ? 0n : nanos;
  return `${n / 1_000_000_000n}.${(n % 1_000_000_000n).toString().padStart(9, "0")}`;
}

export function startDockerEventReader(options: DockerEventReaderOptions): DockerEventReader {
  const { platform, log } = options;
  const overlap = BigInt(Math.max(0, Math.floor(options.overlapMs ?? OVERLAP_MS))) * NANOS_PER_MS;
  const after = options.after !== undefined && /^[0-9]{1,20}$/.test(options.after)
    ? BigInt(options.after)
    : undefined;
  /** Events at or before this were handed over by the last run. */
  const floor = after ?? -1n;
  /** Where reading starts: after the last run, else a second before now. */
  const start = after ?? BigInt(options.clock().getTime() - 1000) * NANOS_PER_MS;
  let newest: bigint | undefined;
  /** Lines handed over lately (line -> its time), oldest first: what a reconnection may send again. */
  const recent = new Map<string, bigint>();
  let state: "starting" | "up" | "down" = "starting";
  let handlerFailed = false;
  const abort = new AbortController();

  const transition = (next: "up" | "down", message: string | undefined) => {
    if (state === next) return;
    const before = state;
    state = next;
    if (message !== undefined && (next === "down" || before === "down")) log(message);
    try {
      options.onStatus?.(next === "up");
    } catch {
      // A status listener's failure is its own.
    }
  };

  const remember = (line: string, nanos: bigint) => {
    recent.set(line, nanos);
    const horizon = (newest ?? nanos) - 2n * overlap;
    for (const [old, at] of recent) {
      if (recent.size <= MAX_RECENT && at >= horizon) break;
      recent.delete(old);
    }
  };

  const take = (raw: string) => {
    const line = raw.trim();
    if (line === "") return;
    const nanos = nanosOfLine(line);
    if (nanos !== undefined) {
      if (nanos <= floor || recent.has(line)) return;
      if (newest === undefined || nanos > newest) newest = nanos;
      remember(line, nanos);
    }
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      return; // Not an event: nothing to hand over.
    }
    try {
      options.onEvent(event);
    } catch {
      if (!handlerFailed) {
        log("docker event stream: an event could not be processed (further ones are not logged)");
      }
      handlerFailed = true;
    }
  };

  const loop = reconnectLoop({
    platform,
    signal: abort.signal,
    async connect(signal) {
      const since = newest === undefined ? start : newest - overlap;
      const lines = await options.source(
        `/events?since=${sinceParam(since < start ? start : since)}&filters=${EVENT_FILTERS}`,
        signal,
      );
      transition("up", "docker event stream for the Stream API is back; it resumed where it stopped");
      for await (const line of lines) {
        if (signal.aborted) return;
        take(line);
      }
    },
    onDown(why) {
      transition(
        "down",
        `docker event stream for the Stream API unavailable (${why}); retrying, it resumes where it stopped`,
      );
    },
  });

  return {
    get up() {
      return state === "up";
    },
    position: () => (newest ?? start).toString(),
    async stop() {
      abort.abort();
      await loop;
      state = state === "up" ? "down" : state;
    },
  };
}

/** The lines of a streamed body (split on "\n"; a last line without one is given when the body ends). */
export async function* linesOf(body: ReadableStream<Uint8Array>): AsyncIterable<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        yield buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
      }
    }
    buffered += decoder.decode();
    if (buffered !== "") yield buffered;
  } finally {
    // Left early (the reader stopped): let the body go.
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * The source over the Engine API's unix socket (Platform.unixFetch), with the agent's own headers (its
 * internal macaroon when the gate is on, see server/macaroon-docker.ts's internalHeadersOf).
 */
export function unixEventSource(
  unixFetch: Platform["unixFetch"],
  socketPath: string,
  headers: () => Readonly<Record<string, string>>,
): EventLineSource {
  return async (path, signal) => {
    let response: Response;
    try {
      response = await unixFetch(socketPath, path, { headers: { ...headers() }, signal });
    } catch {
      throw new AgentError("ERR_DOCKER_UNREACHABLE", `cannot reach the Docker daemon at ${socketPath}`);
    }
    if (!response.ok || response.body === null) {
      await response.body?.cancel();
      throw new AgentError(
        "ERR_DOCKER_RESPONSE",
        `the Docker daemon answered ${response.status} for /events`,
      );
    }
    return linesOf(response.body);
  };
}
