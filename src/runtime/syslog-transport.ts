/**
 * Platform.connectSyslog: one TCP or TLS connection to a syslog collector (RFC 6587 framing is the caller's),
 * over node:net/node:tls, so Bun and Deno alike. The caller's send() only queues: the plugin is on the path
 * of every Docker API call and must never wait for, or fail because of, a collector. While the collector is
 * down frames queue (bounded; the oldest dropped and counted) and the connection is retried with backoff.
 *
 * Plain syslog over TCP has no acknowledgement: frames handed to a connection the collector drops before
 * reading them are lost without anyone knowing (RELP would be needed for more). Queued frames are not.
 */
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { SyslogConnection, SyslogConnectionOptions, SyslogTarget } from "../ports.ts";

const CONNECT_TIMEOUT_MS = 10_000;
const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;
const ERROR_INTERVAL_MS = 60_000;
/** Bytes handed to the socket and not yet taken by the kernel, before we wait for it (a slow collector). */
const MAX_IN_SOCKET_BYTES = 256 * 1024;
/** Frames are joined into writes of about this size. */
const WRITE_CHUNK_BYTES = 64 * 1024;
/** After close()'s flush, how long the collector has to close its end before the socket is destroyed. */
const END_GRACE_MS = 2_000;
const KEEPALIVE_MS = 60_000;
/** A connection up this long resets the backoff; one the collector drops at once does not (no busy loop). */
const STABLE_MS = 5_000;

export function connectSyslog(target: SyslogTarget, options: SyslogConnectionOptions): SyslogConnection {
  return new SyslogClient(target, options);
}

export function syslogUrl(target: SyslogTarget): string {
  const host = isIP(target.host) === 6 ? `[${target.host}]` : target.host;
  return `${target.transport}://${host}:${target.port}`;
}

class SyslogClient implements SyslogConnection {
  readonly #target: SyslogTarget;
  readonly #options: SyslogConnectionOptions;
  readonly #url: string;
  #queue: Uint8Array[] = [];
  #head = 0;
  #socket: Socket | undefined;
  /** Bumped per connection attempt: callbacks of an older socket change nothing. */
  #generation = 0;
  #connected = false;
  #closing = false;
  #closed = false;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #backoffMs = MIN_BACKOFF_MS;
  #connectedAtMs = 0;
  #inSocket = 0;
  #dropped = 0;
  /** A problem was reported since the collector was last reachable. */
  #failing = false;
  #lastReportMs = -Infinity;
  /** Recoveries have a clock of their own: a collector that accepts and then drops us must not flood the log. */
  #lastRecoveryMs = -Infinity;

  constructor(target: SyslogTarget, options: SyslogConnectionOptions) {
    this.#target = target;
    this.#options = options;
    this.#url = syslogUrl(target);
    this.#connect();
  }

