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
  /** Connections in all. */
  maxConnections: 1024,
});
