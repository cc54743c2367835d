/** The policy engine's public types: what a decision is asked about and what it answers. */
import type { RouteEffect } from "../authz/routes.ts";

/** One Docker API call as the policy sees it (already parsed, decoded and routed). */
export interface PolicyRequest {
  /** The TLS client certificate's CN as dockerd reports it; undefined for the unix socket (anonymous). */
  readonly user: string | undefined;
  readonly certificate?: {
    readonly organizations: readonly string[];
    readonly organizationalUnits: readonly string[];
  };
  /** Upper-case HTTP method. */
  readonly method: string;
  /** Percent-decoded RequestUri as sent (maybe with the /vX.Y prefix and the ?query). */
  readonly uri: string;
  /** Percent-decoded path without the version prefix and the query. */
  readonly path: string;
  /** "noun:verb" from the route table; undefined for a route the table does not know. */
  readonly action: string | undefined;
  /**
   * Whether the request only reads: the route table's effect, "write" also for a read route requested with a
   * protocol upgrade. Seed rules' GET and the plugin-change refusal are judged by it; undefined (unknown
   * route, or a caller that does not know) counts as a write.
   */
  readonly effect: RouteEffect | undefined;
  /** Parsed JSON body; undefined when dockerd sent none. */
  readonly body: unknown;
  /**
   * True only when the macaroon gate verified that the request carries the agent's own internal token
   * (decide/internal-token.ts). It lets exactly the agent's name lookups over the unix socket through
   * (builtin:agent-lookups); it gives nothing on any other route or to anyone with a user or certificate.
   */
  readonly agentToken?: boolean;
}

export interface PolicyDecision {
  readonly allow: boolean;
  /** The rule that decided (a rule id, or `builtin:...`); undefined when no rule matched. */
  readonly ruleId: string | undefined;
  /** Short safe text for the audit log and the docker user; never holds request data beyond user and action. */
  readonly reason: string;
}

export interface Policy {
  /** sha256 (hex) of the policy text's UTF-8 bytes, for the audit log. */
  readonly hash: string;
  readonly ruleCount: number;
  /** The file name the policy was loaded from (used in error messages and logs). */
  readonly source: string;
  evaluate(request: PolicyRequest): PolicyDecision;
  /** The policy groups (`groups:`) `user` is a member of: the HTTPS API's organizations (namespaces). */
  groupsOf?(user: string): readonly string[];
  /** Whether the requester is one of the policy's `administrators` (users, groups, `ou:`/`o:`). */
  isAdministrator?(request: Pick<PolicyRequest, "user" | "certificate">): boolean;
}
