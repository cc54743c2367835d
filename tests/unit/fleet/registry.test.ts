/**
 * The node registry: each agent's record under nodes/<name>, tied to a lease, rewritten only when it
 * changes, re-granted when the lease is gone; a record read from etcd is checked (a hostile one is skipped).
 */
import { describe, expect, test } from "bun:test";
import { fleetKeys } from "../../../src/fleet/keys.ts";
import { decodeNode, encodeNode, type NodeRecord, NodeRegistration } from "../../../src/fleet/registry.ts";
import { encoder, json, until } from "./helpers.ts";
import { MemoryEtcd } from "./memory-etcd.ts";

const keys = fleetKeys("/agent/prod/");
const KEY = "/agent/prod/nodes/host-a";
const UUID = "0d7e8f4c-1a2b-4c3d-8e9f-0123456789ab";

const RECORD: NodeRecord = {
  name: "host-a",
  addresses: ["10.0.0.1", "fd00::1"],
  agentVersion: "1.2.3",
  startedAt: "2030-05-06T07:08:09.000Z",
  stateRevision: 7,
  listen: "10.0.0.1:8443",
  docker: {
    uuid: UUID,
    docker_version: "27.0.1",
    docker_graphdriver: "overlay2",
    cpu: 4,
    memory: 8_000_000_000,
  },
};

/** A sleep the test ends: the registration's loop waits in it between two rounds. */
function manualSleep() {
  const waiting: (() => void)[] = [];
  const asked: number[] = [];
  return {
    asked,
    sleep: (ms: number, signal?: AbortSignal) =>
      new Promise<void>((resolve) => {
        asked.push(ms);
        if (signal?.aborted) return resolve();
        waiting.push(resolve);
        signal?.addEventListener("abort", () => resolve(), { once: true });
      }),
    /** Ends the current sleep and waits until the loop sleeps again (one round). */
    async round(): Promise<void> {
      const before = asked.length;
      waiting.shift()?.();
      await until("the next round", () => asked.length > before);
    },
  };
}

async function setup(ttlSeconds?: number) {
  const etcd = new MemoryEtcd();
  const logs: string[] = [];
  let record: NodeRecord = { ...RECORD };
  const sleeper = manualSleep();
  const registration = new NodeRegistration({
    client: etcd.client("host-a"),
    keys,
    record: () => record,
    clock: () => new Date("2030-05-06T07:08:09.000Z"),
    sleep: sleeper.sleep,
    log: (line) => void logs.push(line),
    ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
  });
  registration.start();
  await until("the first round", () => sleeper.asked.length === 1);
  const puts = () => etcd.calls.filter((c) => c === "put").length;
  return {
    etcd,
    logs,
    sleeper,
    registration,
    puts,
    setRecord: (r: NodeRecord) => void (record = r),
    stored: () => decodeNode("host-a", etcd.kv(KEY)?.value ?? new Uint8Array()),
  };
}

describe("NodeRegistration", () => {
  test("writes the record under a lease, keeps it alive every third of the TTL, rewrites only on change", async () => {
    const s = await setup();
    expect(s.stored()).toEqual(RECORD);
    const lease = s.etcd.leaseOf(KEY);
    expect(lease).toBeDefined();
    expect(s.etcd.hasLease(lease!)).toBe(true);
    expect(s.sleeper.asked).toEqual([3_333]);
    expect(s.puts()).toBe(1);
    const revision = s.etcd.revision;
    await s.sleeper.round();
    await s.sleeper.round();
    expect(s.puts()).toBe(1);
    expect(s.etcd.revision).toBe(revision); // no write wakes the other hosts' watches
    expect(s.etcd.calls.filter((c) => c === "keepAlive")).toHaveLength(2);
    s.setRecord({ ...RECORD, stateRevision: 8 });
    await s.sleeper.round();
    expect(s.puts()).toBe(2);
    expect(s.stored()?.stateRevision).toBe(8);
    expect(s.etcd.leaseOf(KEY)).toBe(lease);
    await s.registration.stop();
  });

  test("nudge() writes a changed record at once, without waiting for the tick", async () => {
    const s = await setup();
    s.setRecord({ ...RECORD, stateRevision: 9 });
    s.registration.nudge();
    await until("the record rewritten", () => s.stored()?.stateRevision === 9);
    expect(s.puts()).toBe(2);
    // A nudge with nothing changed writes nothing.
    const asked = s.sleeper.asked.length;
    s.registration.nudge();
    await until("another round", () => s.sleeper.asked.length > asked);
    expect(s.puts()).toBe(2);
    await s.registration.stop();
  });

  test("a lease that expired (keepAlive false) is granted again and the record rewritten", async () => {
    const s = await setup(3);
    expect(s.sleeper.asked[0]).toBe(1_000);
    const first = s.etcd.leaseOf(KEY)!;
    s.etcd.tick(4); // no keep-alive for longer than the TTL: etcd drops the lease and the key
    expect(s.etcd.kv(KEY)).toBeUndefined();
    await s.sleeper.round();
    const second = s.etcd.leaseOf(KEY);
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    expect(s.stored()).toEqual(RECORD);
    await s.registration.stop();
  });

  test("etcd away: logged once, then again when registered; the record is rewritten after", async () => {
    const s = await setup();
    s.etcd.setAvailable(false);
    await s.sleeper.round();
    await s.sleeper.round();
    expect(s.logs.filter((l) => l.startsWith("fleet: cannot keep this node in the registry"))).toHaveLength(
      1,
    );
    s.etcd.setAvailable(true);
    await s.sleeper.round();
    expect(s.logs.at(-1)).toBe("fleet: registered in the node registry again");
    expect(s.puts()).toBe(2);
    await s.sleeper.round();
    expect(s.puts()).toBe(2);
    expect(s.logs).toHaveLength(2);
    await s.registration.stop();
  });

  test("stop() revokes the lease: the record goes at once", async () => {
    const s = await setup();
    const lease = s.etcd.leaseOf(KEY)!;
    await s.registration.stop();
    expect(s.etcd.kv(KEY)).toBeUndefined();
    expect(s.etcd.hasLease(lease)).toBe(false);
  });

  test("stop() with etcd away still ends", async () => {
    const s = await setup();
    s.etcd.setAvailable(false);
    await s.registration.stop();
    expect(s.etcd.kv(KEY)).toBeDefined(); // it goes when the lease expires
  });
});

