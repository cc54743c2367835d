/**
 * The follower against the in-memory etcd: the first sync writes the files, changes are applied in order,
 * a hostile value is refused and the last good file kept, a watch that ends resumes right after the last
 * revision applied (nothing missed, nothing twice), a compaction makes it list again, an outage is visible in
 * status() and revocations made here meanwhile reach the fleet once etcd is back.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { FleetFollower, type FollowerDeps } from "../../../src/fleet/follower.ts";
import { loadSnapshotRecord } from "../../../src/fleet/membership.ts";
import { encodeRevoked, type PieceContent } from "../../../src/fleet/values.ts";
import { loadRevocations, saveRevocations } from "../../../src/macaroon/index.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import {
  caFilesOf,
  fleetHost,
  NONCE_A,
  NONCE_B,
  NONCE_C,
  pieces,
  pieceValue,
  quickSleep,
  removeTempDirs,
  until,
} from "./helpers.ts";
import { MemoryEtcd } from "./memory-etcd.ts";

afterAll(removeTempDirs);

const AT = "2030-05-06T07:00:00.000Z";

async function setup(options: Partial<FollowerDeps> = {}) {
  const h = await fleetHost();
  const m = await pieces();
  const etcd = new MemoryEtcd();
  const client = etcd.client("host-a");
  const logs: string[] = [];
  const applied: number[] = [];
  const { sleep, asked } = quickSleep();
  const deps: FollowerDeps = {
    client,
    keys: h.keys,
    files: h.files,
    materialize: h.materialize,
    name: "host-a",
    clock: h.time.clock,
    monotonicMs: h.time.monotonicMs,
    sleep,
    log: (line) => void logs.push(line),
    applied: (revision) => void applied.push(revision),
    ...options,
  };
  const followers: FleetFollower[] = [];
  const follow = (more: Partial<FollowerDeps> = {}) => {
    const follower = new FleetFollower({ ...deps, ...more });
    followers.push(follower);
    follower.start();
    return follower;
  };
  const publish = (content: PieceContent) =>
    etcd.put(h.keys.piece[content.piece], pieceValue(content, h.fleetKey));
  const revokeInFleet = (nonce: string) =>
    etcd.put(`${h.keys.revoked}${nonce}`, encodeRevoked({ nonce, revokedAt: AT, by: "host-b" }));
  const localNonces = async () =>
    (await loadRevocations(nodeFileSystem, h.layout)).revoked.map((r) => r.nonce).sort();
  const logged = (text: string) => logs.some((l) => l.includes(text));
  const stopAll = () => Promise.all(followers.map((f) => f.stop()));
  return {
    h,
    m,
    etcd,
    client,
    logs,
    applied,
    asked,
    deps,
    follow,
    publish,
    revokeInFleet,
    localNonces,
    logged,
    stopAll,
  };
}

type Setup = Awaited<ReturnType<typeof setup>>;

/** The four pieces and one revocation in etcd, then a follower in sync with them. */
async function synced(s: Setup) {
  s.publish({ piece: "policy", text: s.m.policy });
  s.publish({ piece: "ca", files: caFilesOf(s.m.caA) });
  s.publish({ piece: "keyring", fileText: s.m.keyring });
  s.publish({ piece: "apikeys", fileText: s.m.apikeys });
  s.revokeInFleet(NONCE_A);
  const follower = s.follow();
  await follower.firstSync;
  await until("the first sync recorded", () => s.applied.length === 1);
  return follower;
}

