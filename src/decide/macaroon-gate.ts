/**
 * The macaroon gate: on from `agent id init` until `agent id destroy`. Every request must carry a valid
 * macaroon in X-Macaroon whose every caveat holds for that request.
 *
 * Two stages. Verification (decode, key by key id, revocation, the HMAC chain, every caveat parsed through the
 * registry so unknown or malformed caveats fail closed) depends only on the token text and the keyring, so its
 * result is cached per gate instance. The caveat checks against the request (op, expires, container_id,
 * image_id, ip) run on every call. `HEAD /_ping` is always reachable (the docker CLI negotiates its API version
 * with it, and without it the user would read "client version too new" instead of the real reason);
 * `GET /version` needs a valid token but ignores its caveats.
 */
import type { DockerResolver } from "../docker/resolver.ts";
import { AgentError } from "../errors.ts";
import {
  DEFAULT_MACAROON_LIMITS,
  type DockerCaveat,
  dockerCaveats,
  formatDockerCaveat,
  type Keyring,
  parseCaveat,
  type Revocations,
  verifyToken,
} from "../macaroon/index.ts";
import type { Clock, RandomBytes } from "../ports.ts";
import {
  type CaveatRequest,
  type CaveatResult,
  checkLocalCaveat,
  checkTargetCaveat,
  type Eventually,
  RequestTargets,
} from "./docker-caveats.ts";
import type { RequestFacts } from "./facts.ts";
import type { Gate, GateVerdict } from "./gate.ts";
import { internalTokenSource, isInternalToken } from "./internal-token.ts";
import { VerificationCache } from "./verification-cache.ts";

export const MACAROON_HEADER = "x-macaroon";
export const MISSING_MACAROON = "this host requires a macaroon (X-Macaroon header)";
/** Deadline for one name lookup; dockerd itself waits forever on a legacy plugin. */
export const DEFAULT_LOOKUP_TIMEOUT_MS = 5_000;
export const DEFAULT_CACHE_ENTRIES = 512;

export interface MacaroonGateOptions {
  readonly keyring: Keyring;
  readonly revocations: Revocations;
  /** Resolves names, short ids and exec ids for container_id and image_id caveats. */
  readonly resolver: DockerResolver;
  readonly clock: Clock;
  /** Needed only to mint the agent's own token (internalHeaders). */
  readonly random?: RandomBytes;
  readonly lookupTimeoutMs?: number;
  readonly cacheEntries?: number;
}

export interface MacaroonGate extends Gate {
  readonly name: "macaroon";
  /** X-Macaroon for the agent's own Engine API calls (read-only, short-lived); empty without `random`. */
  internalHeaders(): Readonly<Record<string, string>>;
  /**
   * True when the request's X-Macaroon verifies (signature, key, revocation, caveat syntax) and is the
   * agent's own internal token (its nonce carries the root key's tag). Says nothing about its caveats:
   * `check` still judges them against the request.
   */
  carriesInternalToken(facts: RequestFacts): boolean;
  /** Verification cache counters (for tests and diagnostics). */
  cacheStats(): { readonly hits: number; readonly misses: number; readonly size: number };
}

export function isMacaroonGate(gate: Gate): gate is MacaroonGate {
  const candidate = gate as Partial<MacaroonGate>;
  return gate.name === "macaroon" && typeof candidate.internalHeaders === "function" &&
    typeof candidate.carriesInternalToken === "function";
}

type Verification =
  | {
    readonly ok: true;
    readonly caveats: readonly DockerCaveat[];
    /** The agent's own internal token (decide/internal-token.ts). */
    readonly internal: boolean;
  }
  | { readonly ok: false; readonly verdict: GateVerdict };

const deny = (ruleId: string, reason: string): GateVerdict => ({ allow: false, ruleId, reason });
const PING: GateVerdict = {
  allow: true,
  ruleId: "macaroon:ping",
  reason: "ping is reachable without a macaroon",
};
const MISSING: GateVerdict = deny("macaroon:missing", MISSING_MACAROON);
const VALID: GateVerdict = { allow: true, ruleId: "macaroon", reason: "macaroon verified" };

const RULE_FOR_CODE: Readonly<Record<string, string>> = {
  ERR_MACAROON_FORMAT: "macaroon:format",
  ERR_MACAROON_LIMIT: "macaroon:limit",
  ERR_MACAROON_SIGNATURE: "macaroon:signature",
  ERR_MACAROON_DISCHARGE: "macaroon:discharge",
  ERR_MACAROON_KEY: "macaroon:key",
  ERR_MACAROON_REVOKED: "macaroon:revoked",
};

/** The verdict for a token that failed verification; messages are the library's fixed texts. */
function failed(err: AgentError, predicate: string | undefined): GateVerdict {
  if (err.code === "ERR_MACAROON_CAVEAT") {
    return deny(
      caveatRule(predicate),
      err.message.startsWith("caveat ") ? `macaroon ${err.message}` : err.message,
    );
  }
  return deny(RULE_FOR_CODE[err.code] ?? "macaroon:invalid", err.message);
}

function caveatRule(predicate: string | undefined): string {
  if (predicate === undefined) return "caveat:invalid";
  try {
    const { name } = parseCaveat(predicate);
    return dockerCaveats.has(name) ? `caveat:${name}` : "caveat:unknown";
  } catch {
    return "caveat:invalid";
  }
}

/**
 * The container_id and image_id caveats from `from` on, in order: at once while the resolver answers from
 * its cache, as a promise from the first lookup that has to ask the daemon. A lookup that fails denies.
 */