describe("decodeNode", () => {
  test("round-trips a full record and a minimal one", () => {
    expect(decodeNode("host-a", encodeNode(RECORD))).toEqual(RECORD);
    const minimal: NodeRecord = {
      name: "host-a",
      addresses: [],
      agentVersion: "",
      startedAt: "2030-05-06T07:08:09.000Z",
      stateRevision: 0,
    };
    expect(decodeNode("host-a", encodeNode(minimal))).toEqual(minimal);
  });

  const base = { version: 1, ...RECORD } as Record<string, unknown>;
  const hostile: Record<string, Uint8Array> = {
    "not JSON": encoder.encode("{"),
    "not UTF-8 JSON": new Uint8Array([0xff]),
    "null": encoder.encode("null"),
    "a list": encoder.encode("[]"),
    "a string": encoder.encode('"host-a"'),
    "another version": json({ ...base, version: 2 }),
    "another node's record under this name": json({ ...base, name: "host-b" }),
    "addresses not a list": json({ ...base, addresses: "10.0.0.1" }),
    "addresses with a number": json({ ...base, addresses: ["10.0.0.1", 5] }),
    "no startedAt": json({ ...base, startedAt: undefined }),
    "stateRevision as text": json({ ...base, stateRevision: "7" }),
    "over 8192 bytes": json({ ...base, agentVersion: "x".repeat(8200) }),
  };
  for (const [name, value] of Object.entries(hostile)) {
    test(`skips ${name}`, () => {
      expect(decodeNode("host-a", value)).toBeUndefined();
    });
  }

  test("trims what it keeps: 16 addresses, a dockerd summary only with a UUID, sane numbers", () => {
    const many = Array.from({ length: 40 }, (_, i) => `10.0.0.${i}`);
    expect(decodeNode("host-a", json({ ...base, addresses: many }))?.addresses).toHaveLength(16);
    expect(decodeNode("host-a", json({ ...base, docker: { ...RECORD.docker, uuid: "not-a-uuid" } }))?.docker)
      .toBeUndefined();
    expect(decodeNode("host-a", json({ ...base, docker: "docker" }))?.docker).toBeUndefined();
    const odd = decodeNode(
      "host-a",
      json({ ...base, docker: { uuid: UUID, cpu: -1, memory: "lots", docker_version: 5 } }),
    );
    expect(odd?.docker).toEqual({
      uuid: UUID,
      docker_version: "",
      docker_graphdriver: "",
      cpu: 0,
      memory: 0,
    });
    expect(
      decodeNode("host-a", json({ ...base, docker: { ...RECORD.docker, docker_version: "v".repeat(500) } }))
        ?.docker
        ?.docker_version,
    ).toHaveLength(128);
    expect(decodeNode("host-a", json({ ...base, listen: 8443 }))).not.toHaveProperty("listen");
    expect(decodeNode("host-a", json({ ...base, agentVersion: 1 }))?.agentVersion).toBe("");
    // Extra fields are dropped, not passed on.
    expect(decodeNode("host-a", json({ ...base, evil: "<script>" }))).not.toHaveProperty("evil");
  });
});