describe("the first sync", () => {
  test("writes every piece and the revocations, records the snapshot and says so", async () => {
    const s = await setup();
    const follower = await synced(s);
    const { h, m } = s;
    expect(await h.read(h.files.policy)).toBe(m.policy);
    expect(await h.read(join(h.layout.caDir, "cluster.crt"))).toBe(m.caA["cluster.crt"]);
    expect(await h.read(h.layout.macaroonKeys)).toBe(m.keyring);
    expect(await h.read(h.layout.apiKeys)).toBe(m.apikeys);
    expect(await s.localNonces()).toEqual([NONCE_A]);
    expect(s.applied).toEqual([6]);
    expect(s.logged("fleet: in sync with etcd at memory://etcd, revision 6")).toBe(true);
    const status = follower.status();
    expect(status).toEqual({
      endpoint: "memory://etcd",
      connected: true,
      revision: 6,
      stateRevision: 6,
      contactAt: AT.replace("07:00:00", "07:08:09"),
      staleSeconds: 0,
      refused: {},
    });
    const record = await loadSnapshotRecord(nodeFileSystem, h.files);
    expect(record).toEqual({
      revision: 6,
      contactAt: status.contactAt!,
      applied: { policy: 2, ca: 3, keyring: 4, apikeys: 5 },
    });
    expect(s.etcd.watchStarts.at(-1)).toEqual({ prefix: h.keys.prefix, startRevision: 7, user: "host-a" });
    await s.stopAll();
  });

  test("an empty fleet syncs, writes nothing and calls nothing applied", async () => {
    const s = await setup();
    const follower = s.follow();
    await follower.firstSync;
    expect(follower.status().revision).toBe(1);
    expect(await s.h.read(s.h.files.policy)).toBeUndefined();
    expect(s.applied).toEqual([]);
    await s.stopAll();
  });

  test("a restart from its record redoes nothing that did not change", async () => {
    const s = await setup();
    await synced(s);
    await s.stopAll();
    const previous = await loadSnapshotRecord(nodeFileSystem, s.h.files);
    s.logs.length = 0;
    const again = s.follow({ ...(previous === undefined ? {} : { previous }) });
    await again.firstSync;
    await until("in sync again", () => s.logged("in sync"));
    expect(s.logs.filter((l) => l.includes("applied"))).toEqual([]);
    expect(s.applied).toEqual([6]);
    await s.stopAll();
  });

  test("a hostile piece in the first list is refused; the others still apply", async () => {
    const s = await setup();
    s.etcd.put(s.h.keys.piece.policy, "{not json");
    s.publish({ piece: "apikeys", fileText: s.m.apikeys });
    const follower = s.follow();
    await follower.firstSync;
    await until("the API keys applied", async () => (await s.h.read(s.h.layout.apiKeys)) === s.m.apikeys);
    expect(await s.h.read(s.h.files.policy)).toBeUndefined();
    expect(follower.status().refused["policy"]).toContain("not JSON");
    expect(s.logged("fleet: refusing revision 2: the fleet's policy does not load")).toBe(true);
    await s.stopAll();
  });
});

