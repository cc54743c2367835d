/**
 * The Stream API end to end, against a real dockerd guarded by the agent and its real HTTPS listener, with
 * the agent's own websocket client: alice's event stream shows her service's containers created, started,
 * stopped and destroyed with their states and parents, and never bob's; a client dropped mid-stream and
 * resumed with `since` gets every event exactly once; a `since` older than what is kept gets the relist
 * error; 200 subscribers all get a burst of 1,000 events; one that stops reading is cut off while the
 * others keep up; the same stream as NDJSON; logs follow across a 30 s quiet period; exec carries stdin in
 * and the exit code out; a read-only key is refused exec and wrong credentials are refused, both before
 * the upgrade; one client address gets at most its share of websockets.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import { join } from "node:path";
import { API_LIMITS } from "../../src/api/limits.ts";
import type { WebSocketPeer } from "../../src/ports.ts";
import { bunPlatform } from "../../src/runtime/bun-platform.ts";
import {
  e2eUnavailable,
  type GuardedHost,
  run,
  skipBanner,
  startApiHost,
  tempDir,
  waitFor,
} from "./harness.ts";

const unavailable = e2eUnavailable() ?? (Bun.which("curl") ? undefined : "curl is not installed");
if (unavailable) skipBanner("api-stream.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

const POLICY = `version: 1
groups:
  team: [alice, carol]
rules:
  - id: local-reads          # the test's docker CLI (the unix socket) may look and import the image
    who: anonymous
    allow: [container:list, container:inspect, "image:*"]
  - id: writers
    who: [alice, bob]
    allow: ["container:*", "exec:*", "system:events"]
  - id: reader
    who: [carol]
    allow: [container:list, container:inspect, container:logs, system:events]
`;

type Message = Record<string, unknown>;

interface Client {
  readonly peer: WebSocketPeer;
  readonly messages: Message[];
  readonly closed: Promise<{ code: number; reason: string }>;
}

maybe("the Stream API over websockets", () => {
  const plugin = `agent-api-stream-e2e-${process.pid}`;
  let port: number;
  let base: string;
  let state: string;
  let host: GuardedHost;
  let caPem: string;
  const keys: Record<string, string> = {};
  const auth = (user: string) => `Basic ${btoa(`${user}:${keys[user]}`)}`;

  const rest = async (user: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: auth(user),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      tls: { ca: caPem },
    } as RequestInit);
    const text = await res.text();
    return { status: res.status, body: (text === "" ? {} : JSON.parse(text)) as Message };
  };

  const connect = async (path: string, authorization: string, localAddress?: string): Promise<Client> => {
    const messages: Message[] = [];
    let closed!: (value: { code: number; reason: string }) => void;
    const done = new Promise<{ code: number; reason: string }>((resolve) => (closed = resolve));
    const peer = await bunPlatform.websocketConnect(
      `wss://127.0.0.1:${port}${path}`,
      { headers: { authorization }, caPem, ...(localAddress === undefined ? {} : { localAddress }) },
      () => ({
        onText: (text) => messages.push(JSON.parse(text) as Message),
        onClose: (code, reason) => closed({ code, reason }),
      }),
    );
    return { peer, messages, closed: done };
  };

  const events = (client: Client) => client.messages.filter((m) => m["type"] !== "auth");

  const runService = async (user: string, name: string, command: unknown = "sleep 3600", ns = "") => {
    const services = `/api/app/v1/${ns === "" ? "" : `${ns}/`}service/`;
    const created = await rest(user, "POST", services, { image: "tiny:latest", name, run_command: command });
    expect(created.status).toBe(201);
    const uuid = created.body["uuid"] as string;
    const started = await rest(user, "POST", `${services}${uuid}/start/`);
    expect(started.status).toBe(202);
    return {
      uuid,
      uri: created.body["resource_uri"] as string,
      containers: started.body["containers"] as string[],
    };
  };

  beforeAll(async () => {
    const api = await startApiHost({
      dir: tempDir("api-stream"),
      plugin,
      policy: POLICY,
      users: ["alice", "bob", "carol"],
    });
    ({ host, state, caPem, port, base } = api);
    Object.assign(keys, api.keys);
    // The agent follows dockerd's events once dockerd is up.
    await waitFor(
      "the agent's dockerd event stream",
      () => Promise.resolve(host.agent.log().includes("is back")),
      20_000,
    ).catch(() => undefined);
  }, 180_000);

  afterAll(async () => {
    await host?.stop();
  }, 60_000);

  test("wrong credentials and no credentials are refused before the upgrade", async () => {
    const wrong = `Basic ${btoa(`alice:${keys["bob"]}`)}`;
    await expect(connect("/api/audit/v1/events/", wrong)).rejects.toThrow(/answered 401/);
    await expect(connect("/api/audit/v1/events/", "")).rejects.toThrow(/answered 401/);
    await expect(connect("/api/audit/v1/events/?since=abc", auth("alice"))).rejects.toThrow(/answered 400/);
  });

  test("alice's stream shows her service's containers with states and parents, and never bob's", async () => {
    const alice = await connect("/api/audit/v1/events/", auth("alice"));
    const bob = await connect("/api/audit/v1/events/", auth("bob"));
    const web = await runService("alice", "web");
    const other = await runService("bob", "other");
    expect((await rest("alice", "POST", `/api/app/v1/service/${web.uuid}/stop/`)).status).toBe(202);
    expect((await rest("alice", "DELETE", `/api/app/v1/service/${web.uuid}/`)).status).toBe(202);
    const container = web.containers[0]!;
    await waitFor(
      "alice's container to be destroyed in her stream",
      () =>
        Promise.resolve(
          events(alice).some((e) => e["resource_uri"] === container && e["action"] === "delete"),
        ),
      20_000,
    );
    expect(alice.messages[0]).toMatchObject({ type: "auth", user: "alice" });
    const mine = events(alice).filter((e) => e["resource_uri"] === container);
    expect(mine.map((e) => `${e["action"]} ${e["state"]}`)).toEqual([
      "create Stopped",
      "update Running",
      "update Stopping",
      "update Stopped",
      "delete Terminated",
    ]);
    for (const e of mine) expect(e["parents"]).toEqual([web.uri]);
    const serviceStates = events(alice).filter((e) => e["resource_uri"] === web.uri).map((e) => e["state"]);
    expect(serviceStates).toContain("Running");
    expect(serviceStates.at(-1)).toBe("Terminated");
    expect(events(alice).some((e) => e["type"] === "action" && e["state"] === "Success")).toBe(true);
    // Never bob's, not even as a parent; and the other way round.
    const text = JSON.stringify(alice.messages);
    expect(text).not.toContain("/bob/");
    expect(text).not.toContain(other.uri);
    expect(JSON.stringify(bob.messages)).not.toContain("/alice/");
    expect(events(bob).some((e) => e["parents"] !== undefined && (e["parents"] as string[])[0] === other.uri))
      .toBe(true);
    // seq increases by whatever the others took, never back.
    const seqs = events(alice).map((e) => e["seq"] as number);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
    alice.peer.close(1000, "done");
    bob.peer.close(1000, "done");
    expect((await rest("bob", "DELETE", `/api/app/v1/service/${other.uuid}/`)).status).toBe(202);
  }, 90_000);

  test("dropped mid-stream and resumed with since: every event exactly once", async () => {
    const reference = await connect("/api/audit/v1/events/?type=service,action", auth("alice"));
    const first = await connect("/api/audit/v1/events/?type=service,action", auth("alice"));
    const created = await rest("alice", "POST", "/api/app/v1/service/", {
      image: "tiny:latest",
      name: "resume",
    });
    const uuid = created.body["uuid"] as string;
    for (let i = 0; i < 5; i++) {
      await rest("alice", "PATCH", `/api/app/v1/service/${uuid}/`, { labels: { n: String(i) } });
    }
    await waitFor("the first client's events", () => Promise.resolve(events(first).length >= 10), 10_000);
    first.peer.close(1000, "gone");
    const last = events(first).at(-1)!["seq"] as number;
    // While it is away.
    for (let i = 5; i < 10; i++) {
      await rest("alice", "PATCH", `/api/app/v1/service/${uuid}/`, { labels: { n: String(i) } });
    }
    const again = await connect(`/api/audit/v1/events/?type=service,action&since=${last}`, auth("alice"));
    for (let i = 10; i < 12; i++) {
      await rest("alice", "PATCH", `/api/app/v1/service/${uuid}/`, { labels: { n: String(i) } });
    }
    const total = () => events(reference).length;
    await waitFor(
      "the resumed client to catch up",
      () => Promise.resolve(events(first).length + events(again).length >= total() && total() >= 36),
      10_000,
    );
    const seen = [...events(first), ...events(again)].map((e) => e["seq"]);
    expect(seen).toEqual(events(reference).map((e) => e["seq"]));
    expect(new Set(seen).size).toBe(seen.length);
    for (const c of [reference, again]) c.peer.close(1000, "done");
    await rest("alice", "DELETE", `/api/app/v1/service/${uuid}/`);
  }, 60_000);

  test("events survive an agent restart: a client resumes across it with since", async () => {
    const before = await connect("/api/audit/v1/events/?type=service", auth("alice"));
    const created = await rest("alice", "POST", "/api/app/v1/service/", {
      image: "tiny:latest",
      name: "boot",
    });
    const uuid = created.body["uuid"] as string;
    await waitFor("the create event", () => Promise.resolve(events(before).length >= 1), 10_000);
    const last = events(before).at(-1)!["seq"] as number;
    before.peer.close(1000, "restart");
    await host.agent.stop();
    // While the agent is down nothing is lost that it made; after, it numbers on from where it stopped.
    await host.restartAgent();
    await waitFor(
      "the listener after the restart",
      async () =>
        (await rest("alice", "GET", "/api/app/v1/service/").catch(() => ({ status: 0 }))).status === 200,
      20_000,
    );
    expect((await rest("alice", "PATCH", `/api/app/v1/service/${uuid}/`, { labels: { a: "1" } })).status)
      .toBe(200);
    const after = await connect(`/api/audit/v1/events/?type=service&since=${last - 1}`, auth("alice"));
    await waitFor("the replay and the new event", () => Promise.resolve(events(after).length >= 2), 10_000);
    expect(events(after).map((e) => [e["seq"], e["action"]])).toEqual([[last, "create"], [
      events(after)[1]!["seq"],
      "update",
    ]]);
    expect(events(after)[1]!["seq"] as number).toBeGreaterThan(last);
    after.peer.close(1000, "done");
    // The node (this host) came back: an event every namespace sees, naming the node resource.
    const nodes = await connect(`/api/audit/v1/events/?type=node&since=${last}`, auth("bob"));
    await waitFor("the node's event", () => Promise.resolve(events(nodes).length >= 1), 10_000);
    const listed = await rest("bob", "GET", "/api/infra/v1/node/");
    const nodeUri = ((listed.body["objects"] ?? []) as Message[])[0]?.["resource_uri"];
    expect(events(nodes).at(-1)).toMatchObject({ type: "node", state: "Deployed" });
    if (nodeUri !== undefined) expect(events(nodes).at(-1)!["resource_uri"]).toBe(nodeUri);
    nodes.peer.close(1000, "done");
    await rest("alice", "DELETE", `/api/app/v1/service/${uuid}/`);
  }, 90_000);

  test("a since older than what is kept gets the relist error (websocket 4410, NDJSON 410)", async () => {
    const client = await connect("/api/audit/v1/events/?since=1", auth("alice"));
    const closed = await client.closed;
    expect(closed.code).toBe(4410);
    expect(events(client)[0]).toMatchObject({ type: "error", relist: true });
    expect(String(events(client)[0]!["error"])).toContain("list again");
    const nd = await run([
      "curl",
      "-sS",
      "--cacert",
      join(state, "ca", "cluster.crt"),
      "-H",
      `authorization: ${auth("alice")}`,
      "-H",
      "accept: application/x-ndjson",
      "-w",
      "\n%{http_code}",
      `${base}/api/audit/v1/events/?since=1`,
    ]);
    expect(nd.stdout.trim().split("\n").at(-1)).toBe("410");
  });

  test("NDJSON: the same events, one per line, for curl", async () => {
    const since = await connect("/api/audit/v1/events/", auth("alice"));
    await waitFor("the auth message", () => Promise.resolve(since.messages.length > 0), 10_000);
    const seq = since.messages[0]!["seq"] as number;
    since.peer.close(1000, "done");
    const created = await rest("alice", "POST", "/api/app/v1/service/", { image: "tiny:latest", name: "nd" });
    const nd = await run([
      "curl",
      "-sS",
      "--max-time",
      "3",
      "--cacert",
      join(state, "ca", "cluster.crt"),
      "-H",
      `authorization: ${auth("alice")}`,
      "-H",
      "accept: application/x-ndjson",
      `${base}/api/audit/v1/events/?since=${seq}&type=service`,
    ]);
    const lines = nd.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Message);
    expect(lines[0]).toMatchObject({ type: "service", action: "create", uuid: created.body["uuid"] });
    await rest("alice", "DELETE", `/api/app/v1/service/${created.body["uuid"]}/`);
  });

  test(
    "200 subscribers all get a burst of 1,000 events; one that stops reading is cut off, the others keep up",
    async () => {
      const perAddress = API_LIMITS.maxWebSocketsPerAddress;
      const clients: Client[] = [];
      for (let i = 0; i < 200; i++) {
        const address = `127.0.${10 + Math.floor(i / perAddress)}.${1 + (i % perAddress)}`;
        clients.push(await connect("/api/audit/v1/events/?type=action", auth("alice"), address));
      }
      // A raw client that upgrades, then never reads a byte.
      const stuck = tlsConnect(
        { host: "127.0.0.1", port, ca: caPem, localAddress: "127.0.9.1" } as ConnectionOptions,
      );
      await new Promise<void>((resolve) => stuck.once("secureConnect", () => resolve()));
      stuck.write(
        "GET /api/audit/v1/events/?type=action HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${btoa("0123456789abcdef")}\r\n` +
          `Authorization: ${auth("alice")}\r\n\r\n`,
      );
      await Bun.sleep(500);
      stuck.pause();
      const start = events(clients[0]!).length;
      // 500 creates refused as bad input (400): each is an action, created and ended (1,000 action events),
      // and nothing else is done. Then 3,000 more: more than the stuck client's buffers hold (the kernel's,
      // and the agent's 1 MiB per websocket).
      const burst = async (from: number, n: number) => {
        for (let i = from; i < from + n; i += 20) {
          await Promise.all(
            Array.from(
              { length: 20 },
              (_, j) => rest("alice", "POST", "/api/app/v1/service/", { image: "tiny:latest", bad: i + j }),
            ),
          );
        }
      };
      await burst(0, 500);
      await waitFor(
        "every subscriber's 1,000 events",
        () => Promise.resolve(clients.every((c) => events(c).length - start >= 1000)),
        30_000,
      );
      const reference = events(clients[0]!).map((e) => e["seq"]);
      for (const c of clients) expect(events(c).map((e) => e["seq"])).toEqual(reference);
      await burst(1000, 1000);
      // It was cut off, told why, with nothing lost for the others, which stayed open.
      let received = "";
      const stuckWasCut = new Promise<boolean>((resolve) => stuck.once("close", () => resolve(true)));
      stuck.on("data", (chunk: Buffer) => {
        if (received.length < 4_000_000) received += chunk.toString("latin1");
      });
      stuck.resume();
      // Cut when its buffer is full ("too slow"), or, when the kernel's buffers held all that, when it left
      // two pings unanswered (20 s apart): either way it never held the others back.
      expect(await Promise.race([stuckWasCut, Bun.sleep(60_000).then(() => false)])).toBe(true);
      expect(received).toMatch(
        /too slow: events were not read fast enough; resume with \?since=|no answer to pings/,
      );
      await waitFor("the others to keep up", () => {
        const n = events(clients[0]!).length;
        return Promise.resolve(clients.every((c) => events(c).length === n));
      }, 20_000);
      const final = events(clients[0]!).map((e) => e["seq"]);
      for (const c of clients) expect(events(c).map((e) => e["seq"])).toEqual(final);
      expect(host.agent.log()).not.toContain("internal error");
      for (const c of clients) c.peer.close(1000, "done");
      stuck.destroy();
    },
    240_000,
  );

  test("one client address gets at most its share of websockets (429 before the upgrade)", async () => {
    const perAddress = API_LIMITS.maxWebSocketsPerAddress;
    const open: Client[] = [];
    for (let i = 0; i < perAddress; i++) {
      open.push(await connect("/api/audit/v1/events/", auth("alice"), "127.0.8.1"));
    }
    await expect(connect("/api/audit/v1/events/", auth("alice"), "127.0.8.1")).rejects.toThrow(
      /answered 429/,
    );
    // Another address is not held back.
    const other = await connect("/api/audit/v1/events/", auth("alice"), "127.0.8.2");
    for (const c of [...open, other]) c.peer.close(1000, "done");
  });

  test(
    "logs: stdout and stderr apart, follow across a 30 s quiet period; service logs name the source",
    async () => {
      const talk = await runService("alice", "talk", [
        "sh",
        "-c",
        "echo one; echo two >&2; sleep 31; echo three; sleep 3600",
      ]);
      const container = talk.containers[0]!;
      const logs = await connect(`${container}logs/?follow=true`, auth("alice"));
      await waitFor("the first lines", () => Promise.resolve(logs.messages.length >= 2), 10_000);
      await waitFor("the line after 31 s of quiet", () => Promise.resolve(logs.messages.length >= 3), 45_000);
      expect(logs.messages.map((m) => `${m["streamType"]} ${m["log"]}`).sort()).toEqual([
        "stderr two",
        "stdout one",
        "stdout three",
      ]);
      for (const m of logs.messages) {
        expect(m["type"]).toBe("log");
        expect(typeof m["timestamp"]).toBe("number");
      }
      // carol may read logs, but not in alice's own namespace: 404 before any upgrade.
      await expect(connect(`${container}logs/`, auth("carol"))).rejects.toThrow(/answered 404/);
      const service = await connect(`${talk.uri}logs/?tail=all`, auth("alice"));
      expect((await service.closed).code).toBe(1000);
      expect(service.messages.map((m) => m["source"])).toEqual([container, container, container]);
      logs.peer.close(1000, "done");
    },
    90_000,
  );

  test("exec: stdin in, stdout and stderr apart, the exit code out; a read-only key is refused", async () => {
    const box = await runService("alice", "box");
    const container = box.containers[0]!;
    const command = encodeURIComponent("sh -c 'cat; echo err >&2; exit 3'");
    const exec = await connect(`${container}exec/?command=${command}`, auth("alice"));
    exec.peer.sendText("hello\n");
    exec.peer.sendBinary(new Uint8Array(0));
    expect((await exec.closed).code).toBe(1000);
    expect(exec.messages).toEqual([
      { type: "output", output: "hello\n", streamType: "stdout" },
      { type: "output", output: "err\n", streamType: "stderr" },
      { type: "exit", exit_code: 3 },
    ]);
    // carol's key reads team's containers; exec is a write: 403 before any upgrade.
    const shared = await runService("alice", "box2", "sleep 3600", "team");
    const logs = await connect(`${shared.containers[0]}logs/`, auth("carol"));
    expect((await logs.closed).code).toBe(1000);
    await expect(connect(`${shared.containers[0]}exec/?command=id`, auth("carol"))).rejects.toThrow(
      /answered 403/,
    );
    await expect(connect(`${container}exec/?command=`, auth("alice"))).rejects.toThrow(/answered 400/);
    const audit = readFileSync(join(state, "audit.log"), "utf8");
    expect(audit).toContain('"action":"container:exec"');
  }, 60_000);
});
