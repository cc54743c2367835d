/**
 * Namespaces: a user's own name, or an organization = a policy group the user belongs to (`groups:` of the
 * policy in force) or an OU of its client certificate. Policy administrators may address every namespace.
 * Resources carry the label `io.agent.namespace=<ns>`, stamped by the agent when it creates them; a client may
 * never set or change it (nor any `io.agent.` label). A path without a namespace means the caller's own;
 * a resource of another namespace is 404, never 403 (the API does not confirm that it exists). An API role's
 * credential is confined to its service's namespace (its own by default).
 */
import type { Policy } from "../policy/index.ts";
import type { Principal } from "./authenticate.ts";

export const NAMESPACE_LABEL = "io.agent.namespace";
export const SERVICE_LABEL = "io.agent.service";
/** Labels under this prefix are the agent's: a client may not set them. */
export const AGENT_LABEL_PREFIX = "io.agent.";
const NAMESPACE = /^[A-Za-z0-9_@][A-Za-z0-9._@-]{0,63}$/;

export interface Scope {
  /** The namespace the request addresses (the path's, or the caller's own name). */
  readonly namespace: string;
  /** The namespaces the caller may address (all of them for an administrator). */
  readonly mayAddress: (namespace: string) => boolean;
}

/** The caller's namespaces: its name, its certificate's OUs, its policy groups. */
export function namespacesOf(principal: Principal, policy: Policy | undefined): readonly string[] {
  const all = new Set<string>([
    principal.user,
    ...principal.groups,
    ...(policy?.groupsOf?.(principal.user) ?? []),
  ]);
  return [...all];
}

export function isAdministrator(principal: Principal, policy: Policy | undefined): boolean {
  const certificate = principal.certificate;
  return policy?.isAdministrator?.({
    user: principal.user,
    certificate: certificate === undefined
      ? undefined
      : { organizations: certificate.organizations, organizationalUnits: certificate.organizationalUnits },
  }) ?? false;
}

/** The scope of a request to `namespace` (undefined: the caller's own), or undefined when it may not (404). */
export function scopeOf(
  principal: Principal,
  policy: Policy | undefined,
  namespace: string | undefined,
): Scope | undefined {
  // An API role's credential addresses its service's namespace only, whatever its creator may.
  const role = principal.role;
  const admin = role === undefined && isAdministrator(principal, policy);
  const mine = new Set(role === undefined ? namespacesOf(principal, policy) : [role.namespace]);
  const mayAddress = (ns: string) => NAMESPACE.test(ns) && (admin || mine.has(ns));
  const addressed = namespace ?? role?.namespace ?? principal.user;
  if (!mayAddress(addressed)) return undefined;
  return { namespace: addressed, mayAddress };
}
