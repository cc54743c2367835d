/**
 * Who is calling the HTTPS API. A request is from a principal (a user, with the groups its credential
 * carries) or it is refused with 401 before anything else happens. Each kind of credential is an
 * Authenticator; they are asked in order, and:
 *
 * - one that finds no credential of its kind answers "none" and the next is asked;
 * - one that finds a bad credential (revoked, from another CA, malformed) answers "failure": the request is
 *   refused at once, whatever else it carries (a bad credential is never ignored in favour of another);
 * - when several find a good one, they must name the same user, or the request is refused.
 *
 * Nothing at all is 401 too: the API has no anonymous access. The authenticators: client certificates
 * (certificate-authenticator.ts), API roles' credentials (`Basic service-<uuid>:...`, role-authenticator.ts)
 * and API keys (`Authorization: Basic`, apikey-authenticator.ts).
 */
import type { PeerCertificate } from "../ca/index.ts";
import type { HttpsConnection } from "../ports.ts";

export interface Principal {
  /** The user name the policy matches (a certificate's CN, an API key's owner). */
  readonly user: string;
  /** Groups the credential carries (a certificate's OUs): namespaces the caller may address. */
  readonly groups: readonly string[];
  /** How it authenticated, as the audit log shows it: "TLS" for a client certificate (as dockerd says). */
  readonly authMethod: string;
  /** The client certificate, when that is the credential (the certificate gate and `ou:`/`o:` rules read it). */
  readonly certificate?: PeerCertificate;
  /** The API key's id, when that is the credential (a console session made with it ends with it). */
  readonly keyId?: string;
  /**
   * A macaroon a console session carries (given at sign-in, held only in the agent's memory): the macaroon
   * gate judges the session's calls with it, as it would judge a client's `X-Macaroon`.
   */
  readonly macaroon?: string;
  /**
   * For a service principal (an API role's credential, role-authenticator.ts): `user` is the service's
   * creator, whose rights the policy applies; the role narrows them to one namespace, and `read` to reads.
   */
  readonly role?: {
    readonly name: "global" | "read";
    readonly namespace: string;
    /** The service's uuid: the principal is `service-<uuid>`. */
    readonly service: string;
  };
}

/** One authenticator's answer about one request. */
export type Authentication =
  | { readonly kind: "none" }
  | { readonly kind: "principal"; readonly principal: Principal }
  | {
    readonly kind: "failure";
    /** 401, or 429 when the client is throttled for failing too often. */
    readonly status: 401 | 429;
    /** For the audit log: fixed text, never a key, token or certificate. */
    readonly reason: string;
    /** For a 429: seconds before trying again. */
    readonly retryAfterSeconds?: number;
  };

export interface Authenticator {
  /** "certificate", "apikey", ...: the audit log names which one refused a request. */
  readonly name: string;
  authenticate(request: Request, connection: HttpsConnection): Authentication | Promise<Authentication>;
}

export type AuthenticationResult =
  | { readonly ok: true; readonly principal: Principal }
  | {
    readonly ok: false;
    readonly status: 401 | 429;
    /** The authenticator that refused, or "none" when no credential was presented. */
    readonly by: string;
    readonly reason: string;
    readonly retryAfterSeconds?: number;
  };

export const NO_CREDENTIALS =
  "no credentials: the API needs an API key (Authorization: Basic) or a client certificate of this agent's CA";

/** Asks every authenticator in order (see the module comment for the rules). */
export async function authenticate(
  authenticators: readonly Authenticator[],
  request: Request,
  connection: HttpsConnection,
): Promise<AuthenticationResult> {
  let found: { principal: Principal; by: string } | undefined;
  for (const authenticator of authenticators) {
    const answer = await authenticator.authenticate(request, connection);
    if (answer.kind === "none") continue;
    if (answer.kind === "failure") {
      return {
        ok: false,
        status: answer.status,
        by: authenticator.name,
        reason: answer.reason,
        ...(answer.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: answer.retryAfterSeconds }),
      };
    }
    if (found !== undefined && found.principal.user !== answer.principal.user) {
      return {
        ok: false,
        status: 401,
        by: authenticator.name,
        reason: `the ${found.by} and ${authenticator.name} credentials name different users`,
      };
    }
    found ??= { principal: answer.principal, by: authenticator.name };
  }
  if (found === undefined) return { ok: false, status: 401, by: "none", reason: NO_CREDENTIALS };
  return { ok: true, principal: found.principal };
}

/** What a refused authentication records in the audit event (the HTTPS API and the gateway alike). */
export function authenticationRefusal(result: Extract<AuthenticationResult, { ok: false }>) {
  return {
    allow: false,
    decidedBy: "authentication",
    ruleId: result.by === "none" ? undefined : `authentication:${result.by}`,
    reason: result.reason,
    code: "ERR_API_UNAUTHENTICATED",
  } as const;
}

/** The read API role allows reads only, whatever its creator's rules allow: what a refused write records. */
export function readRoleRefusal(route: { readonly action: string; readonly resources: object } | undefined) {
  return {
    allow: false,
    decidedBy: "role",
    ruleId: "role:read",
    reason: READ_ROLE_ONLY,
    code: "ERR_API_ROLE",
    ...(route === undefined
      ? {}
      : { action: route.action, resources: route.resources as Readonly<Record<string, string>> }),
  } as const;
}

export const READ_ROLE_ONLY = "the read API role allows reads only";
