/**
 * The effect of one request: the route's declared effect, except that a request asking to switch protocols
 * is never a read. dockerd hijacks the connection only in the handlers of routes that write (POST attach with
 * `Upgrade: tcp`, exec start, the BuildKit session and gRPC routes, and the websocket attach, a GET); a read
 * handler ignores the headers. Counting such a request as a write costs no real client anything (the docker
 * CLI upgrades only on routes that write) and keeps a read from ever becoming a stream into a container,
 * should a future dockerd upgrade on a route the table calls a read.
 */
import type { RouteEffect } from "./routes-types.ts";

/** True when the request asks for a protocol switch: any `Upgrade` header, or `Connection` naming upgrade. */
export function asksForUpgrade(headers: ReadonlyMap<string, string>): boolean {
  if (headers.has("upgrade")) return true;
  const connection = headers.get("connection");
  return connection !== undefined && connection.toLowerCase().includes("upgrade");
}

/** The route's effect, or "write" for a read route requested with an upgrade. */
export function requestEffect(routeEffect: RouteEffect, headers: ReadonlyMap<string, string>): RouteEffect {
  return routeEffect === "read" && asksForUpgrade(headers) ? "write" : routeEffect;
}
