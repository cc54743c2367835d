/**
 * The API door's adapter to the decision core: a REST call becomes the facts of the Engine API call it stands
 * for (the node resource is `GET /info`, action system:info), with the principal as the user, its client
 * certificate as the leaf, the client's address, and the macaroon it sent. The gates then judge it exactly
 * as they judge that call on the plugin socket: one policy rule means the same thing on both doors.
 */
import { matchRoute } from "../authz/routes.ts";
import { normalizeUri } from "../authz/uri.ts";
import type { AuthzRequest } from "../authz/wire.ts";
import type { RequestFacts } from "../decide/facts.ts";
import type { HttpsConnection } from "../ports.ts";
import type { Principal } from "./authenticate.ts";

/** The Engine API call a REST call is decided as. */
export interface EngineCall {
  readonly method: string;
  /** Unversioned, e.g. `/info`: exactly the RequestURI dockerd will show the plugin. */
  readonly uri: string;
  /** The JSON body dockerd would get (container create's), judged by the policy's `when` conditions. */
  readonly body?: unknown;
}

/**
 * The macaroon a REST client sent: `X-Macaroon`, or else `Authorization: Bearer TOKEN` (the Authorization
 * header otherwise carries API keys).
 */
export function macaroonOf(request: Request): string | undefined {
  const header = request.headers.get("x-macaroon");
  if (header !== null) return header;
  const authorization = request.headers.get("authorization");
  const bearer = authorization === null ? null : /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization);
  return bearer?.[1];
}

export function apiFacts(
  principal: Principal,
  connection: HttpsConnection,
  call: EngineCall,
  macaroon: string | undefined,
): RequestFacts {
  const headers = new Map<string, string>();
  if (macaroon !== undefined) headers.set("x-macaroon", macaroon);
  const request: AuthzRequest = {
    user: principal.user,
    authMethod: principal.authMethod,
    method: call.method,
    uri: call.uri,
    bodyBase64: undefined,
    headers,
    peerCertificates: [],
    responseStatus: undefined,
  };
  const uri = normalizeUri(call.uri);
  const route = matchRoute(call.method, uri.path, () => uri.query);
  return {
    phase: "request",
    request,
    uri,
    route,
    effect: route?.effect,
    body: call.body,
    leafCertificate: principal.certificate,
    door: "api",
    clientAddress: connection.address,
  };
}
