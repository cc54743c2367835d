/**
 * The Stream API's events: `GET /api/audit/v1/(ns/)events/`, after authentication (a bad credential is 401
 * before any upgrade), decided as the Engine API's `GET /events` (system:events), as a websocket (Docker
 * Cloud's) or as newline-delimited JSON (`Accept: application/x-ndjson`, for curl and log shippers).
 *
 * - The first websocket message is `{"type": "auth", ...}` (Docker Cloud's SDKs drop it), with `seq`: the
 *   newest event's, where a later `?since=` can resume. Then one message per event (stream/event.ts).
 * - `?since=SEQ` replays every event after SEQ, in order, exactly once, then goes live. A SEQ older than the
 *   log keeps (or newer than its newest) gets `{"type": "error", "error": "... relist ...", ...}` and the
 *   websocket is closed with 4410 (the NDJSON answer is 410 before the stream): relist, then resume from
 *   the seq the auth message names. Never a silent gap.
 * - A path with a namespace sees that namespace's events; one without, every namespace the caller may
 *   address (an administrator's: all). Filters `type`, `object`, `parent`/`parents`, comma lists.
 * - A subscriber that does not keep up (its queue or its socket's buffer full) gets an error message naming
 *   the last seq it was sent and is closed with 4429: it never slows the agent or the others; it resumes
 *   with `?since=`.
 */
import {
  type DropReason,
  type EventLog,
  isQueryError,
  parseStreamQuery,
  type StreamEvent,
  wireOf,
} from "../stream/index.ts";
import { acceptsOf } from "../stream/index.ts";
import type { WebSocketPeer } from "../ports.ts";
import { ACTIONS_CALL } from "./action.ts";
import type { Scope } from "./namespace.ts";
import { type ApiAppDeps, type ApiContext, badRequest, decideCalls, json, refused } from "./steps.ts";

/** Events that may wait for one subscriber while it is being sent others. */
export const SUBSCRIBER_QUEUE_LIMIT = 1_000;
/** A quiet NDJSON stream sends a blank line this often, so proxies and clients see it alive. */
export const NDJSON_KEEPALIVE_MS = 15_000;
export const CLOSE_RELIST = 4410;
export const CLOSE_TOO_SLOW = 4429;
export const NDJSON = "application/x-ndjson";

export interface StreamDeps {
  readonly events: EventLog;
  /** Timers for the NDJSON keepalive (the runtime's; tests may pass fakes). */
  readonly setInterval: (fn: () => void, ms: number) => unknown;
  readonly clearInterval: (handle: unknown) => void;
}

function eventText(event: StreamEvent): string {
  return JSON.stringify(wireOf(event));
}

/** `GET /api/audit/v1/(ns/)events/`. */
export async function eventsResource(
  c: ApiContext,
  deps: ApiAppDeps,
  scope: Scope,
  namespaced: boolean,
): Promise<Response> {
  const stream = deps.stream;
  if (stream === undefined) return refused(c, 404, "ERR_API_NOT_FOUND", "not found", "no event stream");
  if (c.req.method !== "GET") {
    return refused(c, 405, "ERR_API_METHOD", "method not allowed", `method ${c.req.method} not allowed`, {
      allow: "GET",
    });
  }
  const websocket = c.env.connection.websocket;
  const ndjson = (c.req.header("accept") ?? "").toLowerCase().includes(NDJSON);
  if (websocket === undefined && !ndjson) {
    return badRequest(
      c,
      `events are a websocket (Upgrade: websocket) or newline-delimited JSON (Accept: ${NDJSON})`,
    );
  }
  const query = parseStreamQuery(new URL(c.req.url).searchParams);
  if (isQueryError(query)) return badRequest(c, query.error);
  const denied = await decideCalls(c, deps, [ACTIONS_CALL]);
  if (denied !== undefined) return denied;

  const mayAddress = namespaced ? (ns: string) => ns === scope.namespace : scope.mayAddress;
  const accepts = acceptsOf(query.filter, mayAddress);
  const principal = c.get("call").principal!;
  if (websocket !== undefined) {
    return websocket.accept((peer) => {
      peer.sendText(JSON.stringify({
        type: "auth",
        state: "Success",
        user: principal.user,
        namespace: namespaced ? scope.namespace : null,
        seq: stream.events.latest,
      }));
      const state: { closed: boolean; subscription?: { unsubscribe(): void } } = { closed: false };
      void (async () => {
        const from = query.since === undefined
          ? undefined
          : await pacedReplay(stream.events, peer, query.since, accepts, () => state.closed);
        if (from === "cut" || state.closed) return;
        state.subscription = subscribe(stream.events, peer, from, accepts);
      })();
      return {
        onClose: () => {
          state.closed = true;
          state.subscription?.unsubscribe();
        },
      };
    });
  }
  return ndjsonStream(c, stream, query.since, accepts);
}

/** Events replayed per batch before the websocket's queue is let drain (a long gap is not sent at once). */
export const REPLAY_BATCH = 500;
const REPLAY_PAUSE_ABOVE_BYTES = 256 * 1024;
/** A replay that cannot send for this long: the client is too slow. */
const REPLAY_MAX_WAIT_MS = 30_000;

