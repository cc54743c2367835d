/**
 * etcd's own access control for a fleet, set up with the root credential (a client certificate with CN
 * "root"): etcd takes the certificate's CN as the user, so hosts need no passwords.
 *   root                     the operator: policy, keys, CA material, users (etcd's root role)
 *   <host name>              one user per host, with the role below
 *   role agent-host.<prefix> reads the whole prefix; writes only revoked/ (adding revocations) and nodes/
 *                            (its registry entry). A stolen host credential cannot publish a policy or keys.
 */
import type { EtcdClient } from "./etcd.ts";
import type { FleetKeys } from "./keys.ts";

export const ROOT_USER = "root";

/**
 * The hosts' role for a prefix: "/agent/prod/" -> "agent-host.agent.prod". A dot inside a word is written
 * %2E, so two prefixes never share a role ("/agent/prod.eu/" and "/agent/prod/eu/" would otherwise).
 */
export function hostRoleOf(keys: FleetKeys): string {
  return `agent-host${keys.prefix.replace(/\/+$/, "").replace(/\./g, "%2E").replace(/\//g, ".")}`;
}

/** Makes the root user and the hosts' role (idempotent), then turns auth on. */
export async function setUpAuth(client: EtcdClient, keys: FleetKeys): Promise<void> {
  const roles = new Set(await client.auth.roles());
  const users = new Set(await client.auth.users());
  if (!roles.has("root")) await client.auth.addRole("root");
  if (!users.has(ROOT_USER)) await client.auth.addUser(ROOT_USER);
  await client.auth.grantRole(ROOT_USER, "root");
  const role = hostRoleOf(keys);
  if (!roles.has(role)) await client.auth.addRole(role);
  await client.auth.grantPermission(role, { key: keys.prefix, prefix: true, type: "read" });
  await client.auth.grantPermission(role, { key: keys.revoked, prefix: true, type: "readwrite" });
  await client.auth.grantPermission(role, { key: keys.nodes, prefix: true, type: "readwrite" });
  await client.auth.enable();
}

/** A host's etcd user (its certificate's CN) with the hosts' role; an existing user keeps its other roles. */
export async function addHostUser(client: EtcdClient, keys: FleetKeys, name: string): Promise<void> {
  const users = new Set(await client.auth.users());
  if (!users.has(name)) await client.auth.addUser(name);
  await client.auth.grantRole(name, hostRoleOf(keys));
}
