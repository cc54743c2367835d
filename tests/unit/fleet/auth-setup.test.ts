/**
 * etcd's access control for a fleet: a host's credential reads the prefix and writes only revocations and
 * its registry entry; it cannot publish a policy, keys or a CA. Setting it up twice changes nothing.
 */
import { describe, expect, test } from "bun:test";
import { addHostUser, hostRoleOf, ROOT_USER, setUpAuth } from "../../../src/fleet/auth-setup.ts";
import { EtcdError } from "../../../src/fleet/etcd.ts";
import { fleetKeys } from "../../../src/fleet/keys.ts";
import { NONCE_A } from "./helpers.ts";
import { MemoryEtcd, utf8 } from "./memory-etcd.ts";

const keys = fleetKeys("/agent/prod/");

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return err instanceof EtcdError ? err.code : String(err);
  }
  return "ok";
}

async function fleet() {
  const etcd = new MemoryEtcd();
  const root = etcd.client(ROOT_USER);
  await setUpAuth(root, keys);
  await addHostUser(root, keys, "host-b");
  return { etcd, root, host: etcd.client("host-b") };
}

describe("hostRoleOf", () => {
  test("one role per prefix, named after it", () => {
    expect(hostRoleOf(fleetKeys("/agent/prod/"))).toBe("agent-host.agent.prod");
    expect(hostRoleOf(fleetKeys("/agent/"))).toBe("agent-host.agent");
  });

  test("two prefixes never share a role (a dot inside a word is not a slash)", () => {
    const prefixes = [
      "/agent/prod.eu/",
      "/agent/prod/eu/",
      "/agent.prod/eu/",
      "/agent/prod-eu/",
      "/agent/prod_eu/",
    ];
    const roles = prefixes.map((p) => hostRoleOf(fleetKeys(p)));
    expect(new Set(roles).size).toBe(prefixes.length);
  });
});

describe("setUpAuth and addHostUser", () => {
  test("grant the documented roles and permissions, and turn auth on", async () => {
    const { etcd } = await fleet();
    expect(etcd.authEnabled).toBe(true);
    expect([...etcd.users.get("root")!]).toEqual(["root"]);
    expect([...etcd.users.get("host-b")!]).toEqual(["agent-host.agent.prod"]);
    expect(etcd.roles.get("agent-host.agent.prod")).toEqual([
      { key: "/agent/prod/", prefix: true, type: "read" },
      { key: "/agent/prod/revoked/", prefix: true, type: "readwrite" },
      { key: "/agent/prod/nodes/", prefix: true, type: "readwrite" },
    ]);
  });

  test("a host reads the prefix, adds revocations and its node record, and nothing else", async () => {
    const { host } = await fleet();
    expect(await code(host.list(keys.prefix))).toBe("ok");
    expect(await code(host.put(`${keys.revoked}${NONCE_A}`, utf8("{}"), { ifModRevision: 0 }))).toBe("ok");
    expect(await code(host.put(`${keys.nodes}host-b`, utf8("{}")))).toBe("ok");
    let watchEnd: EtcdError | undefined | null = null;
    const watch = host.watch(keys.prefix, 0, { onEvents: () => {}, onEnd: (e) => void (watchEnd = e) });
    await new Promise((r) => setTimeout(r, 0));
    expect(watchEnd).toBeNull();
    watch.close();
    for (const piece of ["policy", "ca", "keyring", "apikeys"] as const) {
      expect(await code(host.put(keys.piece[piece], utf8("{}")))).toBe("permission_denied");
      expect(await code(host.delete(keys.piece[piece]))).toBe("permission_denied");
    }
    expect(await code(host.put(`${keys.prefix}other`, utf8("{}")))).toBe("permission_denied");
    expect(await code(host.list("/agent/"))).toBe("permission_denied");
    expect(await code(host.list("/agent/staging/"))).toBe("permission_denied");
    expect(await code(host.put("/agent/staging/revoked/x", utf8("{}")))).toBe("permission_denied");
    expect(await code(host.auth.grantRole("host-b", "root"))).toBe("permission_denied");
    expect(await code(host.auth.addUser("mallory"))).toBe("permission_denied");
  });

  test("a certificate whose CN is no etcd user gets nothing", async () => {
    const { etcd } = await fleet();
    expect(await code(etcd.client("mallory").list(keys.prefix))).toBe("unauthenticated");
  });

  test("idempotent: running both again changes no user, role or permission, and keeps other roles", async () => {
    const { etcd, root } = await fleet();
    await root.auth.addRole("ops");
    await root.auth.grantRole("host-b", "ops");
    const before = JSON.stringify({
      users: [...etcd.users].map(([u, r]) => [u, [...r].sort()]),
      roles: [...etcd.roles],
    });
    await setUpAuth(root, keys);
    await addHostUser(root, keys, "host-b");
    const after = JSON.stringify({
      users: [...etcd.users].map(([u, r]) => [u, [...r].sort()]),
      roles: [...etcd.roles],
    });
    expect(after).toBe(before);
    expect([...etcd.users.get("host-b")!].sort()).toEqual(["agent-host.agent.prod", "ops"]);
  });

  test("hosts of /agent/prod/eu/ cannot reach /agent/prod.eu/ (and the other way round)", async () => {
    const etcd = new MemoryEtcd();
    const root = etcd.client(ROOT_USER);
    const dotted = fleetKeys("/agent/prod.eu/");
    const nested = fleetKeys("/agent/prod/eu/");
    await setUpAuth(root, dotted);
    await addHostUser(root, dotted, "host-d");
    await setUpAuth(root, nested);
    await addHostUser(root, nested, "host-n");
    expect(await code(etcd.client("host-d").list(dotted.prefix))).toBe("ok");
    expect(await code(etcd.client("host-d").list(nested.prefix))).toBe("permission_denied");
    expect(await code(etcd.client("host-n").put(`${dotted.revoked}${NONCE_A}`, utf8("{}")))).toBe(
      "permission_denied",
    );
  });

  test("a second prefix gets its own role; a host of one cannot write the other's revocations", async () => {
    const { etcd, root } = await fleet();
    const staging = fleetKeys("/agent/staging/");
    await setUpAuth(root, staging);
    await addHostUser(root, staging, "host-s");
    const hostS = etcd.client("host-s");
    expect(await code(hostS.put(`${staging.revoked}${NONCE_A}`, utf8("{}")))).toBe("ok");
    expect(await code(hostS.put(`${keys.revoked}${NONCE_A}`, utf8("{}")))).toBe("permission_denied");
    expect(await code(etcd.client("host-b").list(staging.prefix))).toBe("permission_denied");
  });
});
