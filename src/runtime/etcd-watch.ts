/**
 * One etcd watch: a bidi Watch stream on one member, kept honest by progress requests. A member that is gone
 * fails the stream; one that hangs (SIGSTOP, a dead link with the TCP connection still open) says nothing,
 * so no message at all within the idle timeout ends the watch with "timeout". Until the member confirmed
 * the watch (its "created" answer) a failure moves on to the next endpoint, each tried once; after that the
 * watch ends and the caller resumes from its last revision (ending is the caller's cue to re-check state).
 */
import type * as grpc from "@grpc/grpc-js";
import { EtcdError, type EtcdWatch, type WatchHandlers, type WatchOptions } from "../fleet/etcd.ts";
import { event, prefixRange, revision, type WireEvent } from "./etcd-codec.ts";
import { type Endpoint, type EndpointPool, method } from "./etcd-endpoints.ts";
import { combineEndpointFailures, isEndpointFailure, toEtcdError } from "./etcd-errors.ts";

const DEFAULT_PROGRESS_INTERVAL_MS = 1_000;
const DEFAULT_IDLE_TIMEOUT_MS = 3_000;

interface WireWatchResponse {
  readonly header?: { readonly revision?: string };
  readonly created?: boolean;
  readonly canceled?: boolean;
  readonly compact_revision?: string;
  readonly cancel_reason?: string;
  readonly events?: readonly WireEvent[];
}

type Stream = grpc.ClientDuplexStream<unknown, WireWatchResponse>;

export class GrpcWatch implements EtcdWatch {
  readonly #pool: EndpointPool;
  readonly #prefix: string;
  readonly #startRevision: number;
  readonly #handlers: WatchHandlers;
  readonly #progressIntervalMs: number;
  readonly #idleTimeoutMs: number;
  /** The endpoints not yet tried for this watch (before "created"). */
  readonly #untried: Endpoint[];
  readonly #failures: EtcdError[] = [];
  readonly #tried: string[] = [];
  #endpoint: Endpoint | undefined;
  #stream: Stream | undefined;
  #progressTimer: ReturnType<typeof setInterval> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #created = false;
  #ended = false;
  /** The store's revision when the member created the watch, and the last event's revision delivered. */
  #createdRevision = 0;
  #lastEventRevision = 0;
  #synced = false;

  constructor(
    pool: EndpointPool,
    prefix: string,
    startRevision: number,
    handlers: WatchHandlers,
    options: WatchOptions = {},
  ) {
    this.#pool = pool;
    this.#prefix = prefix;
    this.#startRevision = Math.max(0, Math.trunc(startRevision));
    this.#handlers = handlers;
    this.#progressIntervalMs = options.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.#untried = pool.order();
    this.#openNext();
  }

  /** Ends the watch; onEnd(undefined) is called once, synchronously (unless the watch had already ended). */
  close(): void {
    this.#end(undefined);
  }

  /** The endpoint the watch is on (for tests and logs). */
  get endpoint(): string | undefined {
    return this.#endpoint?.url;
  }

