/** The fleet's state as last seen: a list, then watch events in order; replays skipped; unknown keys reported. */
import { describe, expect, test } from "bun:test";
import type { EtcdEvent, EtcdKeyValue } from "../../../src/fleet/etcd.ts";
import { fleetKeys } from "../../../src/fleet/keys.ts";
import { applyEvents, emptySnapshot, snapshotOf } from "../../../src/fleet/snapshot.ts";
import { decoder, encoder, NONCE_A, NONCE_B } from "./helpers.ts";

const keys = fleetKeys("/agent/prod/");

function kv(key: string, text: string, modRevision: number, createRevision = modRevision): EtcdKeyValue {
  return { key, value: encoder.encode(text), modRevision, createRevision };
}
const put = (key: string, text: string, rev: number): EtcdEvent => ({ type: "put", kv: kv(key, text, rev) });
const del = (key: string, rev: number): EtcdEvent => ({
  type: "delete",
  kv: { key, value: new Uint8Array(), modRevision: rev, createRevision: 0 },
});
const text = (
  raw: { value: Uint8Array } | undefined,
) => (raw === undefined ? undefined : decoder.decode(raw.value));

describe("snapshotOf (a full list)", () => {
  test("sorts each key into pieces, revocations and nodes; everything counts as touched", () => {
    const { snapshot, touched } = snapshotOf(keys, [
      kv("/agent/prod/policy", "P", 3),
      kv("/agent/prod/keyring", "K", 4),
      kv(`/agent/prod/revoked/${NONCE_A}`, "R", 5),
      kv("/agent/prod/nodes/host-a", "N", 6),
      kv("/agent/prod/surprise", "?", 7),
    ], 9);
    expect(snapshot.revision).toBe(9);
    expect([...snapshot.pieces.keys()].sort()).toEqual(["keyring", "policy"]);
    expect(snapshot.pieces.get("policy")).toEqual({ value: encoder.encode("P"), modRevision: 3 });
    expect([...snapshot.revoked.keys()]).toEqual([NONCE_A]);
    expect([...snapshot.nodes.keys()]).toEqual(["host-a"]);
    expect(touched.pieces).toEqual(new Set(["keyring", "policy"]));
    expect(touched.revoked).toBe(true);
    expect(touched.nodes).toBe(true);
    expect(touched.unknown).toEqual(["/agent/prod/surprise"]);
  });

  test("an empty list is an empty snapshot at the list's revision (revocations still touched: a union runs)", () => {
    const { snapshot, touched } = snapshotOf(keys, [], 1);
    expect(snapshot).toEqual({ ...emptySnapshot(), revision: 1 });
    expect(touched.revoked).toBe(true);
    expect(touched.pieces.size).toBe(0);
  });
});

describe("applyEvents", () => {
  function listed() {
    return snapshotOf(
      keys,
      [kv("/agent/prod/policy", "P1", 3), kv(`/agent/prod/revoked/${NONCE_A}`, "R", 4)],
      10,
    )
      .snapshot;
  }

  test("puts and deletes after the revision apply in order; the revision moves to the last event", () => {
    const snapshot = listed();
    const touched = applyEvents(keys, snapshot, [
      put("/agent/prod/policy", "P2", 11),
      put("/agent/prod/policy", "P3", 12),
      put(`/agent/prod/revoked/${NONCE_B}`, "R2", 13),
      del(`/agent/prod/revoked/${NONCE_A}`, 14),
      put("/agent/prod/nodes/host-b", "N", 15),
    ]);
    expect(text(snapshot.pieces.get("policy"))).toBe("P3");
    expect(snapshot.pieces.get("policy")?.modRevision).toBe(12);
    expect([...snapshot.revoked.keys()]).toEqual([NONCE_B]);
    expect([...snapshot.nodes.keys()]).toEqual(["host-b"]);
    expect(snapshot.revision).toBe(15);
    expect(touched.pieces).toEqual(new Set(["policy"]));
    expect(touched.revoked).toBe(true);
    expect(touched.nodes).toBe(true);
    expect(touched.unknown).toEqual([]);
  });

  test("a deleted piece leaves the snapshot and counts as touched", () => {
    const snapshot = listed();
    const touched = applyEvents(keys, snapshot, [del("/agent/prod/policy", 11)]);
    expect(snapshot.pieces.has("policy")).toBe(false);
    expect(touched.pieces).toEqual(new Set(["policy"]));
    expect(touched.revoked).toBe(false);
    expect(snapshot.revision).toBe(11);
  });

  test("puts at or below the revision are already in: skipped, nothing touched, the revision stays", () => {
    const snapshot = listed();
    const touched = applyEvents(keys, snapshot, [
      put("/agent/prod/policy", "OLD", 3),
      put("/agent/prod/policy", "OLDER", 10),
      put(`/agent/prod/revoked/${NONCE_B}`, "R", 9),
    ]);
    expect(text(snapshot.pieces.get("policy"))).toBe("P1");
    expect(snapshot.revoked.has(NONCE_B)).toBe(false);
    expect(touched.pieces.size).toBe(0);
    expect(touched.revoked).toBe(false);
    expect(snapshot.revision).toBe(10);
  });

  test("a replayed batch that straddles the revision applies only what is newer", () => {
    const snapshot = listed();
    applyEvents(keys, snapshot, [put("/agent/prod/policy", "OLD", 9), put("/agent/prod/policy", "NEW", 11)]);
    expect(text(snapshot.pieces.get("policy"))).toBe("NEW");
    expect(snapshot.revision).toBe(11);
  });

  test("unknown keys are reported, not stored; an empty batch changes nothing", () => {
    const snapshot = listed();
    const touched = applyEvents(keys, snapshot, [
      put("/agent/prod/evil", "x", 11),
      put("/agent/prod/policy/../keyring", "x", 12),
      del("/agent/prod/other", 13),
    ]);
    expect(touched.unknown).toEqual([
      "/agent/prod/evil",
      "/agent/prod/policy/../keyring",
      "/agent/prod/other",
    ]);
    expect(snapshot.pieces.size).toBe(1);
    expect(snapshot.revision).toBe(13);
    const none = applyEvents(keys, snapshot, []);
    expect(none.pieces.size + none.unknown.length).toBe(0);
    expect(snapshot.revision).toBe(13);
  });
});
