/**
 * The RFC 6455 opening handshake, pure: whether a request is a valid websocket upgrade, the accept key a
 * server answers with, a client's fresh key, and a client's check of the server's 101.
 */
import { sha1 } from "@noble/hashes/legacy.js";
import type { RandomBytes } from "../ports.ts";

/** RFC 6455 section 1.3. */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** The only version there is (RFC 6455 section 4.1). */
export const WEBSOCKET_VERSION = "13";

/** `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)). */
export function acceptKey(key: string): string {
  return base64(sha1(new TextEncoder().encode(key + WEBSOCKET_GUID)));
}

/** A valid `Sec-WebSocket-Key`: the base64 of 16 bytes (24 characters ending in "=="). */
export function isWebSocketKey(key: string): boolean {
  return /^[A-Za-z0-9+/]{22}==$/.test(key);
}

/** A fresh client key: 16 random bytes, base64. */
export function newWebSocketKey(random: RandomBytes): string {
  return base64(random(16));
}

/** Whether a comma-separated header value (Connection, Upgrade) lists `token`, case-insensitively. */
export function hasToken(value: string | null, token: string): boolean {
  if (value === null) return false;
  const wanted = token.toLowerCase();
  return value.split(",").some((part) => part.trim().toLowerCase() === wanted);
}

export type UpgradeCheck =
  | { readonly ok: true; readonly key: string }
  | {
    readonly ok: false;
    readonly status: 400;
    readonly message: string;
    /** Headers for the refusal (the version we speak, when the client asked for another). */
    readonly headers: Readonly<Record<string, string>>;
  };

/**
 * Whether a request that asks to upgrade (it has `Connection: upgrade`) is a websocket handshake we can
 * accept: GET, `Upgrade: websocket`, version 13, a 16-byte key, no body. Anything else is refused with 400.
 */
export function checkUpgradeRequest(method: string, headers: Headers): UpgradeCheck {
  const refuse = (message: string, extra: Record<string, string> = {}): UpgradeCheck => ({
    ok: false,
    status: 400,
    message,
    headers: extra,
  });
  if (!hasToken(headers.get("upgrade"), "websocket")) return refuse("only websocket upgrades are supported");
  if (method !== "GET") return refuse("a websocket upgrade is a GET request");
  if (!hasToken(headers.get("connection"), "upgrade")) {
    return refuse("a websocket upgrade needs Connection: upgrade");
  }
  if (headers.get("sec-websocket-version") !== WEBSOCKET_VERSION) {
    return refuse(`only websocket version ${WEBSOCKET_VERSION} is supported`, {
      "sec-websocket-version": WEBSOCKET_VERSION,
    });
  }
  const key = headers.get("sec-websocket-key");
  if (key === null || !isWebSocketKey(key)) {
    return refuse("Sec-WebSocket-Key must be the base64 of 16 bytes");
  }
  if (headers.has("transfer-encoding") || (headers.get("content-length") ?? "0") !== "0") {
    return refuse("a websocket upgrade has no body");
  }
  return { ok: true, key };
}

/** What is wrong with a server's 101 answer to our `key`, in words; undefined when it accepts us. */
export function upgradeResponseProblem(headers: Headers, key: string): string | undefined {
  if (!hasToken(headers.get("upgrade"), "websocket")) return "the answer lacks Upgrade: websocket";
  if (!hasToken(headers.get("connection"), "upgrade")) return "the answer lacks Connection: upgrade";
  if (headers.get("sec-websocket-accept") !== acceptKey(key)) return "wrong Sec-WebSocket-Accept";
  if (headers.has("sec-websocket-extensions")) return "the server chose an extension we did not offer";
  if (headers.has("sec-websocket-protocol")) return "the server chose a subprotocol we did not offer";
  return undefined;
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
