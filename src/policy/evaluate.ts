/**
 * One decision: default deny; a matching deny rule wins over any allow; built-ins for unknown routes,
 * plugin management, ping and the agent's own name lookups. Runs on every Docker API call, so it allocates little: rule decisions are
 * prebuilt, the body is read only when a rule with `when` gets that far, and only once.
 */
import { BodyFacts } from "./body-facts.ts";
import type { CompiledPolicy, CompiledRule, RequesterSet, RuleList } from "./compile.ts";
import type { PolicyDecision, PolicyRequest } from "./types.ts";

const UNKNOWN_ROUTE: PolicyDecision = Object.freeze({
  allow: false,
  ruleId: "builtin:unknown-route",
  reason: "unknown route",
});
const PLUGIN_ADMIN_ONLY: PolicyDecision = Object.freeze({
  allow: false,
  ruleId: "builtin:plugin-admin",
  reason: "only policy administrators may change plugins",
});
const PING: PolicyDecision = Object.freeze({
  allow: true,
  ruleId: "builtin:ping",
  reason: "ping is allowed for requesters with an allow rule",
});
const AGENT_LOOKUP: PolicyDecision = Object.freeze({
  allow: true,
  ruleId: "builtin:agent-lookups",
  reason: "the agent's own name lookup is allowed",
});

/**
 * The calls the agent itself makes to resolve names and follow events for container_id and image_id caveats
 * (docker/cached-resolver.ts, server/macaroon-docker.ts): GET /containers/{name}/json, /images/{name}/json,
 * /exec/{id}/json and /events. Each of these actions has exactly that one route.
 */
export const AGENT_LOOKUP_ACTIONS: ReadonlySet<string> = new Set([
  "container:inspect",
  "image:inspect",
  "exec:inspect",
  "system:events",
]);

/** Version prefix as dockerd's router accepts it (`/v{version:[0-9.]+}`). */
const VERSION_PREFIX = /^\/v[0-9][0-9.]*(?=[/?]|$)/;
/** Unversioned URIs are also tested with this prefix, so a deny regex written for "/v1.NN/..." holds. */
export const CANONICAL_VERSION_PREFIX = "/v1.41";

/** Every plugin:* action that writes installs, enables, disables, configures, pushes or removes a plugin. */
function isPluginChange(action: string, request: PolicyRequest): boolean {
  return action.startsWith("plugin:") && request.effect !== "read";
}

/**
 * The agent's own lookup: over the unix socket (no user, no certificate), with the internal token the
 * macaroon gate verified, a plain GET that reads, of one of the lookup routes. Nothing else qualifies.
 */
function isAgentLookup(action: string, request: PolicyRequest): boolean {
  return request.agentToken === true && request.user === undefined && request.certificate === undefined &&
    request.method === "GET" && request.effect === "read" && AGENT_LOOKUP_ACTIONS.has(action);
}

/** Whether the requester is one of the policy's administrators. */
export function isAdministratorOf(
  policy: CompiledPolicy,
  request: Pick<PolicyRequest, "user" | "certificate">,
): boolean {
  return inSet(policy.administrators, request);
}

function inSet(set: RequesterSet, request: Pick<PolicyRequest, "user" | "certificate">): boolean {
  const user = request.user;
  if (user === undefined) {
    if (set.anonymous) return true;
  } else if (user !== "" && (set.anyUser || set.users.has(user))) {
    return true;
  }
  const certificate = request.certificate;
  if (certificate === undefined) return false;
  for (const ou of certificate.organizationalUnits) if (set.ous.has(ou)) return true;
  for (const o of certificate.organizations) if (set.os.has(o)) return true;
  return false;
}

function describeRequester(user: string | undefined): string {
  if (user === undefined) return "anonymous";
  if (user === "") return "a certificate without a user name";
  return user;
}

/** The state of one evaluation: the best deny and allow so far (earliest in the file wins the report). */
class Scan {
  deny: CompiledRule | undefined;
  allow: CompiledRule | undefined;
  hasAllow = false;
  private facts: BodyFacts | undefined;
  private uriForms: readonly string[] | undefined;

