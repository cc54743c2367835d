/**
 * The macaroon gate's daemon link in `agent serve`: the event stream runs only while the gate is on, carries
 * the agent's own token, keeps the name cache correct, and while it is down every lookup asks the daemon.
 */
import { describe, expect, test } from "bun:test";
import { macaroonGate } from "../../../src/decide/macaroon-gate.ts";
import type { Gate } from "../../../src/decide/gate.ts";
import { emptyRevocations, initKeyring } from "../../../src/macaroon/index.ts";
import type { Platform } from "../../../src/ports.ts";
import { internalHeadersOf, macaroonDocker } from "../../../src/server/macaroon-docker.ts";
import { refusingPlatform } from "../../helpers/refusing-platform.ts";
import { facts, fakeDaemon, movableClock, seededRandom, WEB_ID } from "./macaroon-gate-helpers.ts";

const clock = movableClock("2026-03-01T12:00:00.700Z");
const random = seededRandom("docker link");
const keyring = await initKeyring(undefined, random, clock);
const gate = macaroonGate({
  keyring,
  revocations: emptyRevocations(),
  resolver: fakeDaemon(),
  clock,
  random,
});
const policyOnly: Gate = { name: "policy", check: () => ({ allow: true, ruleId: "x", reason: "x" }) };

interface EventStream {
  readonly path: string;
  readonly headers: Headers;
  push(event: unknown): void;
  close(): void;
}

function fakeDocker() {
  const lookups: string[] = [];
  const streams: EventStream[] = [];
  const logs: string[] = [];
  const sleepers: (() => void)[] = [];
  const sleepSignals: (AbortSignal | undefined)[] = [];
  const platform: Platform = {
    ...refusingPlatform("the daemon link test"),
    unixFetch(_socket: string, path: string, init?: RequestInit): Promise<Response> {
      if (!path.startsWith("/events")) {
        lookups.push(path);
        return Promise.resolve(new Response(JSON.stringify({ Id: WEB_ID }), { status: 200 }));
      }
      let controller!: ReadableStreamDefaultController<Uint8Array>;
      const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
      init?.signal?.addEventListener("abort", () => controller.error(new Error("aborted")));
      streams.push({
        path,
        headers: new Headers(init?.headers),
        push: (event) => controller.enqueue(new TextEncoder().encode(JSON.stringify(event) + "\n")),
        close: () => controller.close(),
      });
      return Promise.resolve(new Response(body, { status: 200 }));
    },
    // Backoff sleeps wait until the test wakes them, or until the link stops (the platform's contract).
    sleep: (_ms: number, signal?: AbortSignal) =>
      new Promise<void>((resolve) => {
        sleepers.push(resolve);
        sleepSignals.push(signal);
        signal?.addEventListener("abort", () => resolve(), { once: true });
      }),
    monotonicMs: () => performance.now(),
  };
  const wake = () => sleepers.splice(0).forEach((resolve) => resolve());
  return { platform, lookups, streams, logs, wake, sleepSignals };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 10));

describe("macaroon gate's daemon link", () => {
  test("sends the macaroon gate's internal token, and nothing while the gate is off", () => {
    expect(internalHeadersOf([policyOnly])).toEqual({});
    const headers = internalHeadersOf([policyOnly, gate]);
    expect(Object.keys(headers)).toEqual(["X-Macaroon"]);
  });

  test("follows the event stream only while the macaroon gate is on", async () => {
    const fake = fakeDocker();
    let gates: readonly Gate[] = [policyOnly];
    const link = macaroonDocker({
      platform: fake.platform,
      socketPath: "/d.sock",
      clock,
      gates: () => gates,
      log: (m) => fake.logs.push(m),
    });
    link.follow(gates);
    await tick();
    expect(fake.streams).toEqual([]);

    gates = [policyOnly, gate];
    link.follow(gates);
    await tick();
    expect(fake.streams.length).toBe(1);
    const stream = fake.streams[0]!;
    expect(stream.path).toBe(
      `/events?since=1772366399&filters=${encodeURIComponent('{"type":["container","image"]}')}`,
    );
    const token = stream.headers.get("x-macaroon")!;
    expect((await gate.check(facts("GET", "/events", { token }))).allow).toBe(true);
    expect((await gate.check(facts("POST", "/containers/web/stop", { token }))).allow).toBe(false);

    gates = [policyOnly];
    link.follow(gates);
    await link.stop();
    expect(fake.logs).toEqual([]);
  });

  test("caches lookups while the stream is live, and an event clears the cache", async () => {
    const fake = fakeDocker();
    const link = macaroonDocker({
      platform: fake.platform,
      socketPath: "/d.sock",
      clock,
      gates: () => [gate],
      log: () => {},
    });
    link.follow([gate]);
    await tick();
    expect(await link.resolver.resolveContainer("web")).toBe(WEB_ID);
    expect(await link.resolver.resolveContainer("web")).toBe(WEB_ID);
    expect(fake.lookups).toEqual(["/containers/web/json"]);
    fake.streams[0]!.push({ Type: "container", Action: "rename", Actor: { ID: WEB_ID } });
    await tick();
    await link.resolver.resolveContainer("web");
    expect(fake.lookups.length).toBe(2);
    await link.stop();
  });

  test("while the stream is down every lookup asks the daemon, and the stream reconnects", async () => {
    const fake = fakeDocker();
    const logs: string[] = [];
    const link = macaroonDocker({
      platform: fake.platform,
      socketPath: "/d.sock",
      clock,
      gates: () => [gate],
      log: (m) => logs.push(m),
    });
    link.follow([gate]);
    await tick();
    fake.streams[0]!.close();
    await tick();
    await link.resolver.resolveContainer("web");
    await link.resolver.resolveContainer("web");
    expect(fake.lookups.length).toBe(2);
    fake.wake();
    await tick();
    expect(fake.streams.length).toBe(2);
    await link.resolver.resolveContainer("web");
    await link.resolver.resolveContainer("web");
    expect(fake.lookups.length).toBe(3);
    expect(logs).toEqual([
      "docker event stream unavailable (the daemon closed it); name lookups go to the daemon uncached until it is back",
    ]);
    fake.streams[1]!.close();
    await tick();
    await link.stop(); // while backing off
    expect(fake.streams.length).toBe(2);
  });

  test("stopping while backing off cancels the backoff's timer, so nothing keeps serve from exiting", async () => {
    const fake = fakeDocker();
    const link = macaroonDocker({
      platform: fake.platform,
      socketPath: "/d.sock",
      clock,
      gates: () => [gate],
      log: () => {},
    });
    link.follow([gate]);
    await tick();
    fake.streams[0]!.close();
    await tick();
    expect(fake.sleepSignals.length).toBe(1);
    const signal = fake.sleepSignals[0];
    expect(signal).toBeDefined();
    expect(signal!.aborted).toBe(false);
    await link.stop();
    expect(signal!.aborted).toBe(true);
  });
});
