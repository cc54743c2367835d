/**
 * API roles' credentials on the HTTPS listener: `Authorization: Basic base64(service-<uuid>:agt_...)`, the
 * value a service with `roles` hands its containers as AGENT_AUTH / DOCKERCLOUD_AUTH (role-credential.ts).
 * Valid while the service exists, is not terminated, has a role and is at the credential's generation; it
 * is then a principal acting as the service's creator (the policy applies that user's rules), confined to
 * the service's namespace, and to reads for the `read` role. Anything else is a failure, counted by the
 * same per-address limiter as API keys (429 when throttled). Other users' Basic credentials: "none".
 */
import { type FailedAttemptLimiter, parseBasicAuthorization } from "../apikey/index.ts";
import type { Authentication, Authenticator } from "./authenticate.ts";
import { refusedAttempt, throttled } from "./basic-attempts.ts";
import { isUuid } from "./node.ts";
import { type RoleCredentials, roleServiceOf } from "./role-credential.ts";
import type { ServiceStore } from "./service-store.ts";

export interface RoleAuthenticatorDeps {
  readonly services: ServiceStore;
  readonly roles: RoleCredentials;
  readonly limiter: FailedAttemptLimiter;
}

const BASIC = /^basic /i;

export function roleAuthenticator(deps: RoleAuthenticatorDeps): Authenticator {
  return {
    name: "role",
    authenticate(request, connection): Authentication {
      const header = request.headers.get("authorization");
      if (header === null || !BASIC.test(header)) return { kind: "none" };
      const parsed = parseBasicAuthorization(header);
      // Malformed credentials are the API key authenticator's to refuse (and count once).
      if (!parsed.ok) return { kind: "none" };
      const uuid = roleServiceOf(parsed.credentials.user);
      if (uuid === undefined) return { kind: "none" };
      const address = connection.address;
      const limited = throttled(deps.limiter, address);
      if (limited !== undefined) return limited;
      const service = isUuid(uuid) ? deps.services.get(uuid) : undefined;
      const refuse = (reason: string) => refusedAttempt(deps.limiter, address, reason);
      // The key is compared even when the service is gone, so the answer takes the same time.
      const holder = service ?? { uuid, namespace: "", roles: [], role_generation: 0 };
      const matches = deps.roles.accepts(holder, parsed.credentials.key);
      if (service === undefined) return refuse("API role credential refused: no such service");
      if (service.terminated) return refuse("API role credential refused: the service is terminated");
      if (!matches || service.created_by === null) {
        return refuse("API role credential refused: not the service's current credential");
      }
      const role = service.roles[0]!;
      return {
        kind: "principal",
        principal: {
          user: service.created_by,
          groups: [],
          authMethod: `role:${role}`,
          role: { name: role, namespace: service.namespace, service: service.uuid },
        },
      };
    },
  };
}
