/** Everything a gate may look at, computed once per plugin call from the parsed wire request. */
import type { NormalizedUri } from "../authz/uri.ts";
import type { AuthzRequest, Phase } from "../authz/wire.ts";
import type { RouteMatch } from "../authz/routes.ts";
import type { PeerCertificate } from "../ca/index.ts";

export interface RequestFacts {
  readonly phase: Phase;
  readonly request: AuthzRequest;
  readonly uri: NormalizedUri;
  /** undefined: the route table does not know this method + path (always denied). */
  readonly route: RouteMatch | undefined;
  /** Parsed JSON body, undefined when dockerd sent none. */
  readonly body: unknown;
  /** The client's TLS leaf certificate (parsed from RequestPeerCertificates), when it sent one. */
  readonly leafCertificate: PeerCertificate | undefined;
}
