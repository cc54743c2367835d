/**
 * API keys on the HTTPS listener: `Authorization: Basic base64(user:apikey)`, as Docker Cloud's clients
 * send it. A client address that failed too often is refused with 429 before its credentials are looked
 * at; every malformed, unknown, revoked, expired or wrong-user key is one failure and a 401 with fixed text
 * (the key is never in a message). Other Authorization schemes are not ours (a Bearer macaroon is the
 * macaroon gate's): "none". Uses are kept in memory (LastUsedTimes), never written per request.
 */
import {
  type ApiKeySet,
  type FailedAttemptLimiter,
  type LastUsedTimes,
  parseBasicAuthorization,
  verifyApiKey,
} from "../apikey/index.ts";
import type { Clock } from "../ports.ts";
import type { Authentication, Authenticator } from "./authenticate.ts";
import { refusedAttempt, throttled } from "./basic-attempts.ts";
import { roleServiceOf } from "./role-credential.ts";

export interface ApiKeyAuthenticatorDeps {
  /** The API keys in force (LoadedState.apiKeys: reloaded within a second of `agent apikey create|revoke`). */
  readonly keys: () => ApiKeySet;
  readonly clock: Clock;
  readonly limiter: FailedAttemptLimiter;
  readonly lastUsed: LastUsedTimes;
}

const BASIC = /^basic /i;

export function apiKeyAuthenticator(deps: ApiKeyAuthenticatorDeps): Authenticator {
  const refuse = (address: string, reason: string) => refusedAttempt(deps.limiter, address, reason);
  return {
    name: "apikey",
    authenticate(request, connection): Authentication {
      const header = request.headers.get("authorization");
      if (header === null || !BASIC.test(header)) return { kind: "none" };
      const address = connection.address;
      const limited = throttled(deps.limiter, address);
      if (limited !== undefined) return limited;
      const parsed = parseBasicAuthorization(header);
      if (!parsed.ok) return refuse(address, `malformed Basic credentials (${parsed.failure})`);
      // An API role's credential: role-authenticator.ts decides it.
      if (roleServiceOf(parsed.credentials.user) !== undefined) return { kind: "none" };
      const now = deps.clock();
      const verdict = verifyApiKey(deps.keys(), parsed.credentials.user, parsed.credentials.key, now);
      if (!verdict.ok) return refuse(address, `API key refused: ${verdict.reason}`);
      deps.lastUsed.record(verdict.key.id, now);
      return {
        kind: "principal",
        principal: { user: verdict.key.user, groups: [], authMethod: "apikey", keyId: verdict.key.id },
      };
    },
  };
}