  send(frame: Uint8Array): void {
    try {
      if (this.#closed) return;
      if (this.#length() >= this.#options.maxQueued) {
        this.#head++;
        this.#dropped++;
      }
      this.#queue.push(frame);
      if (this.#connected) this.#pump();
    } catch {
      // Never into the caller: a frame lost here is still better than a failed Docker call.
    }
  }

  async close(timeoutMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    try {
      // Down and waiting out a long backoff: one more try now, the flush may still make it.
      if (this.#socket === undefined) {
        clearTimeout(this.#retry);
        this.#connect();
      }
      const deadline = performance.now() + timeoutMs;
      while (!(this.#connected && this.#length() === 0 && this.#inSocket === 0)) {
        const left = deadline - performance.now();
        if (left <= 0) break;
        await new Promise((resolve) => setTimeout(resolve, Math.min(left, 20)));
      }
      this.#closed = true;
      clearTimeout(this.#retry);
      const unsent = this.#length() + this.#dropped;
      this.#queue = [];
      this.#head = 0;
      if (unsent > 0) {
        this.#report(
          `${unsent} audit messages were not delivered to the syslog collector ${this.#url} (unreachable at exit)`,
          true,
        );
      }
      await this.#endSocket();
    } catch {
      // close() never rejects: the caller is shutting down.
    }
  }

  #length(): number {
    return this.#queue.length - this.#head;
  }

  #connect(): void {
    if (this.#closed) return;
    const generation = ++this.#generation;
    const target = this.#target;
    let reason = "connection closed";
    let socket: Socket;
    try {
      socket = target.transport === "tls"
        ? tlsConnect({
          host: target.host,
          port: target.port,
          // SNI takes host names only; an address is verified against the certificate's IP names.
          ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
          ...(target.caPem === undefined ? {} : { ca: target.caPem }),
          ...(target.certificatePem === undefined ? {} : { cert: target.certificatePem }),
          ...(target.privateKeyPem === undefined ? {} : { key: target.privateKeyPem }),
        })
        : netConnect({ host: target.host, port: target.port });
    } catch (err) {
      this.#down(generation, describe(err));
      return;
    }
    this.#socket = socket;
    const timer = setTimeout(() => {
      reason = `no connection within ${CONNECT_TIMEOUT_MS / 1000} s`;
      socket.destroy();
    }, CONNECT_TIMEOUT_MS);
    socket.once(target.transport === "tls" ? "secureConnect" : "connect", () => {
      clearTimeout(timer);
      if (generation !== this.#generation) return;
      this.#connected = true;
      this.#connectedAtMs = performance.now();
      try {
        socket.setKeepAlive(true, KEEPALIVE_MS);
      } catch {
        // Keepalive only finds a dead collector sooner.
      }
      this.#up();
    });
    // A collector sends nothing; reading is what lets us see it close its end.
    socket.on("data", () => {});
    socket.on("error", (err: unknown) => {
      reason = describe(err);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      this.#down(generation, reason);
    });
  }

  #up(): void {
    const now = performance.now();
    if (this.#failing && now - this.#lastRecoveryMs >= ERROR_INTERVAL_MS) {
      this.#failing = false;
      this.#lastRecoveryMs = now;
      this.#report(`syslog collector ${this.#url} is reachable again`, true);
    }
    this.#reportDrops(true);
    this.#pump();
  }

  #down(generation: number, reason: string): void {
    if (generation !== this.#generation) return;
    const wasConnected = this.#connected;
    this.#connected = false;
    this.#socket = undefined;
    this.#inSocket = 0;
    if (this.#closed) return;
    this.#failing = true;
    if (wasConnected && performance.now() - this.#connectedAtMs >= STABLE_MS) {
      this.#backoffMs = MIN_BACKOFF_MS;
    }
    this.#report(
      `syslog collector ${this.#url} ${wasConnected ? "lost" : "unreachable"}: ${reason}; ` +
        `retrying, audit messages are queued (at most ${this.#options.maxQueued})`,
    );
    // Jitter spreads a fleet's reconnects after the collector restarts.
    const delay = this.#closing ? MIN_BACKOFF_MS : this.#backoffMs * (0.8 + Math.random() * 0.4);
    this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
    this.#retry = setTimeout(() => this.#connect(), delay);
  }

  /** Hands queued frames to the socket in chunks, until the socket holds enough (a slow collector). */
  #pump(): void {
    const socket = this.#socket;
    if (socket === undefined || !this.#connected) return;
    const generation = this.#generation;
    while (this.#length() > 0 && this.#inSocket < MAX_IN_SOCKET_BYTES) {
      const chunk = this.#takeChunk();
      this.#inSocket += chunk.length;
      socket.write(chunk, (err) => {
        if (generation !== this.#generation) return;
        this.#inSocket -= chunk.length;
        if (err === undefined || err === null) this.#pump();
      });
    }
    // Caught up after an overload: say how many were lost while it lasted.
    if (this.#dropped > 0 && this.#length() < this.#options.maxQueued / 2) this.#reportDrops(false);
  }

  #takeChunk(): Uint8Array {
    const frames: Uint8Array[] = [];
    let bytes = 0;
    while (this.#length() > 0 && (frames.length === 0 || bytes < WRITE_CHUNK_BYTES)) {
      const frame = this.#queue[this.#head]!;
      this.#head++;
      frames.push(frame);
      bytes += frame.length;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (frames.length === 1) return frames[0]!;
    const out = new Uint8Array(bytes);
    let at = 0;
    for (const frame of frames) {
      out.set(frame, at);
      at += frame.length;
    }
    return out;
  }

  #reportDrops(always: boolean): void {
    const count = this.#dropped;
    if (count === 0) return;
    const said = this.#report(
      `${count} audit messages were dropped for the syslog collector ${this.#url} (queue full)`,
      always,
    );
    if (!said) return;
    this.#dropped = 0;
    const notice = this.#options.droppedNotice?.(count);
    if (notice === undefined) return;
    // First in line: the collector learns of the gap before the events after it.
    if (this.#head > 0) this.#queue[--this.#head] = notice;
    else this.#queue.unshift(notice);
  }

  /** Calls onError unless it was called less than a minute ago (`always`: recoveries); says whether it did. */
  #report(message: string, always = false): boolean {
    const now = performance.now();
    if (!always && now - this.#lastReportMs < ERROR_INTERVAL_MS) return false;
    this.#lastReportMs = now;
    try {
      this.#options.onError(message);
    } catch {
      // The caller's logger failing is not ours to handle.
    }
    return true;
  }

  async #endSocket(): Promise<void> {
    const socket = this.#socket;
    if (socket === undefined) return;
    this.#generation++; // its close is no longer a failure
    this.#socket = undefined;
    this.#connected = false;
    if (socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, END_GRACE_MS);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }
}

/** A socket error's message (an address and an errno, or a TLS verification failure): never frame contents. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return "connection failed";
  const text = err.message.replace(/[^\x20-\x7e]/g, " ").slice(0, 200);
  return text.length > 0 ? text : "connection failed";
}