/**
 * Sends a long gap after `since` in batches, waiting for the peer's queue to drain between them, until what
 * is left is one batch: the log's own subscription replays that and goes live, exactly once (it resumes
 * after the last seq sent here). Answers that seq, or "cut" when the client was closed as too slow. A seq
 * the log no longer keeps is left to the subscription, which answers it with the relist error.
 */
async function pacedReplay(
  events: EventLog,
  peer: WebSocketPeer,
  since: number,
  accepts: (event: StreamEvent) => boolean,
  closed: () => boolean,
): Promise<number | "cut"> {
  let cursor = since;
  for (;;) {
    if (cursor < events.oldest - 1 || cursor > events.latest || closed()) return cursor;
    const pending = events.after(cursor);
    if (pending.length <= REPLAY_BATCH) return cursor;
    for (const event of pending.slice(0, REPLAY_BATCH)) {
      if (accepts(event) && !peer.sendText(eventText(event))) return tooSlow(peer, cursor);
      cursor = event.seq;
    }
    for (let waited = 0; peer.bufferedBytes > REPLAY_PAUSE_ABOVE_BYTES; waited += 20) {
      if (closed()) return "cut";
      if (waited >= REPLAY_MAX_WAIT_MS) return tooSlow(peer, cursor);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

function tooSlow(peer: WebSocketPeer, last: number): "cut" {
  peer.sendText(dropMessage("slow", last));
  peer.close(CLOSE_TOO_SLOW, "too slow");
  return "cut";
}

/** What a dropped subscriber is told: why, and the seq to resume after. */
function dropMessage(reason: DropReason, last: number): string {
  return JSON.stringify({
    type: "error",
    error: reason === "slow"
      ? `too slow: events were not read fast enough; resume with ?since=${last}`
      : `internal error; resume with ?since=${last}`,
    seq: last,
  });
}

/**
 * Subscribes `send` (false: the client's buffer is full) to the log from `since`; a dropped subscriber's
 * `drop` is told why and the last seq it was sent.
 */
function follow(
  events: EventLog,
  since: number | undefined,
  accepts: (event: StreamEvent) => boolean,
  send: (text: string) => boolean,
  drop: (reason: DropReason, last: number) => void,
) {
  let last = since ?? events.latest;
  return events.subscribe({
    ...(since === undefined ? {} : { since }),
    accepts,
    queueLimit: SUBSCRIBER_QUEUE_LIMIT,
    deliver: (event) => {
      const sent = send(eventText(event));
      if (sent) last = event.seq;
      return sent;
    },
    overflow: (reason) => drop(reason, last),
  });
}

/** Subscribes a websocket; answers a relist or a drop with an error message and a close. */
function subscribe(
  events: EventLog,
  peer: WebSocketPeer,
  since: number | undefined,
  accepts: (event: StreamEvent) => boolean,
) {
  const subscription = follow(events, since, accepts, (text) => peer.sendText(text), (reason, last) => {
    // Best effort: the buffer may be full, which is why it is dropped.
    peer.sendText(dropMessage(reason, last));
    peer.close(CLOSE_TOO_SLOW, "too slow");
  });
  if (subscription.relist) {
    peer.sendText(JSON.stringify({
      type: "error",
      error: subscription.message,
      relist: true,
      oldest: subscription.oldestKept,
      latest: subscription.latest,
    }));
    peer.close(CLOSE_RELIST, "relist");
    return undefined;
  }
  return subscription;
}

/** The same stream as newline-delimited JSON: one event per line, a blank line when quiet. */
function ndjsonStream(
  c: ApiContext,
  stream: StreamDeps,
  since: number | undefined,
  accepts: (event: StreamEvent) => boolean,
): Response {
  const encoder = new TextEncoder();
  let cleanup = () => {};
  let relist: Response | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const push = (text: string) => {
        if ((controller.desiredSize ?? 0) <= 0) return false;
        controller.enqueue(encoder.encode(`${text}\n`));
        return true;
      };
      const subscription = follow(stream.events, since, accepts, push, (_reason, last) => {
        controller.enqueue(encoder.encode(`${dropMessage("slow", last)}\n`));
        cleanup();
        controller.close();
      });
      if (subscription.relist) {
        relist = json({ error: subscription.message, oldest: subscription.oldestKept }, 410);
        controller.close();
        return;
      }
      const timer = stream.setInterval(() => push(""), NDJSON_KEEPALIVE_MS);
      cleanup = () => {
        subscription.unsubscribe();
        stream.clearInterval(timer);
      };
    },
    cancel() {
      cleanup();
    },
  }, { highWaterMark: SUBSCRIBER_QUEUE_LIMIT });
  if (relist !== undefined) {
    const call = c.get("call");
    call.outcome = { ...call.outcome!, code: "ERR_API_RELIST" };
    return relist;
  }
  return new Response(body, {
    status: 200,
    headers: { "content-type": NDJSON, "cache-control": "no-store", "x-agent-stream": "1" },
  });
}
