/**
 * The events endpoint with the real decision core and event log, a fake websocket: the auth message, live
 * events and a replay from `since`, each subscriber's namespaces only, Docker Cloud's filters, the relist
 * error (4410), a subscriber too slow to keep up cut off (4429) without holding back the others, NDJSON.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { StreamDeps } from "../../../src/api/events.ts";
import type { WebSocketAccept, WebSocketPeer, WebSocketSession } from "../../../src/ports.ts";
import { EventLog, type NewStreamEvent } from "../../../src/stream/index.ts";
import { removeTempDirs } from "../ca/helpers.ts";
import { apiHarness, type CaFixture, caFixture, withCertificate } from "./helpers.ts";
import { loadPolicy } from "../../../src/policy/index.ts";

let ca: CaFixture;
beforeAll(async () => {
  ca = await caFixture();
});
afterAll(removeTempDirs);

const POLICY = `version: 1
groups:
  team: [alice, carol]
rules:
  - id: events
    who: [alice, carol]
    allow: ["container:*", system:events]
`;

function event(namespace: string, n: number, type: NewStreamEvent["type"] = "container"): NewStreamEvent {
  const uri = `/api/app/v1/${namespace}/container/${String(n).padStart(64, "0")}/`;
  return {
    type,
    action: "update",
    parents: [`/api/app/v1/${namespace}/service/00000000-0000-4000-8000-00000000000${n % 10}/`],
    resource_uri: uri,
    state: "Running",
    uuid: String(n).padStart(64, "0"),
    datetime: "2026-06-01T10:00:00Z",
    namespace,
  };
}

class FakePeer implements WebSocketPeer {
  readonly sent: Record<string, unknown>[] = [];
  closed: { code: number; reason: string } | undefined;
  constructor(private room = Infinity) {}
  get bufferedBytes() {
    return 0;
  }
  sendText(text: string) {
    if (this.room <= 0) return false;
    this.room--;
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
    return true;
  }
  sendBinary() {
    return true;
  }
  close(code: number, reason: string) {
    this.closed ??= { code, reason };
  }
}

function setup(policy = POLICY) {
  const events = new EventLog({ latest: 100 });
  const stream: StreamDeps = { events, setInterval: () => 0, clearInterval: () => undefined };
  const api = apiHarness(ca.gates(policy), { policy: loadPolicy(policy, "policy.yaml"), stream });
  /** Opens the events websocket as `who`; the session and what the fake peer received. */
  const open = async (who: "alice" | "carol", path: string, peer = new FakePeer()) => {
    let accepted: WebSocketAccept | undefined;
    const marker = new Response(null, { status: 200, headers: { "x-test": "accepted" } });
    const res = await api.request(path, {}, {
      ...withCertificate(ca.pems[who]),
      websocket: {
        accept: (fn) => {
          accepted = fn;
          return marker;
        },
      },
    });
    let session: WebSocketSession | undefined;
    if (accepted !== undefined) session = accepted(peer);
    return { res, peer, session, accepted: accepted !== undefined };
  };
  return { api, events, open };
}

