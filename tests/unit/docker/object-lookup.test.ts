/**
 * The namespace lookups (src/docker/object-lookup.ts): one proof per call that the plugin redeems for exactly
 * that call, withdrawn after it; a cache by full id only; dockerd's documents read strictly.
 */
import { describe, expect, test } from "bun:test";
import { DECISION_PROOF_HEADER, DecisionProofs } from "../../../src/decide/decision-proof.ts";
import type { EngineClient } from "../../../src/docker/engine-client.ts";
import { objectLookup } from "../../../src/docker/object-lookup.ts";
import { seededRandom } from "../../helpers/fixtures.ts";
import { facts } from "../decide/macaroon-gate-helpers.ts";

const WEB = "a1".padEnd(64, "a");
const NET = "0b".padEnd(64, "b");
const EXEC = "e1".padEnd(64, "e");

const DOCUMENTS: Record<string, unknown> = {
  [`/containers/web/json`]: { Id: WEB, Name: "/web", Config: { Labels: { "io.agent.namespace": "alice" } } },
  [`/containers/${WEB}/json`]: {
    Id: WEB,
    Name: "/web",
    Config: { Labels: { "io.agent.namespace": "alice" } },
  },
  [`/containers/a1a1/json`]: { Id: WEB, Name: "/web", Config: { Labels: null } },
  [`/containers/odd/json`]: { Id: WEB, Name: "/odd", Config: { Labels: { a: 1 } } },
  [`/containers/noid/json`]: { Name: "/noid" },
  [`/volumes/v1`]: { Name: "v1", Driver: "local", Labels: null },
  [`/volumes/a%2Fb`]: { Name: "a/b", Labels: { x: "y" } },
  [`/networks/net`]: { Id: NET, Name: "net", Labels: { "io.agent.namespace": "bob" } },
  [`/exec/${EXEC}/json`]: { ID: EXEC, ContainerID: WEB },
  [`/images/tiny%3Alatest/json`]: { Id: "sha256:1", Config: { Labels: { "io.agent.namespace": "bob" } } },
};

function daemon(proofs?: DecisionProofs) {
  const calls: { path: string; redeemed: boolean | undefined }[] = [];
  const client: EngineClient = {
    getJson(path, headers) {
      const proof = headers?.[DECISION_PROOF_HEADER];
      // What the plugin does when dockerd asks it about this very call.
      const redeemed = proofs === undefined || proof === undefined
        ? undefined
        : proofs.redeem(facts("GET", path, { headers: { [DECISION_PROOF_HEADER]: [proof] } }), "request")
          ?.allow;
      calls.push({ path, redeemed });
      return Promise.resolve(DOCUMENTS[path]);
    },
    send: () => Promise.reject(new Error("not used")),
    stream: () => Promise.reject(new Error("not used")),
  };
  return { client, calls };
}

function proofsTable(maxPending?: number) {
  return new DecisionProofs({
    random: seededRandom("object lookup"),
    nowMs: () => 1_000,
    ...(maxPending === undefined ? {} : { maxPending }),
  });
}

function ids() {
  let n = 0;
  return () => (++n).toString(16).padStart(8, "0");
}