describe("changes", () => {
  test("a put is applied, the applied callback gets the revision, the log names the piece", async () => {
    const s = await setup();
    await synced(s);
    const revision = s.publish({ piece: "policy", text: s.m.policy2 });
    await until("the new policy", async () => (await s.h.read(s.h.files.policy)) === s.m.policy2);
    await until("applied called", () => s.applied.length === 2);
    expect(s.applied).toEqual([6, revision]);
    expect(s.logged(`fleet: applied the fleet's policy (revision ${revision})`)).toBe(true);
    await s.stopAll();
  });

  test("a revocation put in the fleet is added here; one deleted in the fleet stays here", async () => {
    const s = await setup();
    const follower = await synced(s);
    s.revokeInFleet(NONCE_B);
    await until("B revoked here", async () => (await s.localNonces()).includes(NONCE_B));
    s.etcd.delete(`${s.h.keys.revoked}${NONCE_A}`);
    // The delete removes nothing here, and this host puts the revocation back in the fleet (a union: a
    // deleted key cannot un-revoke a token).
    await until("A published again", () => s.etcd.kv(`${s.h.keys.revoked}${NONCE_A}`) !== undefined);
    expect(s.etcd.kv(`${s.h.keys.revoked}${NONCE_A}`)?.modRevision).toBe(9);
    expect(follower.status().revision).toBeGreaterThanOrEqual(8);
    expect(await s.localNonces()).toEqual([NONCE_A, NONCE_B]);
    await s.stopAll();
  });

  test("a deleted keyring is removed here (id destroy); the applied callback is called", async () => {
    const s = await setup();
    await synced(s);
    const revision = s.etcd.delete(s.h.keys.piece.keyring);
    await until("the keyring removed", async () => (await s.h.read(s.h.layout.macaroonKeys)) === undefined);
    await until("applied called", () => s.applied.includes(revision));
    await s.stopAll();
  });

  test("a hostile value is refused with a log line and the previous file is kept; a good one then applies", async () => {
    const s = await setup();
    const follower = await synced(s);
    const hostile: [keyof typeof s.h.keys.piece, string | Uint8Array][] = [
      ["policy", "{not json"],
      ["policy", pieceValue({ piece: "policy", text: "version: 1\nrules: [\n" }, s.h.fleetKey)],
      ["keyring", pieceValue({ piece: "keyring", fileText: s.m.keyring2 }, new Uint8Array(32).fill(7))],
      ["ca", pieceValue({ piece: "ca", files: { "cluster.crt": "not PEM" } }, s.h.fleetKey)],
      ["apikeys", new Uint8Array(1024 * 1024 + 1).fill(0x20)],
    ];
    for (const [piece, value] of hostile) {
      const revision = s.etcd.put(s.h.keys.piece[piece], value);
      await until(`revision ${revision} refused`, () => s.logged(`fleet: refusing revision ${revision}:`));
      expect(follower.status().refused[piece]).toBeDefined();
    }
    expect(s.logs.filter((l) => l.includes("keeping the last good version"))).toHaveLength(hostile.length);
    expect(await s.h.read(s.h.files.policy)).toBe(s.m.policy);
    expect(await s.h.read(s.h.layout.macaroonKeys)).toBe(s.m.keyring);
    expect(await s.h.read(join(s.h.layout.caDir, "cluster.crt"))).toBe(s.m.caA["cluster.crt"]);
    expect(await s.h.read(s.h.layout.apiKeys)).toBe(s.m.apikeys);
    expect(s.applied).toEqual([6]);
    const good = s.publish({ piece: "policy", text: s.m.policy2 });
    await until("the good policy", () => follower.status().refused["policy"] === undefined);
    expect(await s.h.read(s.h.files.policy)).toBe(s.m.policy2);
    await until("applied called", () => s.applied.includes(good));
    await s.stopAll();
  });

  test("a hostile revocation is refused (logged once) and does not hold back the good ones", async () => {
    const s = await setup();
    await synced(s);
    s.etcd.put(`${s.h.keys.revoked}not-a-nonce`, encodeRevoked({ nonce: "x", revokedAt: AT, by: "evil" }));
    s.etcd.put(`${s.h.keys.revoked}${NONCE_C}`, '{"version":1,"revokedAt":"never"}');
    s.revokeInFleet(NONCE_B);
    await until("B revoked here", async () => (await s.localNonces()).includes(NONCE_B));
    expect(await s.localNonces()).toEqual([NONCE_A, NONCE_B]);
    expect(s.logs.filter((l) => l.includes("refusing a revocation at revision 7"))).toHaveLength(1);
    expect(s.logged("refusing a revocation at revision 8")).toBe(true);
    await s.stopAll();
  });

  test("a key the agent does not know is logged once, by name, and ignored", async () => {
    const s = await setup();
    await synced(s);
    s.etcd.put(`${s.h.keys.prefix}surprise`, "x");
    s.etcd.put(`${s.h.keys.prefix}surprise`, "y");
    s.publish({ piece: "policy", text: s.m.policy2 });
    await until("the policy after it", async () => (await s.h.read(s.h.files.policy)) === s.m.policy2);
    expect(s.logs.filter((l) => l.includes("ignoring"))).toEqual([
      `fleet: ignoring "${s.h.keys.prefix}surprise": not a key the agent knows`,
    ]);
    await s.stopAll();
  });
});