  #openNext(): void {
    const endpoint = this.#untried.shift();
    if (!endpoint) {
      this.#end(combineEndpointFailures(this.#failures, this.#tried));
      return;
    }
    this.#endpoint = endpoint;
    this.#tried.push(endpoint.url);
    const stream = method(endpoint.client("Watch"), "Watch")() as Stream;
    this.#stream = stream;
    const failed = (error: unknown) => {
      if (this.#stream === stream) this.#fail(error);
    };
    stream.on("data", (response: WireWatchResponse) => {
      if (this.#stream === stream) this.#receive(response);
    });
    stream.on("error", failed);
    stream.on("status", (status: grpc.StatusObject) => {
      // A stream that ends without an error status still ended: the member went away.
      failed(status.code === 0 ? { code: 14, details: "the watch stream ended" } : status);
    });
    stream.on("end", () => failed({ code: 14, details: "the watch stream ended" }));
    const { key, range_end } = prefixRange(this.#prefix);
    stream.write({
      create_request: { key, range_end, start_revision: String(this.#startRevision), progress_notify: false },
    });
    this.#armIdle();
    this.#progressTimer = setInterval(() => {
      if (this.#stream === stream) stream.write({ progress_request: {} });
    }, this.#progressIntervalMs);
  }

  #armIdle(): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      this.#fail(new EtcdError("timeout", `etcd sent nothing on the watch for ${this.#idleTimeoutMs} ms`));
    }, this.#idleTimeoutMs);
  }

  #teardown(): void {
    if (this.#progressTimer !== undefined) clearInterval(this.#progressTimer);
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#progressTimer = undefined;
    this.#idleTimer = undefined;
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.cancel();
  }

  #fail(error: unknown): void {
    if (this.#ended) return;
    const etcdError = toEtcdError(error);
    const endpointFailure = isEndpointFailure(error) || isEndpointFailure(etcdError);
    this.#teardown();
    if (endpointFailure && this.#endpoint) this.#pool.failed(this.#endpoint);
    if (!this.#created && endpointFailure) {
      this.#failures.push(etcdError);
      this.#openNext();
      return;
    }
    this.#end(etcdError);
  }

  #end(error: EtcdError | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#teardown();
    this.#handlers.onEnd(error);
  }

  #receive(response: WireWatchResponse): void {
    if (this.#ended) return;
    this.#armIdle();
    const headerRevision = revision(response.header?.revision);
    const compactRevision = revision(response.compact_revision);
    if (compactRevision > 0) {
      this.#end(
        new EtcdError(
          "compacted",
          `etcd compacted the watch's start revision away (the oldest kept is ${compactRevision}): ` +
            "list again, then watch from the new revision",
          compactRevision,
        ),
      );
      return;
    }
    if (response.canceled) {
      const reason = response.cancel_reason ?? "";
      this.#end(
        reason === ""
          ? new EtcdError("other", "etcd canceled the watch")
          : toEtcdError({ code: /compacted/.test(reason) ? 11 : 2, details: reason }),
      );
      return;
    }
    if (response.created && !this.#created) {
      this.#created = true;
      this.#createdRevision = headerRevision;
      // From now (0), or a start after the store's revision: nothing older to replay, the watch is synced.
      this.#synced = this.#startRevision === 0 || this.#startRevision > headerRevision;
      if (this.#endpoint) this.#pool.succeeded(this.#endpoint);
    }
    const events = response.events ?? [];
    if (events.length > 0) {
      const delivered = events.map(event);
      this.#lastEventRevision = delivered[delivered.length - 1]?.kv.modRevision ?? this.#lastEventRevision;
      if (this.#lastEventRevision >= this.#createdRevision) this.#synced = true;
      this.#call(() => this.#handlers.onEvents(delivered, headerRevision));
      return;
    }
    if (!response.created && this.#created) this.#progress(headerRevision);
  }

  /**
   * etcd 3.4.23 (Debian's) answers a progress request with the store's revision even while the watch is
   * still replaying older events (fixed in 3.4.25): until the replay is known done, report only what was
   * delivered, so a caller resuming from a progress revision never skips an event.
   */
  #progress(storeRevision: number): void {
    if (!this.#handlers.onProgress) return;
    const safe = this.#synced ? storeRevision : Math.max(this.#startRevision - 1, this.#lastEventRevision);
    const handler = this.#handlers.onProgress;
    this.#call(() => handler(safe));
  }

  /** A handler that throws ends the watch (it must not unwind into gRPC's stream). */
  #call(handler: () => void): void {
    try {
      handler();
    } catch (error) {
      const name = error instanceof Error ? error.name : typeof error;
      this.#end(new EtcdError("other", `a watch handler threw (${name})`));
    }
  }
}
