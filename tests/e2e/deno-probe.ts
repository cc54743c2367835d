/**
 * Run under `deno run` by deno.e2e.test.ts (never by Bun): the Deno platform's unixFetch, through the
 * agent's own Engine API client, against a real dockerd socket. Prints one JSON line of findings.
 * Usage: deno run --allow-net=unix:SOCK --allow-read=SOCK --allow-write=SOCK deno-probe.ts SOCK
 */
import { engineClient } from "../../src/docker/engine-client.ts";
import { denoPlatform } from "../../src/runtime/deno-platform.ts";

const socketPath = Deno.args[0] ?? "";
const client = engineClient({ platform: denoPlatform, socketPath, headers: () => ({}) });

const version = (await client.getJson("/version")) as { ApiVersion?: unknown } | undefined;
const missing = await client.getJson("/containers/no-such-container-here/json");

// A bounded stream (`until` in the past) ends by itself; an open one must end when its signal aborts.
const now = Math.floor(Date.now() / 1000);
let bounded = "ended";
await client.stream(`/events?since=0&until=${now}`, () => {}, AbortSignal.timeout(10_000)).catch(() => {
  bounded = "failed";
});
const abort = new AbortController();
const timer = setTimeout(() => abort.abort(), 300);
let failure: string | undefined;
await client.stream("/events", () => {}, abort.signal).catch((err: unknown) => {
  failure = `failed: ${String(err)}`;
});
clearTimeout(timer);
const open = abort.signal.aborted ? "aborted" : failure ?? "ended by itself";

console.log(JSON.stringify({
  apiVersion: version?.ApiVersion,
  missingIsUndefined: missing === undefined,
  bounded,
  open,
}));