describe("when the watch ends", () => {
  test("it resumes from the next revision with nothing missed", async () => {
    const s = await setup();
    const follower = await synced(s);
    s.etcd.endWatches("timeout");
    // Written before the follower watches again: the new watch replays them.
    s.revokeInFleet(NONCE_B);
    const policy = s.publish({ piece: "policy", text: s.m.policy2 });
    await until("the new policy", async () => (await s.h.read(s.h.files.policy)) === s.m.policy2);
    await until("B revoked here", async () => (await s.localNonces()).includes(NONCE_B));
    expect(await s.localNonces()).toEqual([NONCE_A, NONCE_B]);
    expect(s.etcd.watchStarts.map((w) => w.startRevision)).toEqual([7, 7]);
    expect(follower.status().revision).toBe(policy);
    expect(s.logs.filter((l) => l.includes(`applied the fleet's policy (revision ${policy})`))).toHaveLength(
      1,
    );
    expect(s.logged("fleet: lost etcd (timeout:")).toBe(true);
    await s.stopAll();
  });

  test("it resumes after the last revision applied, not the last one queued (a replayed delete undoes nothing)", async () => {
    // The apply queue may lag behind the watch (file writes; the applied callback is awaited). A watch that
    // ends meanwhile must not start again from a revision whose events are still queued: a delete replayed
    // after the key came back would remove it here while etcd has it.
    let release: () => void = () => {};
    let gate: Promise<void> = Promise.resolve();
    const s = await setup({
      applied: async (revision) => {
        s.applied.push(revision);
        await gate;
      },
    });
    await synced(s);
    gate = new Promise((r) => (release = r));
    s.publish({ piece: "apikeys", fileText: s.m.apikeys.replace("alice", "alicf") }); // apply blocks in applied()
    await until("the API keys change applied", () => s.applied.length === 2);
    s.etcd.delete(s.h.keys.piece.keyring); // queued behind it
    const back = s.publish({ piece: "keyring", fileText: s.m.keyring2 }); // queued too
    await new Promise((r) => setTimeout(r, 2));
    s.etcd.endWatches("timeout");
    await new Promise((r) => setTimeout(r, 2));
    release();
    await until("the watch resumed", () => s.etcd.openWatches === 1 && s.etcd.watchStarts.length === 2);
    await until(
      "the keyring's new version",
      async () => (await s.h.read(s.h.layout.macaroonKeys)) === s.m.keyring2,
    );
    await new Promise((r) => setTimeout(r, 20));
    expect(await s.h.read(s.h.layout.macaroonKeys)).toBe(s.m.keyring2);
    expect(s.etcd.watchStarts.at(-1)?.startRevision).toBe(back + 1);
    await s.stopAll();
  });

  test("after a compaction it lists everything again, with nothing missed", async () => {
    const s = await setup();
    const follower = await synced(s);
    s.etcd.setAvailable(false);
    await until("disconnected", () => !follower.status().connected);
    s.revokeInFleet(NONCE_B);
    s.publish({ piece: "policy", text: s.m.policy2 });
    s.etcd.delete(s.h.keys.piece.apikeys);
    s.etcd.compact();
    s.etcd.setAvailable(true);
    await until("listed again", () => s.logged("listing everything again"));
    await until("the new policy", async () => (await s.h.read(s.h.files.policy)) === s.m.policy2);
    await until("the API keys gone", async () => (await s.h.read(s.h.layout.apiKeys)) === undefined);
    await until("B revoked here", async () => (await s.localNonces()).includes(NONCE_B));
    expect(await s.localNonces()).toEqual([NONCE_A, NONCE_B]);
    expect(s.logged("fleet: revision 7 was compacted in etcd (oldest kept 9): listing everything again"))
      .toBe(true);
    await until(
      "in sync again",
      () => s.logged("fleet: in sync with etcd at memory://etcd, revision 9 (was 6)"),
    );
    expect(follower.status().revision).toBe(9);
    expect(s.etcd.watchStarts.at(-1)?.startRevision).toBe(10);
    await s.stopAll();
  });
});

