/**
 * One audit event per plugin call (request and response phase). Never holds bodies, tokens or
 * certificates; query values that can carry secrets (build args, auth) are redacted.
 */
import type { Decision } from "../decide/decide.ts";

export interface AuditEvent {
  readonly time: string;
  readonly decisionId: string;
  readonly phase: "request" | "response";
  readonly user: string | null;
  readonly authMethod: string | null;
  readonly method: string | null;
  readonly uri: string | null;
  readonly action: string | null;
  readonly resources: Readonly<Record<string, string>>;
  readonly allow: boolean;
  readonly decidedBy: string;
  readonly ruleId: string | null;
  readonly reason: string;
  readonly code: string | null;
  readonly policyHash: string | null;
  readonly status: number | null;
  readonly durationMs: number;
  /** "api" for a call to the HTTPS API (src/api/); absent for the plugin socket. */
  readonly door?: "api" | "gateway";
  /** The client's IP address, where the door knows it (the HTTPS API). */
  readonly clientAddress?: string;
  /**
   * A plugin call the HTTPS API or the gateway made and had decided already (decidedBy "api" or "gateway"):
   * that decision's id.
   */
  readonly apiDecisionId?: string;
}

const SECRET_QUERY_KEYS = new Set(["buildargs", "registryauth", "password", "secret", "token", "auth"]);
const MAX_LOGGED_URI = 2048;

/**
 * A query that certainly names none of the secret keys: no escapes (a key could be spelled %61uth) and no
 * key among them. Most queries are like this, and skip parsing (this runs on every audited request).
 */
const PLAIN_QUERY = /^[^%+]*$/;
const SECRET_KEY_IN_QUERY = new RegExp(`(?:^|&)(?:${[...SECRET_QUERY_KEYS].join("|")})(?:[=&]|$)`, "i");

/** The URI with secret-bearing query values replaced, cut to a sane length. */
export function redactUri(uri: string): string {
  const q = uri.indexOf("?");
  let out = uri;
  const query = q >= 0 ? uri.slice(q + 1) : "";
  if (q >= 0 && !(PLAIN_QUERY.test(query) && !SECRET_KEY_IN_QUERY.test(query))) {
    const params = new URLSearchParams(query);
    let changed = false;
    for (const key of [...params.keys()]) {
      if (SECRET_QUERY_KEYS.has(key.toLowerCase())) {
        params.set(key, "REDACTED");
        changed = true;
      }
    }
    if (changed) out = `${uri.slice(0, q)}?${params.toString()}`;
  }
  return out.length > MAX_LOGGED_URI ? `${out.slice(0, MAX_LOGGED_URI)}...` : out;
}

export interface EventContext {
  readonly time: Date;
  readonly decisionId: string;
  readonly phase: "request" | "response";
  readonly policyHash: string | undefined;
  readonly durationMs: number;
}

/** The last time formatted: calls in the same millisecond share the text (formatting is a cost per call). */
let lastTimeMs = Number.NaN;
let lastTimeText = "";
function isoTime(time: Date): string {
  const ms = time.getTime();
  if (ms !== lastTimeMs) {
    lastTimeText = time.toISOString();
    lastTimeMs = ms;
  }
  return lastTimeText;
}

export function auditEventFor(decision: Decision, ctx: EventContext): AuditEvent {
  const request = decision.request;
  const route = decision.facts?.route;
  return {
    time: isoTime(ctx.time),
    decisionId: ctx.decisionId,
    phase: ctx.phase,
    user: request?.user ?? null,
    authMethod: request?.authMethod ?? null,
    method: request?.method ?? null,
    uri: request ? redactUri(request.uri) : null,
    action: route?.action ?? null,
    resources: (route?.resources ?? {}) as Record<string, string>,
    allow: decision.allow,
    decidedBy: decision.decidedBy,
    ruleId: decision.ruleId ?? null,
    reason: decision.reason,
    code: decision.code ?? null,
    policyHash: ctx.policyHash ?? null,
    status: request?.responseStatus ?? null,
    durationMs: Math.round(ctx.durationMs * 1000) / 1000,
  };
}

/** What a door (the HTTPS API, the gateway) decided about one request of its own, for its audit event. */
export interface DoorOutcome {
  readonly allow: boolean;
  readonly decidedBy: string;
  readonly ruleId: string | undefined;
  readonly reason: string;
  readonly code: string | undefined;
  readonly action?: string | undefined;
  readonly resources?: Readonly<Record<string, string>> | undefined;
}

/** What a door records of the decision core's decision about the Engine API call a request is (or stands for). */
export function decisionOutcome(decision: Decision): DoorOutcome {
  const route = decision.facts?.route;
  return {
    allow: decision.allow,
    decidedBy: decision.decidedBy,
    ruleId: decision.ruleId,
    reason: decision.reason,
    code: decision.code,
    ...(route === undefined
      ? {}
      : { action: route.action, resources: route.resources as Record<string, string> }),
  };
}

const NO_DECISION: DoorOutcome = {
  allow: false,
  decidedBy: "request",
  ruleId: undefined,
  reason: "no decision",
  code: "ERR_INTERNAL",
};

/** The audit event of one request to a door of the listener (its URL's path and query, redacted). */
export function doorEvent(input: {
  readonly door: "api" | "gateway";
  readonly time: Date;
  readonly decisionId: string;
  readonly principal: { readonly user: string; readonly authMethod: string } | undefined;
  readonly method: string;
  readonly url: string;
  readonly outcome: DoorOutcome | undefined;
  readonly policyHash: string | undefined;
  readonly status: number | null;
  readonly durationMs: number;
  readonly clientAddress: string;
}): AuditEvent {
  const outcome = input.outcome ?? NO_DECISION;
  const url = new URL(input.url);
  return {
    time: input.time.toISOString(),
    decisionId: input.decisionId,
    phase: "request",
    user: input.principal?.user ?? null,
    authMethod: input.principal?.authMethod ?? null,
    method: input.method,
    uri: redactUri(`${url.pathname}${url.search}`),
    action: outcome.action ?? null,
    resources: outcome.resources ?? {},
    allow: outcome.allow,
    decidedBy: outcome.decidedBy,
    ruleId: outcome.ruleId ?? null,
    reason: outcome.reason,
    code: outcome.code ?? null,
    policyHash: input.policyHash ?? null,
    status: input.status,
    durationMs: Math.round(input.durationMs * 1000) / 1000,
    door: input.door,
    clientAddress: input.clientAddress,
  };
}