  constructor(private readonly request: PolicyRequest, private readonly action: string) {}

  list(list: RuleList | undefined): void {
    if (list === undefined) return;
    if (list.hasAllow) this.hasAllow = true;
    for (const rule of list.forAction(this.action)) {
      if (rule.effect === "deny") {
        if (this.deny !== undefined && this.deny.index <= rule.index) continue;
        if (this.matches(rule)) this.deny = rule;
      } else {
        if (this.allow !== undefined && this.allow.index <= rule.index) continue;
        if (this.deny === undefined && this.matches(rule)) this.allow = rule;
      }
    }
  }

  /** `rule` comes from RuleList.forAction: its action patterns and `when` actions already fit. */
  private matches(rule: CompiledRule): boolean {
    if (rule.uri !== undefined) {
      if (!this.methodMatches(rule)) return false;
      if (!this.uriMatches(rule.uri, rule.effect)) return false;
    }
    if (rule.conditions.length === 0) return true;
    this.facts ??= new BodyFacts(this.action, this.request.body);
    for (const condition of rule.conditions) if (!condition.holds(this.facts)) return false;
    return true;
  }

  /**
   * A seed rule's methods, judged with the request's effect, so that the method never widens an allow or
   * narrows a deny: GET (and HEAD) in an allow rule reach only requests that read; a deny rule matches the
   * methods it lists and, when it lists a write method (POST, PUT, DELETE, PATCH), also every GET or HEAD
   * that writes (the websocket attach). `*` matches every method either way.
   */
  private methodMatches(rule: CompiledRule): boolean {
    const methods = rule.methods;
    if (methods === undefined) return true;
    const method = this.request.method;
    const getThatWrites = (method === "GET" || method === "HEAD") && this.request.effect !== "read";
    if (rule.effect === "allow") return !getThatWrites && methods.has(method);
    return methods.has(method) || (getThatWrites && rule.listsWriteMethod);
  }

  /** Allow regexes see the URI as sent; deny regexes also see it without and with a version prefix. */
  private uriMatches(regex: RegExp, effect: "allow" | "deny"): boolean {
    const uri = this.request.uri;
    if (regex.test(uri)) return true;
    if (effect === "allow") return false;
    if (this.uriForms === undefined) {
      const stripped = uri.replace(VERSION_PREFIX, "");
      this.uriForms = [stripped, CANONICAL_VERSION_PREFIX + stripped].filter((form) => form !== uri);
    }
    for (const form of this.uriForms) if (regex.test(form)) return true;
    return false;
  }
}

export function evaluatePolicy(policy: CompiledPolicy, request: PolicyRequest): PolicyDecision {
  const action = request.action;
  if (action === undefined) return UNKNOWN_ROUTE;
  const scan = new Scan(request, action);
  const user = request.user;
  if (user === undefined) {
    scan.list(policy.anonymous);
  } else if (user !== "") {
    scan.list(policy.byUser.get(user));
    scan.list(policy.anyUser);
  }
  const certificate = request.certificate;
  if (certificate !== undefined && policy.hasCertificateRules) {
    for (const ou of certificate.organizationalUnits) scan.list(policy.byOu.get(ou));
    for (const o of certificate.organizations) scan.list(policy.byO.get(o));
  }
  if (scan.deny !== undefined) {
    return request.body === undefined ? scan.deny.decisionWithoutBody : scan.deny.decision;
  }
  // A disabled managed authz plugin silently stops authorizing: only administrators may change plugins.
  if (isPluginChange(action, request) && !inSet(policy.administrators, request)) return PLUGIN_ADMIN_ONLY;
  if (scan.allow !== undefined) return scan.allow.decision;
  // The agent resolves names for container_id/image_id caveats through the daemon, as the unix socket user;
  // a policy must not need a rule for that (a deny rule still wins).
  if (isAgentLookup(action, request)) return AGENT_LOOKUP;
  // The docker CLI pings before every command; denying it breaks version negotiation.
  if (action === "system:ping" && scan.hasAllow) return PING;
  return {
    allow: false,
    ruleId: undefined,
    reason: `no rule allows ${action} for ${describeRequester(user)}`,
  };
}