describe("while etcd is away", () => {
  test("status says disconnected and how stale, growing with the clock; contact again clears it", async () => {
    const s = await setup();
    const follower = await synced(s);
    const contactAt = follower.status().contactAt;
    s.etcd.setAvailable(false);
    await until("disconnected", () => !follower.status().connected);
    expect(s.logged("fleet: lost etcd (unavailable:")).toBe(true);
    expect(s.logged("deciding from the snapshot at revision 6, retrying")).toBe(true);
    expect(follower.status().staleSeconds).toBe(0);
    s.h.time.advance(90_000);
    expect(follower.status()).toMatchObject({ connected: false, staleSeconds: 90, contactAt, revision: 6 });
    s.h.time.advance(3_600_000);
    expect(follower.status().staleSeconds).toBe(3_690);
    // It retried, backing off (capped), without spinning on one failure.
    await until("several retries", () => s.asked.length >= 3);
    expect(Math.max(...s.asked)).toBeLessThanOrEqual(2_000);
    expect(s.logs.filter((l) => l.includes("lost etcd"))).toHaveLength(1);
    s.etcd.setAvailable(true);
    await until("watching again", () => s.etcd.openWatches === 1);
    s.etcd.progress();
    await until("connected", () => follower.status().connected);
    expect(follower.status().staleSeconds).toBe(0);
    expect(follower.status().contactAt).not.toBe(contactAt);
    await s.stopAll();
  });

  test("a watch that says nothing for longer than the idle timeout counts as disconnected", async () => {
    const s = await setup();
    const follower = await synced(s);
    s.h.time.advance(4_000);
    expect(follower.status().connected).toBe(true);
    s.h.time.advance(1_001);
    expect(follower.status()).toMatchObject({ connected: false, staleSeconds: 5 });
    s.etcd.progress();
    await until("connected", () => follower.status().connected);
    await s.stopAll();
  });

  test("never heard from: staleSeconds is null, contactAt null", async () => {
    const s = await setup();
    s.etcd.setAvailable(false);
    const follower = s.follow();
    await until("a retry", () => s.asked.length >= 1);
    expect(follower.status()).toMatchObject({
      connected: false,
      staleSeconds: null,
      contactAt: null,
      revision: 0,
    });
    s.h.time.advance(100_000);
    expect(follower.status().staleSeconds).toBeNull();
    s.etcd.setAvailable(true);
    await follower.firstSync;
    expect(follower.status().connected).toBe(true);
    await s.stopAll();
  });

  test("revocations made here meanwhile are published once etcd is back", async () => {
    const s = await setup();
    const follower = await synced(s);
    s.etcd.setAvailable(false);
    await until("disconnected", () => !follower.status().connected);
    // `agent id revoke` with etcd away: this host's file now, the fleet later.
    const local = await loadRevocations(nodeFileSystem, s.h.layout);
    await mkdir(join(s.h.layout.root, "macaroon"), { recursive: true });
    await saveRevocations(nodeFileSystem, s.h.layout, {
      revoked: [...local.revoked, { nonce: NONCE_C, revokedAt: "2030-05-06T07:30:00.000Z" }],
    });
    s.etcd.setAvailable(true);
    await until("watching again", () => s.etcd.openWatches === 1);
    s.etcd.progress(); // the watch speaks (the real client asks for progress every second)
    await until("C in the fleet", () => s.etcd.kv(`${s.h.keys.revoked}${NONCE_C}`) !== undefined, 1_000);
    expect(JSON.parse(s.etcd.text(`${s.h.keys.revoked}${NONCE_C}`)!)).toEqual({
      version: 1,
      revokedAt: "2030-05-06T07:30:00.000Z",
      by: "host-a",
    });
    expect(s.logged("fleet: published 1 revocation(s) made on this host")).toBe(true);
    // Published once: the put it made comes back on the watch and is not published again.
    await new Promise((r) => setTimeout(r, 10));
    expect(s.logs.filter((l) => l.includes("published"))).toHaveLength(1);
    await s.stopAll();
  });

  test("a revocation already in the fleet is not overwritten by a local copy", async () => {
    const s = await setup();
    await mkdir(join(s.h.layout.root, "macaroon"), { recursive: true });
    await saveRevocations(nodeFileSystem, s.h.layout, {
      revoked: [{ nonce: NONCE_B, revokedAt: "2030-05-06T07:30:00.000Z" }],
    });
    const before = s.revokeInFleet(NONCE_A);
    const follower = s.follow();
    await follower.firstSync;
    await until("B published", () => s.etcd.kv(`${s.h.keys.revoked}${NONCE_B}`) !== undefined);
    expect(s.etcd.kv(`${s.h.keys.revoked}${NONCE_A}`)?.modRevision).toBe(before);
    expect(await s.localNonces()).toEqual([NONCE_A, NONCE_B]);
    await s.stopAll();
  });
});

describe("stop()", () => {
  test("closes the watch, records the snapshot, applies nothing after", async () => {
    const s = await setup();
    const follower = await synced(s);
    await follower.stop();
    expect(s.etcd.openWatches).toBe(0);
    expect((await loadSnapshotRecord(nodeFileSystem, s.h.files))?.revision).toBe(6);
    s.publish({ piece: "policy", text: s.m.policy2 });
    await new Promise((r) => setTimeout(r, 10));
    expect(await s.h.read(s.h.files.policy)).toBe(s.m.policy);
    expect(s.etcd.watchStarts).toHaveLength(1);
  });

  test("ends promptly while etcd is away, and twice is harmless", async () => {
    const s = await setup();
    const follower = await synced(s);
    s.etcd.setAvailable(false);
    await until("retrying", () => s.asked.length >= 2);
    const started = performance.now();
    await follower.stop();
    await follower.stop();
    expect(performance.now() - started).toBeLessThan(500);
    const watches = s.etcd.watchStarts.length;
    await new Promise((r) => setTimeout(r, 10));
    expect(s.etcd.watchStarts.length).toBe(watches);
  });
});