describe("the events endpoint", () => {
  test("needs a websocket or NDJSON; decided as system:events; bad filters and since are 400", async () => {
    const { api, open } = setup();
    const plain = await api.request("/api/audit/v1/events/", {}, withCertificate(ca.pems.alice));
    expect(plain.status).toBe(400);
    expect((await plain.json() as { error: string }).error).toMatch(/^events are a websocket/);
    for (const query of ["?since=abc", "?since=-1", "?type=nope"]) {
      const r = await open("alice", `/api/audit/v1/events/${query}`);
      expect({ query, status: r.res.status, accepted: r.accepted }).toEqual({
        query,
        status: 400,
        accepted: false,
      });
    }
    const refused = setup(
      `version: 1\nrules:\n  - id: none\n    who: [alice]\n    allow: [container:list]\n`,
    );
    const r = await refused.open("alice", "/api/audit/v1/events/");
    expect([r.res.status, r.accepted]).toEqual([403, false]);
    expect(refused.api.events.at(-1)).toMatchObject({ action: "system:events", allow: false });
  });

  test("auth first, then live events of the caller's namespaces only, filtered", async () => {
    const { events, open } = setup();
    const alice = await open("alice", "/api/audit/v1/events/");
    const teamOnly = await open("alice", "/api/audit/v1/team/events/?type=container");
    const carol = await open("carol", "/api/audit/v1/events/");
    expect(alice.peer.sent[0]).toMatchObject({ type: "auth", user: "alice", seq: 100 });
    events.append(event("alice", 1));
    events.append(event("team", 2));
    events.append(event("carol", 3));
    events.append(event("bob", 4));
    events.append(event("team", 5, "service"));
    const seqOf = (p: FakePeer) => p.sent.slice(1).map((m) => m["seq"]);
    expect(seqOf(alice.peer)).toEqual([101, 102, 105]);
    expect(seqOf(teamOnly.peer)).toEqual([102]);
    expect(seqOf(carol.peer)).toEqual([102, 103, 105]);
    expect(JSON.stringify(alice.peer.sent)).not.toContain("/bob/");
    expect(alice.peer.sent[1]).not.toHaveProperty("namespace");
    alice.session!.onClose!(1000, "");
    events.append(event("alice", 6));
    expect(seqOf(alice.peer)).toEqual([101, 102, 105]);
  });

  test("since replays what the caller missed, exactly once; too old is relist (4410)", async () => {
    const { events, open } = setup();
    for (let n = 1; n <= 5; n++) events.append(event("alice", n));
    const resumed = await open("alice", "/api/audit/v1/events/?since=102");
    events.append(event("alice", 6));
    expect(resumed.peer.sent.slice(1).map((m) => m["seq"])).toEqual([103, 104, 105, 106]);
    const old = await open("alice", "/api/audit/v1/events/?since=5");
    expect(old.peer.closed).toEqual({ code: 4410, reason: "relist" });
    expect(old.peer.sent[1]).toMatchObject({ type: "error", relist: true, oldest: 101 });
    const future = await open("alice", "/api/audit/v1/events/?since=9999");
    expect(future.peer.closed?.code).toBe(4410);
  });

  test("a long gap is replayed in batches that let the socket drain, then live: each event once", async () => {
    const { events, open } = setup();
    for (let n = 1; n <= 1700; n++) events.append(event("alice", n));
    class DrainingPeer extends FakePeer {
      queued = 0;
      override get bufferedBytes() {
        return this.queued;
      }
      override sendText(text: string) {
        this.queued += text.length;
        return super.sendText(text);
      }
    }
    const peer = new DrainingPeer();
    const resumed = await open("alice", "/api/audit/v1/events/?since=100", peer);
    // The socket drains while the replay waits; events come meanwhile.
    for (let round = 0; round < 10; round++) {
      peer.queued = 0;
      events.append(event("alice", 2000 + round));
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    const seqs = resumed.peer.sent.slice(1).map((m) => m["seq"] as number);
    expect(seqs).toEqual(Array.from({ length: 1710 }, (_, i) => 101 + i));
    expect(resumed.peer.closed).toBeUndefined();
  });

  test("a subscriber that cannot keep up is cut off (4429), told where to resume; the others are not", async () => {
    const { events, open } = setup();
    const slow = await open("alice", "/api/audit/v1/events/", new FakePeer(3));
    const fast = await open("alice", "/api/audit/v1/events/");
    for (let n = 1; n <= 10; n++) events.append(event("alice", n));
    expect(slow.peer.closed).toEqual({ code: 4429, reason: "too slow" });
    expect(fast.peer.closed).toBeUndefined();
    expect(fast.peer.sent.length).toBe(11);
  });

  test("NDJSON: one event per line, the relist as 410", async () => {
    const { api, events } = setup();
    for (let n = 1; n <= 3; n++) events.append(event("alice", n));
    const res = await api.request("/api/audit/v1/events/?since=101", {
      headers: { accept: "application/x-ndjson" },
    }, withCertificate(ca.pems.alice));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    const reader = res.body!.getReader();
    let text = "";
    while (text.split("\n").length < 3) text += new TextDecoder().decode((await reader.read()).value);
    const lines = text.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.seq)).toEqual([102, 103]);
    await reader.cancel();
    const gone = await api.request("/api/audit/v1/events/?since=1", {
      headers: { accept: "application/x-ndjson" },
    }, withCertificate(ca.pems.alice));
    expect(gone.status).toBe(410);
  });
});
