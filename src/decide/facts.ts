/** Everything a gate may look at, computed once per plugin call from the parsed wire request. */
import type { NormalizedUri } from "../authz/uri.ts";
import type { AuthzRequest, Phase } from "../authz/wire.ts";
import type { RouteEffect, RouteMatch } from "../authz/routes.ts";
import type { PeerCertificate } from "../ca/index.ts";

export interface RequestFacts {
  readonly phase: Phase;
  readonly request: AuthzRequest;
  readonly uri: NormalizedUri;
  /** undefined: the route table does not know this method + path (always denied). */
  readonly route: RouteMatch | undefined;
  /**
   * What the request does: the route's effect, or "write" for a read route requested with a protocol
   * upgrade (authz/effect.ts). Every read-only judgement (op caveat, seed rules, plugin changes) uses this.
   */
  readonly effect: RouteEffect | undefined;
  /** Parsed JSON body, undefined when dockerd sent none. */
  readonly body: unknown;
  /** The client's TLS leaf certificate (parsed from RequestPeerCertificates), when it sent one. */
  readonly leafCertificate: PeerCertificate | undefined;
  /**
   * Set by decide() when the request carries the agent's own internal token and the macaroon gate in force
   * verified it (decide/internal-token.ts); the policy then allows the agent's name lookups without a rule.
   */
  readonly agentToken?: boolean;
  /**
   * Which door the request came through: absent for the plugin socket (dockerd's AuthZ calls), "api" for the
   * HTTPS API (src/api/), whose `request` is the Engine API call the REST call stands for, "gateway" for the
   * Engine API on the listener (src/gateway/), whose `request` is the client's own.
   */
  readonly door?: "api" | "gateway";
  /**
   * True when the request has a JSON body that was not forwarded (dockerd skips large and chunked ones): the
   * gates never judge such a request, decide() refuses it, unless a door's proof decided it already.
   */
  readonly bodyWithheld?: boolean;
  /** The client's IP address, when the door knows it (the HTTPS listener does; dockerd never tells plugins). */
  readonly clientAddress?: string;
}