function checkTargets(
  caveats: readonly DockerCaveat[],
  targets: RequestTargets,
  from: number,
): GateVerdict | Promise<GateVerdict> {
  for (let i = from; i < caveats.length; i++) {
    const c = caveats[i]!;
    if (c.name !== "container_id" && c.name !== "image_id") continue;
    let result: Eventually<CaveatResult>;
    try {
      result = checkTargetCaveat(c, targets);
    } catch (err) {
      result = uncheckable(err);
    }
    if (result instanceof Promise) {
      return result.catch(uncheckable).then((r) =>
        r === true ? checkTargets(caveats, targets, i + 1) : caveatDenied(c, r)
      );
    }
    if (result !== true) return caveatDenied(c, result);
  }
  return VALID;
}

function uncheckable(err: unknown): string {
  return `cannot be checked: ${err instanceof AgentError ? err.message : "the lookup failed"}`;
}

function caveatDenied(c: DockerCaveat, why: string): GateVerdict {
  return deny(`caveat:${c.name}`, `macaroon caveat "${formatDockerCaveat(c)}" not satisfied: ${why}`);
}

function verifyHeader(header: string, keyring: Keyring, revocations: Revocations): Verification {
  const caveats: DockerCaveat[] = [];
  let current: string | undefined;
  // Every first-party caveat is parsed here (so the cached result holds typed caveats); the request-dependent
  // checks run later, on every call.
  const check = (predicate: string): true | string => {
    current = predicate;
    try {
      caveats.push(dockerCaveats.parse(predicate));
      return true;
    } catch (err) {
      if (err instanceof AgentError) return err.message;
      throw err;
    }
  };
  let verified;
  try {
    verified = verifyToken(header, { keyring, revocations, check });
  } catch (err) {
    if (err instanceof AgentError && err.code !== "ERR_INTERNAL") {
      return { ok: false, verdict: failed(err, current) };
    }
    throw err;
  }
  return { ok: true, caveats, internal: isInternalToken(keyring, verified.keyId, verified.nonce) };
}

const unavailableResolver: DockerResolver = {
  resolveContainer: () => Promise.reject(noDocker()),
  resolveImage: () => Promise.reject(noDocker()),
  containerOfExec: () => Promise.reject(noDocker()),
};

function noDocker(): AgentError {
  return new AgentError("ERR_DOCKER_UNREACHABLE", "the agent has no connection to the Docker daemon");
}

export function macaroonGate(options: MacaroonGateOptions): MacaroonGate {
  const { keyring, revocations, resolver, clock } = options;
  const timeoutMs = options.lookupTimeoutMs ?? DEFAULT_LOOKUP_TIMEOUT_MS;
  const cache = new VerificationCache<Verification>(options.cacheEntries ?? DEFAULT_CACHE_ENTRIES);
  const internalToken = options.random ? internalTokenSource(keyring, options.random, clock) : undefined;

  const verification = (header: string): Verification => {
    // Oversized headers fail verification anyway; keeping them out bounds the cache's memory.
    if (header.length > DEFAULT_MACAROON_LIMITS.maxTextLength) {
      return verifyHeader(header, keyring, revocations);
    }
    let result = cache.get(header);
    if (result === undefined) {
      result = verifyHeader(header, keyring, revocations);
      cache.set(header, result);
    }
    return result;
  };

  return {
    name: "macaroon",
    // Not async: a repeated token whose lookups are cached is judged at once, without a promise.
    check(facts: RequestFacts): GateVerdict | Promise<GateVerdict> {
      const route = facts.route;
      if (route === undefined) return deny("macaroon:route", "unknown API route");
      if (route.action === "system:ping") return PING;
      const header = facts.request.headers.get(MACAROON_HEADER);
      if (header === undefined || header.trim() === "") return MISSING;
      const verified = verification(header);
      if (!verified.ok) return verified.verdict;
      // The request phase judged this call already; by the response the object may be gone (docker rm).
      if (route.action === "system:version" || facts.phase === "response" || verified.caveats.length === 0) {
        return VALID;
      }

      const request: CaveatRequest = {
        method: facts.request.method,
        action: route.action,
        effect: facts.effect ?? "write",
        upgrade: facts.effect !== route.effect,
        resources: route.resources,
        body: facts.body,
        clientAddress: facts.clientAddress,
      };
      const nowMs = clock().getTime();
      let needsLookup = false;
      for (const c of verified.caveats) {
        const result = checkLocalCaveat(c, request, nowMs);
        if (result === undefined) needsLookup = true;
        else if (result !== true) return caveatDenied(c, result);
      }
      if (!needsLookup) return VALID;
      return checkTargets(verified.caveats, new RequestTargets(request, resolver, timeoutMs), 0);
    },
    internalHeaders(): Readonly<Record<string, string>> {
      return internalToken ? { "X-Macaroon": internalToken() } : {};
    },
    carriesInternalToken(facts: RequestFacts): boolean {
      const header = facts.request.headers.get(MACAROON_HEADER);
      if (header === undefined || header.trim() === "") return false;
      const verified = verification(header);
      return verified.ok && verified.internal;
    },
    cacheStats: () => cache.stats(),
  };
}

export interface LoadMacaroonGateOptions {
  readonly resolver?: DockerResolver;
  readonly random?: RandomBytes;
  readonly lookupTimeoutMs?: number;
}

/** The gate for a loaded keyring and revocation list (each a piece of state the server reloads on its own). */
export function macaroonGateFor(
  keyring: Keyring,
  revocations: Revocations,
  clock: Clock,
  options: LoadMacaroonGateOptions = {},
): MacaroonGate {
  return macaroonGate({
    keyring,
    revocations,
    clock,
    resolver: options.resolver ?? unavailableResolver,
    ...(options.random === undefined ? {} : { random: options.random }),
    ...(options.lookupTimeoutMs === undefined ? {} : { lookupTimeoutMs: options.lookupTimeoutMs }),
  });
}
