/**
 * The HTTPS listener's limits (`agent serve --listen`). Each is a constant here, documented in the README
 * ("The listener"); the runtime enforces them (src/runtime/https-listener.ts) and the app checks the body
 * size again from Content-Length. A client over a limit gets 431 or 413, or its connection is closed.
 */
import type { HttpsLimits } from "../ports.ts";

export const API_LIMITS: HttpsLimits = Object.freeze({
  /** Request line and headers: room for a 16 KiB macaroon (its own limit) and an Authorization header. */
  maxHeaderBytes: 32 * 1024,
  /** REST bodies are small JSON documents (a service definition is a few kilobytes). */
  maxBodyBytes: 1024 * 1024,
  /** A TLS handshake that has not finished in this time is cut off. */
  handshakeTimeoutMs: 10_000,
  /** Headers must arrive this soon after the handshake or the previous response (also the keep-alive idle time). */
  headersTimeoutMs: 10_000,
  /** Body, handling and response together: above the 5 s deadline of the API's own dockerd calls. */
  requestTimeoutMs: 30_000,
  /** Connections one client address may hold open (handshaking ones count). */
  maxConnectionsPerAddress: 32,
  /** Connections in all (the systemd unit gives the agent 65,536 file descriptors). */
  maxConnections: 4096,
  /**
   * A websocket message from a client: the Stream API's clients send little (the server does the talking),
   * so 64 KiB is generous; the listener holds at most this much of a message per websocket.
   */
  maxWebSocketMessageBytes: 64 * 1024,
  /**
   * What one websocket may have queued to send: 1 MiB is many events; a client that reads slower than that
   * is told off by sendText returning false (the app closes it), not buffered without end.
   */
  maxWebSocketBufferedBytes: 1024 * 1024,
  /**
   * Websockets one address may hold: half its 32 connections, so a client with open streams still has room
   * for REST calls.
   */
  maxWebSocketsPerAddress: 16,
  /** Websockets in all: three quarters of the 4096 connections, leaving a quarter for REST clients. */
  maxWebSockets: 3072,
  /**
   * The server pings each websocket every 20 s: under the common 30-60 s idle cut-off of proxies and NAT
   * tables, and a dead peer is noticed within a minute (two unanswered pings).
   */
  webSocketPingIntervalMs: 20_000,
});
