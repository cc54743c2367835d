/**
 * The gRPC etcd client (src/runtime/etcd-grpc.ts) against a real 3-member etcd cluster with mTLS from the
 * agent's CA: KV and compare-and-swap, watches that survive a killed and a frozen member without missing an
 * event, compaction, leases, and per-prefix auth by certificate CN. Needs etcd, not dockerd.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { EtcdError, type EtcdEvent, type EtcdWatch, type WatchOptions } from "../../src/fleet/etcd.ts";
import { connectEtcd } from "../../src/runtime/etcd-grpc.ts";
import {
  enableFleetAuth,
  type EtcdCluster,
  etcdSkipBanner,
  etcdUnavailable,
  startEtcdCluster,
} from "./etcd-harness.ts";
import { agentCli, tempDir, waitFor } from "./harness.ts";

const unavailable = etcdUnavailable();
if (unavailable) etcdSkipBanner("etcd-client.e2e.test.ts", unavailable);

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (value: Uint8Array) => dec.decode(value);

/** Fails the test with `error`'s code and message, or returns them. */
async function refusal(promise: Promise<unknown>): Promise<EtcdError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(EtcdError);
    return error as EtcdError;
  }
  throw new Error("expected an EtcdError");
}

/**
 * A watch that resumes: each time it ends with an error it starts again from the last revision seen + 1 (as
 * the fleet code will), on whichever endpoint the client now prefers. Records every event and every end.
 */
class ResumingWatch {
  readonly events: EtcdEvent[] = [];
  readonly ends: { error: EtcdError | undefined; at: number; endpoint: string }[] = [];
  readonly endpoints: string[] = [];
  #next: number;
  #watch: EtcdWatch | undefined;
  #closed = false;

  constructor(
    readonly client: ReturnType<typeof connectEtcd>,
    readonly prefix: string,
    start: number,
    readonly options: WatchOptions = {},
  ) {
    this.#next = start;
    this.#open();
  }

  #open(): void {
    const endpoint = this.client.endpoint;
    this.#watch = this.client.watch(this.prefix, this.#next, {
      onEvents: (events) => {
        for (const e of events) {
          this.events.push(e);
          this.#next = e.kv.modRevision + 1;
        }
        this.endpoints.push(this.client.endpoint);
      },
      onEnd: (error) => {
        this.ends.push({ error, at: performance.now(), endpoint });
        if (error && !this.#closed) this.#open();
      },
    }, this.options);
  }

  close(): void {
    this.#closed = true;
    this.#watch?.close();
  }
}

