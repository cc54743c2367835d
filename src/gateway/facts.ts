/**
 * The gateway door's adapter to the decision core: the client's own Engine API request becomes the plugin
 * request dockerd would have sent for it (the principal as the user, the JSON body, the headers without
 * Authorization, which dockerd keeps from plugins too), and then the same facts the plugin judges, plus what
 * only this door knows: the client's address (the `ip` caveat) and the certificate it presented.
 */
import type { AuthzRequest } from "../authz/wire.ts";
import { type Decision, factsOf } from "../decide/decide.ts";
import type { RequestFacts } from "../decide/facts.ts";
import type { Principal } from "../api/authenticate.ts";

export interface GatewayRequest {
  readonly method: string;
  /** The request target as the client sent it (path and query, undecoded): dockerd's RequestURI. */
  readonly target: string;
  readonly headers: Headers;
  /** The JSON body the gateway read whole, when there is one. */
  readonly jsonBody?: Uint8Array;
}

function base64Of(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function gatewayFacts(
  principal: Principal,
  clientAddress: string,
  request: GatewayRequest,
): RequestFacts | Decision {
  const headers = new Map<string, string>();
  request.headers.forEach((value, name) => {
    if (name !== "authorization") headers.set(name, value);
  });
  const authz: AuthzRequest = {
    user: principal.user,
    authMethod: principal.authMethod,
    method: request.method,
    uri: request.target,
    bodyBase64: request.jsonBody === undefined || request.jsonBody.length === 0
      ? undefined
      : base64Of(request.jsonBody),
    headers,
    peerCertificates: [],
    responseStatus: undefined,
  };
  const facts = factsOf(authz, "request");
  if ("decidedBy" in facts) return facts;
  return { ...facts, leafCertificate: principal.certificate, door: "gateway", clientAddress };
}
