/**
 * The console's session cookie as an HTTPS API credential: the page uses the same API and Stream API as every
 * other client. A change (any method but GET and HEAD) must carry the session's CSRF token; a websocket
 * upgrade must come from the listener's own origin (a cross-site page cannot send the SameSite=Strict cookie,
 * and this refuses it even if a browser did). Not offered to the gateway: the Engine API takes no cookies.
 */
import type { Authentication, Authenticator } from "../api/authenticate.ts";
import { ConsoleSessions, CSRF_HEADER, sessionCookieOf } from "./sessions.ts";

export function sameOrigin(request: Request): boolean {
  const origin = request.headers.get("origin");
  if (origin === null) return false;
  const host = request.headers.get("host");
  return host !== null && origin === `https://${host}`;
}

export function sessionAuthenticator(sessions: ConsoleSessions): Authenticator {
  return {
    name: "console",
    authenticate(request): Authentication {
      const id = sessionCookieOf(request);
      if (id === undefined) return { kind: "none" };
      const session = sessions.get(id);
      if (session === undefined) {
        return { kind: "failure", status: 401, reason: "console session ended or unknown" };
      }
      const method = request.method.toUpperCase();
      const upgrade = request.headers.get("upgrade") !== null;
      if (upgrade && !sameOrigin(request)) {
        return { kind: "failure", status: 401, reason: "console session: a websocket from another origin" };
      }
      if (
        method !== "GET" && method !== "HEAD" &&
        !ConsoleSessions.csrfMatches(session, request.headers.get(CSRF_HEADER))
      ) {
        return { kind: "failure", status: 401, reason: "console session: missing or wrong CSRF token" };
      }
      return { kind: "principal", principal: session.principal };
    },
  };
}