describe.skipIf(unavailable !== undefined)("etcd gRPC client against a 3-member cluster", () => {
  let cluster: EtcdCluster;

  beforeAll(async () => {
    cluster = await startEtcdCluster({ members: 3 });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  test("put, get, list, compare-and-swap and delete", async () => {
    const client = await cluster.client("root");
    const r1 = await client.put("/kv/a", enc.encode("one"));
    const r2 = await client.put("/kv/b", enc.encode("two"));
    await client.put("/kvz", enc.encode("outside the prefix"));
    expect(r2).toBeGreaterThan(r1);

    const got = await client.get("/kv/a");
    expect(got.kv?.key).toBe("/kv/a");
    expect(text(got.kv?.value ?? new Uint8Array())).toBe("one");
    expect(got.kv?.modRevision).toBe(r1);
    expect(got.kv?.createRevision).toBe(r1);
    expect(got.kv?.value).toBeInstanceOf(Uint8Array);
    expect((await client.get("/kv/missing")).kv).toBeUndefined();

    const listed = await client.list("/kv/");
    expect(listed.kvs.map((kv) => kv.key)).toEqual(["/kv/a", "/kv/b"]);
    expect(listed.revision).toBeGreaterThanOrEqual(r2);

    // Compare-and-swap on mod_revision: the first wins, the second (same base revision) is a conflict.
    const r3 = await client.put("/kv/a", enc.encode("uno"), { ifModRevision: r1 });
    expect(r3).toBeGreaterThan(r2);
    const lost = await refusal(client.put("/kv/a", enc.encode("eins"), { ifModRevision: r1 }));
    expect(lost.code).toBe("conflict");
    expect(lost.message).not.toContain("eins");
    expect(text((await client.get("/kv/a")).kv?.value ?? new Uint8Array())).toBe("uno");
    // 0 = the key must not exist.
    await client.put("/kv/c", enc.encode("new"), { ifModRevision: 0 });
    expect((await refusal(client.put("/kv/c", enc.encode("again"), { ifModRevision: 0 }))).code).toBe(
      "conflict",
    );

    const r4 = await client.delete("/kv/b");
    expect(r4).toBeGreaterThan(r3);
    expect((await client.get("/kv/b")).kv).toBeUndefined();
    expect((await client.list("/kv/")).kvs.map((kv) => kv.key)).toEqual(["/kv/a", "/kv/c"]);

    // Over etcd's 1.5 MiB request limit.
    expect((await refusal(client.put("/kv/big", new Uint8Array(2 * 1024 * 1024)))).code).toBe("too_large");
  });

  test("a call moves on past an endpoint that refuses connections, each endpoint once", async () => {
    const dead = "https://localhost:1";
    const options = await cluster.options("root", [dead, cluster.endpoints[1] as string]);
    const client = connectEtcd(options);
    try {
      expect(client.endpoint).toBe(dead);
      await client.put("/rot/x", enc.encode("1"));
      expect(client.endpoint).toBe(cluster.endpoints[1] as string);
    } finally {
      client.close();
    }
    const none = connectEtcd({ ...options, endpoints: [dead, "https://localhost:2"] });
    try {
      const error = await refusal(none.get("/rot/x"));
      expect(error.code).toBe("unavailable");
      expect(error.message).toContain("https://localhost:1, https://localhost:2");
    } finally {
      none.close();
    }
  });

  test("an https://127.0.0.1 endpoint works (the certificate is checked against the IP)", async () => {
    const port = new URL(cluster.endpoints[0] as string).port;
    const client = connectEtcd(await cluster.options("root", [`https://127.0.0.1:${port}`]));
    try {
      expect((await client.put("/ip/x", enc.encode("1"))) > 0).toBe(true);
    } finally {
      client.close();
    }
  });

  test("a watch delivers puts and deletes in order from its start revision, and progress", async () => {
    const client = await cluster.client("root");
    const start = await client.put("/w1/a", enc.encode("1"));
    await client.put("/w1/b", enc.encode("2"));
    await client.put("/other", enc.encode("not watched"));
    await client.delete("/w1/a");
    const last = await client.put("/w1/b", enc.encode("3"));
    const events: EtcdEvent[] = [];
    const progress: number[] = [];
    let ended: { error: EtcdError | undefined } | undefined;
    const watch = client.watch("/w1/", start, {
      onEvents: (batch) => events.push(...batch),
      onProgress: (revision) => progress.push(revision),
      onEnd: (error) => ended = { error },
    }, { progressIntervalMs: 200 });
    await waitFor("4 events", () => Promise.resolve(events.length >= 4), 5_000);
    expect(events.map((e) => `${e.type} ${e.kv.key} ${text(e.kv.value)}`)).toEqual([
      "put /w1/a 1",
      "put /w1/b 2",
      "delete /w1/a ",
      "put /w1/b 3",
    ]);
    expect(events[3]?.kv.modRevision).toBe(last);
    await waitFor("a progress at the last revision", () => Promise.resolve(progress.includes(last)), 5_000);
    expect(Math.max(...progress)).toBeLessThanOrEqual(last);
    watch.close();
    expect(ended).toEqual({ error: undefined });
  });

  test("the watch's member (the leader) killed: the watch ends, a new one elsewhere misses nothing (51/51)", async () => {
    const leader = cluster.leader();
    expect(leader).toBeDefined();
    const victim = cluster.member(leader ?? 0);
    const others = cluster.endpoints.filter((e) => e !== victim.endpoint);
    // The watcher prefers the leader; the writer never talks to it. A put sent just after the kill can be lost
    // with the leader (etcd answers "request timed out" after 7 s): the writer's deadline moves it on.
    const watcher = await cluster.client("root", [victim.endpoint, ...others]);
    const writer = connectEtcd(await cluster.options("root", others));
    try {
      const start = (await writer.list("/w2/")).revision + 1;
      const watch = new ResumingWatch(watcher, "/w2/", start);
      let end = start;
      for (let i = 0; i < 51; i++) {
        end = await writer.put(`/w2/k${String(i).padStart(2, "0")}`, enc.encode(String(i)));
        if (i === 20) {
          await waitFor("the first events", () => Promise.resolve(watch.events.length > 0), 5_000);
          await victim.kill();
        }
      }
      await waitFor(
        "every event",
        () => Promise.resolve(watch.events.at(-1)?.kv.modRevision === end),
        15_000,
      );
      watch.close();
      // Nothing missed, nothing twice: only this test writes, so the revisions are contiguous. (A put the dead
      // leader took with it and the writer retried could appear twice, legitimately: values deduplicated.)
      const revisions = watch.events.map((e) => e.kv.modRevision);
      expect(revisions).toEqual(Array.from({ length: end - start + 1 }, (_, i) => start + i));
      const values = watch.events.map((e) => text(e.kv.value)).filter((v, i, all) => v !== all[i - 1]);
      expect(values).toEqual(Array.from({ length: 51 }, (_, i) => String(i)));
      const first = watch.ends[0];
      expect(first?.endpoint).toBe(victim.endpoint);
      expect(first?.error?.code).toBe("unavailable");
      expect(watch.ends.length).toBe(2); // the kill, and close()
      expect(watcher.endpoint).not.toBe(victim.endpoint);
    } finally {
      writer.close();
      if (!victim.running) await victim.start();
    }
    expect(victim.running).toBe(true);
  });

  test("the watch's member frozen (SIGSTOP): the watch ends with timeout, a new one elsewhere goes on", async () => {
    // A follower: the test is about the watch (freezing the leader would stall writes for an election).
    const leader = cluster.leader() ?? 0;
    const frozen = cluster.member((leader + 1) % 3);
    const others = cluster.endpoints.filter((e) => e !== frozen.endpoint);
    const watcher = await cluster.client("root", [frozen.endpoint, ...others]);
    // Should leadership move meanwhile, a put lost with a frozen leader times out and goes to the other member.
    const writer = connectEtcd(await cluster.options("root", others));
    const idleTimeoutMs = 1_500;
    try {
      const start = await writer.put("/w3/k0", enc.encode("0"));
      const watch = new ResumingWatch(watcher, "/w3/", start, { idleTimeoutMs, progressIntervalMs: 300 });
      await waitFor("the first event", () => Promise.resolve(watch.events.length === 1), 5_000);
      const stoppedAt = performance.now();
      frozen.stop();
      await waitFor("the watch to end", () => Promise.resolve(watch.ends.length > 0), 10_000);
      const end = watch.ends[0];
      expect(end?.error?.code).toBe("timeout");
      expect(end?.endpoint).toBe(frozen.endpoint);
      // Within the idle timeout of the last message (progress every 300 ms), plus scheduling slack.
      expect((end?.at ?? 0) - stoppedAt).toBeLessThan(idleTimeoutMs + 1_000);
      for (let i = 1; i <= 10; i++) await writer.put(`/w3/k${i}`, enc.encode(String(i)));
      await waitFor("11 events", () => Promise.resolve(watch.events.length >= 11), 10_000);
      watch.close();
      const values = watch.events.map((e) => text(e.kv.value)).filter((v, i, all) => v !== all[i - 1]);
      expect(values).toEqual(Array.from({ length: 11 }, (_, i) => String(i)));
      expect(others).toContain(watcher.endpoint);
    } finally {
      frozen.cont();
      writer.close();
    }
    await waitFor("the thawed member", async () => {
      const probe = connectEtcd({
        ...(await cluster.options("root", [frozen.endpoint])),
        callTimeoutMs: 1_000,
      });
      try {
        return (await probe.get("/w3/k0")).kv !== undefined;
      } finally {
        probe.close();
      }
    }, 15_000);
  });

  test("a watch from a compacted revision ends with compacted and the compact revision", async () => {
    const client = await cluster.client("root");
    const from = await client.put("/w4/a", enc.encode("1"));
    await client.put("/w4/a", enc.encode("2"));
    const compactAt = await client.put("/w4/a", enc.encode("3"));
    await cluster.compact(compactAt);
    const ended = await new Promise<EtcdError | undefined>((resolve) => {
      client.watch("/w4/", from, { onEvents: () => {}, onEnd: resolve });
    });
    expect(ended?.code).toBe("compacted");
    expect(ended?.compactRevision).toBe(compactAt);
    // From the compact revision on, the watch works again.
    const events: EtcdEvent[] = [];
    const watch = client.watch("/w4/", compactAt, {
      onEvents: (batch) => events.push(...batch),
      onEnd: () => {},
    });
    await waitFor("the kept event", () => Promise.resolve(events.length === 1), 5_000);
    watch.close();
    expect(text(events[0]?.kv.value ?? new Uint8Array())).toBe("3");
  });

  test("a lease kept alive holds its key; once it expires the key goes", async () => {
    const client = await cluster.client("root");
    const lease = await client.grantLease(2);
    expect(lease).toMatch(/^[1-9][0-9]*$/);
    await client.put("/lease/node-a", enc.encode("here"), { lease });
    for (let i = 0; i < 3; i++) {
      await Bun.sleep(1_000);
      expect(await client.keepAlive(lease)).toBe(true);
    }
    expect((await client.get("/lease/node-a")).kv).toBeDefined();
    await waitFor(
      "the key to expire with its lease",
      async () => (await client.get("/lease/node-a")).kv === undefined,
      8_000,
    );
    expect(await client.keepAlive(lease)).toBe(false);
    // Revoked: the key goes at once; revoking again is fine.
    const second = await client.grantLease(30);
    await client.put("/lease/node-b", enc.encode("here"), { lease: second });
    await client.revokeLease(second);
    expect((await client.get("/lease/node-b")).kv).toBeUndefined();
    await client.revokeLease(second);
  });

  test("a client with a CA that did not sign the members is unavailable, and says why", async () => {
    const dir = tempDir("etcd-other-ca");
    try {
      const r = await agentCli(["ca", "init", "--state-dir", dir]);
      expect(r.code).toBe(0);
      const otherCa = readFileSync(join(dir, "ca", "cluster.crt"), "utf8");
      const root = await cluster.clientCert("root");
      const client = connectEtcd({
        endpoints: cluster.endpoints,
        caPem: otherCa,
        certPem: root.certPem,
        keyPem: root.keyPem,
      });
      try {
        const error = await refusal(client.get("/kv/a"));
        expect(error.code).toBe("unavailable");
        expect(error.message).toContain("TLS handshake failed");
        expect(error.message).toContain("unable to verify");
        expect(error.message).not.toContain("PRIVATE KEY");
      } finally {
        client.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Last: auth stays on for the rest of the cluster's life.
  test("auth by certificate CN: a host reads and revokes, is refused on policy; an unknown CN is refused", async () => {
    const root = await cluster.client("root");
    await root.put("/fleet/policy", enc.encode("v1"));
    await enableFleetAuth(root, { prefix: "/fleet/", hosts: ["host-a"] });
    expect(await root.auth.users()).toEqual(expect.arrayContaining(["root", "host-a"]));
    expect(await root.auth.roles()).toContain("fleet-host");

    const host = await cluster.client("host-a");
    expect(text((await host.get("/fleet/policy")).kv?.value ?? new Uint8Array())).toBe("v1");
    const revoked = await host.put("/fleet/revoked/nonce-1", enc.encode("1"));
    expect((await host.list("/fleet/revoked/")).kvs.map((kv) => kv.modRevision)).toEqual([revoked]);
    const denied = await refusal(host.put("/fleet/policy", enc.encode("grant everything")));
    expect(denied.code).toBe("permission_denied");
    expect(denied.message).not.toContain("grant everything");
    expect((await refusal(host.get("/elsewhere"))).code).toBe("permission_denied");
    // The host's watch on the prefix sees its revocation; root may still change the policy.
    const events: EtcdEvent[] = [];
    const watch = host.watch("/fleet/", revoked, { onEvents: (b) => events.push(...b), onEnd: () => {} });
    await root.put("/fleet/policy", enc.encode("v2"));
    await waitFor("the host's events", () => Promise.resolve(events.length === 2), 5_000);
    watch.close();
    expect(events.map((e) => e.kv.key)).toEqual(["/fleet/revoked/nonce-1", "/fleet/policy"]);

    // etcd 3.4 answers an unknown CN with "permission denied" too; the message points at the CN.
    const stranger = await cluster.client("stranger");
    const refused = await refusal(stranger.get("/fleet/policy"));
    expect(refused.code).toBe("permission_denied");
    expect(refused.message).toContain("CN");
  });
});
