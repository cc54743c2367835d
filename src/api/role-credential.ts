/**
 * API roles: the credential a service created with `roles: ["global"]` or `["read"]` hands its containers.
 * It is an API key of the agent's format for the principal `service-<uuid>`, derived, never stored:
 * HMAC-SHA256(role secret, "agent-role-key|<uuid>|<generation>") formatted as an `agt_` key. The role secret
 * is 32 random bytes in `STATE_DIR/api-roles.key` (0600), so a restarted agent derives the same keys and
 * nothing per service holds a secret. The key is valid while its service exists, is not terminated, has a
 * role and is at that generation (a change of roles moves to the next generation, so a credential that
 * leaked before the change stops working). Keys are compared in constant time.
 *
 * In each container's environment (added to the create body, never to the service's stored
 * `container_envvars`, and redacted in every container object):
 *   AGENT_AUTH, DOCKERCLOUD_AUTH          `Basic base64(service-<uuid>:agt_...)`, the whole header value
 *   AGENT_HOST, DOCKERCLOUD_REST_HOST     the listener's URL
 *   DOCKERCLOUD_STREAM_HOST               the same as wss://
 *   AGENT_NAMESPACE, DOCKERCLOUD_NAMESPACE the service's namespace
 *   DOCKERCLOUD_SERVICE_API_URI           the service's resource_uri
 *   AGENT_CACERT_PEM                      the CA certificate the listener's certificate chains to, if known
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { utf8ToBytes } from "@noble/hashes/utils.js";
import { formatApiKey } from "../apikey/index.ts";
import { constantTimeEqual } from "../macaroon/index.ts";
import type { EnvVar, RoleName } from "./service-store.ts";

export type { RoleName };
export const ROLE_NAMES: readonly RoleName[] = ["global", "read"];

/** Basic-auth users of role principals: `service-<uuid>`. No API key or policy user should be named so. */
export const ROLE_USER_PREFIX = "service-";

/** Variables whose values are credentials: redacted wherever the API shows a container's environment. */
export const ROLE_SECRET_VARIABLES: ReadonlySet<string> = new Set(["AGENT_AUTH", "DOCKERCLOUD_AUTH"]);
export const REDACTED = "[redacted]";

/** What a role credential needs to know of its service. */
export interface RoleHolder {
  readonly uuid: string;
  readonly namespace: string;
  readonly roles: readonly RoleName[];
  readonly role_generation: number;
}

export function roleUser(uuid: string): string {
  return `${ROLE_USER_PREFIX}${uuid}`;
}

/** The service uuid a role principal's user names, or undefined when the user is not one. */
export function roleServiceOf(user: string): string | undefined {
  return user.startsWith(ROLE_USER_PREFIX) ? user.slice(ROLE_USER_PREFIX.length) : undefined;
}

/** Where containers find the listener, asked when a container is created (the port is known once it listens). */
export interface RoleLocation {
  /** The listener's URL as containers reach it: https://HOST:PORT. */
  readonly restUrl: string;
  /** The CA certificate the listener's certificate chains to, when it is the agent's. */
  readonly caPem: string | undefined;
}

export class RoleCredentials {
  readonly #secret: Uint8Array;
  readonly #location: () => RoleLocation;

  constructor(secret: Uint8Array, location: () => RoleLocation) {
    if (secret.length !== 32) throw new Error("a role secret is 32 bytes");
    this.#secret = secret;
    this.#location = location;
  }

  /** The API key of the holder's current generation. */
  keyOf(holder: Pick<RoleHolder, "uuid" | "role_generation">): string {
    const mac = hmac(
      sha256,
      this.#secret,
      utf8ToBytes(`agent-role-key|${holder.uuid}|${holder.role_generation}`),
    );
    return formatApiKey(mac);
  }

  /** The whole `Authorization` header value. */
  authorizationOf(holder: Pick<RoleHolder, "uuid" | "role_generation">): string {
    return `Basic ${btoa(`${roleUser(holder.uuid)}:${this.keyOf(holder)}`)}`;
  }

  /** Whether `key` is the holder's credential now (constant time over the key). */
  accepts(holder: RoleHolder, key: string): boolean {
    const expected = utf8ToBytes(this.keyOf(holder));
    const given = utf8ToBytes(key);
    return constantTimeEqual(expected, given) && holder.roles.length > 0;
  }

  /** The variables the holder's containers get; none when it has no role. */
  environment(holder: RoleHolder): EnvVar[] {
    if (holder.roles.length === 0) return [];
    const auth = this.authorizationOf(holder);
    const { restUrl, caPem } = this.#location();
    const rest = restUrl.replace(/\/+$/, "");
    const stream = rest.replace(/^https:/, "wss:");
    const vars: EnvVar[] = [
      { key: "AGENT_AUTH", value: auth },
      { key: "DOCKERCLOUD_AUTH", value: auth },
      { key: "AGENT_HOST", value: rest },
      { key: "DOCKERCLOUD_REST_HOST", value: rest },
      { key: "DOCKERCLOUD_STREAM_HOST", value: stream },
      { key: "AGENT_NAMESPACE", value: holder.namespace },
      { key: "DOCKERCLOUD_NAMESPACE", value: holder.namespace },
      {
        key: "DOCKERCLOUD_SERVICE_API_URI",
        value: `/api/app/v1/${holder.namespace}/service/${holder.uuid}/`,
      },
    ];
    if (caPem !== undefined) vars.push({ key: "AGENT_CACERT_PEM", value: caPem });
    return vars;
  }
}

/** The variables of the role environment: a client may not set them itself (they would shadow the agent's). */
export const ROLE_VARIABLES: ReadonlySet<string> = new Set([
  "AGENT_AUTH",
  "DOCKERCLOUD_AUTH",
  "AGENT_HOST",
  "DOCKERCLOUD_REST_HOST",
  "DOCKERCLOUD_STREAM_HOST",
  "AGENT_NAMESPACE",
  "DOCKERCLOUD_NAMESPACE",
  "DOCKERCLOUD_SERVICE_API_URI",
  "AGENT_CACERT_PEM",
]);