describe("each lookup carries its own proof", () => {
  test("the plugin redeems it for exactly that call, and it is withdrawn after", async () => {
    const proofs = proofsTable();
    const { client, calls } = daemon(proofs);
    const lookup = objectLookup({ client, proofs, newId: ids() });
    expect(await lookup.find("container", "web")).toEqual({
      id: WEB,
      name: "web",
      labels: { "io.agent.namespace": "alice" },
    });
    expect(await lookup.find("volume", "a/b")).toEqual({ id: "a/b", name: "a/b", labels: { x: "y" } });
    expect(await lookup.find("network", "nothing")).toBeUndefined();
    expect(await lookup.containerOfExec(EXEC)).toBe(WEB);
    expect(await lookup.imageLabels("tiny:latest")).toEqual({ "io.agent.namespace": "bob" });
    expect(calls.map((c) => c.redeemed)).toEqual([true, true, true, true, true]);
    expect(proofs.pending).toBe(0);
  });

  test("no proof left is an error, never a call without one", async () => {
    const proofs = proofsTable(0);
    const { client, calls } = daemon(proofs);
    const lookup = objectLookup({ client, proofs, newId: ids() });
    await expect(lookup.find("container", "web")).rejects.toMatchObject({ code: "ERR_API_BUSY" });
    expect(calls).toEqual([]);
  });

  test("a proof is withdrawn when the call fails too", async () => {
    const proofs = proofsTable();
    const client: EngineClient = {
      getJson: () => Promise.reject(new Error("down")),
      send: () => Promise.reject(new Error("not used")),
      stream: () => Promise.reject(new Error("not used")),
    };
    const lookup = objectLookup({ client, proofs, newId: ids() });
    await expect(lookup.find("container", "web")).rejects.toThrow("down");
    expect(proofs.pending).toBe(0);
  });

  test("too many lookups in flight fail instead of piling up", async () => {
    let release: () => void = () => {};
    const client: EngineClient = {
      getJson: () => new Promise((resolve) => (release = () => resolve(undefined))),
      send: () => Promise.reject(new Error("not used")),
      stream: () => Promise.reject(new Error("not used")),
    };
    const lookup = objectLookup({ client, maxInFlight: 1 });
    const first = lookup.find("container", "web");
    await expect(lookup.find("container", "db")).rejects.toMatchObject({ code: "ERR_DOCKER_RESPONSE" });
    release();
    expect(await first).toBeUndefined();
  });
});

describe("the cache holds full ids only", () => {
  test("names always ask dockerd; a full id already seen does not", async () => {
    const { client, calls } = daemon();
    const lookup = objectLookup({ client });
    await lookup.find("container", "web");
    await lookup.find("container", "web");
    expect(calls).toHaveLength(2);
    expect((await lookup.find("container", WEB))?.name).toBe("web");
    expect(calls).toHaveLength(2);
    await lookup.find("network", "net");
    await lookup.find("network", NET);
    expect(calls).toHaveLength(3);
    // A container's full id is not a network's.
    expect(await lookup.find("network", WEB)).toBeUndefined();
    expect(calls).toHaveLength(4);
  });

  test("volumes are never cached (a name is their only id); exec instances by full id", async () => {
    const { client, calls } = daemon();
    const lookup = objectLookup({ client });
    await lookup.find("volume", "v1");
    await lookup.find("volume", "v1");
    await lookup.containerOfExec(EXEC);
    await lookup.containerOfExec(EXEC);
    expect(calls.map((c) => c.path)).toEqual(["/volumes/v1", "/volumes/v1", `/exec/${EXEC}/json`]);
  });

  test("bounded: the least recently used entry goes first", async () => {
    const ids = ["1", "2", "3"].map((d) => d.repeat(64));
    const client: EngineClient = {
      getJson: (path) => {
        const id = path.split("/")[2]!;
        return Promise.resolve({ Id: id, Name: `/c${id[0]}`, Config: {} });
      },
      send: () => Promise.reject(new Error("not used")),
      stream: () => Promise.reject(new Error("not used")),
    };
    let asked = 0;
    const counting: EngineClient = { ...client, getJson: (path, h) => (asked++, client.getJson(path, h)) };
    const lookup = objectLookup({ client: counting, maxEntries: 2 });
    await lookup.find("container", ids[0]!);
    await lookup.find("container", ids[1]!);
    await lookup.find("container", ids[0]!); // refreshed: now 1 is the oldest
    await lookup.find("container", ids[2]!);
    expect(lookup.size).toBe(2);
    expect(asked).toBe(3);
    await lookup.find("container", ids[0]!);
    expect(asked).toBe(3);
    await lookup.find("container", ids[1]!);
    expect(asked).toBe(4);
  });
});

describe("dockerd's documents are read strictly", () => {
  test("null labels are none; labels of another type or a missing id are unreadable", async () => {
    const { client } = daemon();
    const lookup = objectLookup({ client });
    expect((await lookup.find("container", "a1a1"))?.labels).toEqual({});
    expect((await lookup.find("volume", "v1"))?.labels).toEqual({});
    await expect(lookup.find("container", "odd")).rejects.toMatchObject({ code: "ERR_DOCKER_RESPONSE" });
    await expect(lookup.find("container", "noid")).rejects.toMatchObject({ code: "ERR_DOCKER_RESPONSE" });
    expect(await lookup.find("container", "")).toBeUndefined();
  });

  test("proofs need an id source", () => {
    const { client } = daemon();
    expect(() => objectLookup({ client, proofs: proofsTable() })).toThrow();
  });
});
