/**
 * Headers across the gateway. Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection and are never
 * forwarded; the credentials the gateway judged (`Authorization`, `X-Macaroon`) stay with it, as dockerd
 * itself keeps `Authorization` from plugins; and a client's own `X-Agent-Decision` is dropped, so only the
 * gateway's proof for this very call reaches the plugin. `X-Registry-Auth` goes on: a push or pull needs it.
 */
import { DECISION_PROOF_HEADER } from "../decide/decision-proof.ts";

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

const NOT_FORWARDED = new Set([
  ...HOP_BY_HOP,
  "authorization",
  "x-macaroon",
  DECISION_PROOF_HEADER.toLowerCase(),
  "content-length",
]);

/** Names the client's Connection header lists are hop-by-hop too. */
function listedIn(connection: string | null): Set<string> {
  return new Set((connection ?? "").split(",").map((name) => name.trim().toLowerCase()).filter(Boolean));
}

/** The client's headers as they go to dockerd (Content-Length is set by the caller for the body it sends). */
export function forwardedRequestHeaders(headers: Headers): [string, string][] {
  const listed = listedIn(headers.get("connection"));
  const out: [string, string][] = [];
  headers.forEach((value, name) => {
    if (!NOT_FORWARDED.has(name) && !listed.has(name)) out.push([name, value]);
  });
  return out;
}

/** dockerd's response headers as they go to the client (framing is the listener's). */
export function forwardedResponseHeaders(pairs: readonly (readonly [string, string])[]): Headers {
  const listed = new Set<string>();
  for (const [name, value] of pairs) {
    if (name === "connection") { for (const n of listInOf(value)) listed.add(n); }
  }
  const out = new Headers();
  for (const [name, value] of pairs) {
    if (!HOP_BY_HOP.has(name) && !listed.has(name) && name !== "content-length") out.append(name, value);
  }
  return out;
}

function listInOf(value: string): string[] {
  return value.split(",").map((name) => name.trim().toLowerCase()).filter(Boolean);
}
