/** The in-memory etcd behaves as etcd does where the fleet relies on it (so the other tests mean something). */
import { describe, expect, test } from "bun:test";
import { EtcdError, type EtcdEvent } from "../../../src/fleet/etcd.ts";
import { MemoryEtcd, utf8 } from "./memory-etcd.ts";

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return err instanceof EtcdError ? err.code : `not an EtcdError: ${String(err)}`;
  }
  return "resolved";
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("the in-memory etcd", () => {
  test("revisions, mod and create revisions, compare-and-swap", async () => {
    const etcd = new MemoryEtcd();
    const client = etcd.client();
    expect((await client.list("/p/")).revision).toBe(1);
    expect(await client.put("/p/a", utf8("1"))).toBe(2);
    expect(await client.put("/p/a", utf8("2"), { ifModRevision: 2 })).toBe(3);
    expect((await client.get("/p/a")).kv).toMatchObject({ modRevision: 3, createRevision: 2 });
    expect(await code(client.put("/p/a", utf8("3"), { ifModRevision: 2 }))).toBe("conflict");
    expect(await code(client.put("/p/a", utf8("3"), { ifModRevision: 0 }))).toBe("conflict");
    expect(await client.put("/p/b", utf8("x"), { ifModRevision: 0 })).toBe(4);
    expect(await client.delete("/p/a")).toBe(5);
    expect((await client.get("/p/a")).kv).toBeUndefined();
    expect((await client.list("/p/")).kvs.map((kv) => kv.key)).toEqual(["/p/b"]);
    expect(etcd.revision).toBe(5);
  });

  test("a watch delivers history from its start revision, then live events, in order", async () => {
    const etcd = new MemoryEtcd();
    etcd.put("/p/a", "1");
    etcd.put("/q/x", "other prefix");
    etcd.put("/p/a", "2");
    const seen: number[] = [];
    const client = etcd.client();
    const watch = client.watch("/p/", 2, {
      onEvents: (events: readonly EtcdEvent[]) => seen.push(...events.map((e) => e.kv.modRevision)),
      onEnd: () => {},
    });
    etcd.put("/p/b", "3");
    etcd.delete("/p/a");
    await tick();
    expect(seen).toEqual([2, 4, 5, 6]);
    watch.close();
    etcd.put("/p/c", "after close");
    await tick();
    expect(seen).toEqual([2, 4, 5, 6]);
  });

  test("compaction ends a watch from below it with compacted; unavailability ends every watch", async () => {
    const etcd = new MemoryEtcd();
    for (let i = 0; i < 5; i++) etcd.put("/p/a", String(i));
    etcd.compact(4);
    const ends: (EtcdError | undefined)[] = [];
    etcd.client().watch("/p/", 3, { onEvents: () => {}, onEnd: (e) => ends.push(e) });
    await tick();
    expect(ends[0]?.code).toBe("compacted");
    expect(ends[0]?.compactRevision).toBe(4);
    const seen: number[] = [];
    etcd.client().watch("/p/", 4, {
      onEvents: (events) => seen.push(...events.map((e) => e.kv.modRevision)),
      onEnd: (e) => ends.push(e),
    });
    await tick();
    expect(seen).toEqual([4, 5, 6]);
    etcd.setAvailable(false);
    expect(ends[1]?.code).toBe("unavailable");
    expect(await code(etcd.client().list("/p/"))).toBe("unavailable");
    etcd.client().watch("/p/", 0, { onEvents: () => {}, onEnd: (e) => ends.push(e) });
    await tick();
    expect(ends[2]?.code).toBe("unavailable");
  });

  test("leases: keys go when the lease expires or is revoked; keepAlive answers false once gone", async () => {
    const etcd = new MemoryEtcd();
    const client = etcd.client();
    const lease = await client.grantLease(10);
    await client.put("/p/n", utf8("x"), { lease });
    etcd.tick(6);
    expect(await client.keepAlive(lease)).toBe(true);
    etcd.tick(6);
    expect(etcd.kv("/p/n")).toBeDefined();
    etcd.tick(5);
    expect(etcd.kv("/p/n")).toBeUndefined();
    expect(await client.keepAlive(lease)).toBe(false);
    expect(await code(client.put("/p/n", utf8("x"), { lease }))).toBe("other");
    const second = await client.grantLease(10);
    await client.put("/p/m", utf8("x"), { lease: second });
    await client.revokeLease(second);
    expect(etcd.kv("/p/m")).toBeUndefined();
  });

  test("auth: once on, a user reaches only what its roles allow", async () => {
    const etcd = new MemoryEtcd();
    const root = etcd.client("root");
    await root.auth.addUser("root");
    await root.auth.addRole("root");
    await root.auth.grantRole("root", "root");
    await root.auth.addUser("h");
    await root.auth.addRole("r");
    await root.auth.grantPermission("r", { key: "/p/", prefix: true, type: "read" });
    await root.auth.grantPermission("r", { key: "/p/w/", prefix: true, type: "readwrite" });
    await root.auth.grantRole("h", "r");
    await root.auth.enable();
    const host = etcd.client("h");
    expect(await code(host.list("/p/"))).toBe("resolved");
    expect(await code(host.list("/"))).toBe("permission_denied");
    expect(await code(host.put("/p/x", utf8("x")))).toBe("permission_denied");
    expect(await code(host.put("/p/w/x", utf8("x")))).toBe("resolved");
    expect(await code(host.auth.addUser("evil"))).toBe("permission_denied");
    expect(await code(etcd.client("stranger").list("/p/"))).toBe("unauthenticated");
  });
});
