/**
 * Run under `deno run` by docker-streams.e2e.test.ts (never by Bun): the Deno platform's unixFetch and
 * unixHijack (node:http and node:net on Deno) under followLogs and runExec, against a real dockerd socket.
 * Prints one JSON document of findings.
 * Usage: deno run --allow-net=unix:SOCK --allow-read=SOCK --allow-write=SOCK deno-streams-probe.ts SOCK ID
 * where container ID runs `sleep` and logged "ready".
 */
import { runExec } from "../../src/docker/exec.ts";
import { followLogs } from "../../src/docker/logs.ts";
import { denoPlatform } from "../../src/runtime/deno-platform.ts";

const [socketPath = "", id = ""] = Deno.args;
const deps = { platform: denoPlatform, socketPath };
const text = (data: Uint8Array) => new TextDecoder().decode(data);

const cat = await runExec(deps, id, { cmd: ["cat"], stdin: true });
await cat.write(new TextEncoder().encode("hello from deno\n"));
cat.closeStdin();
let echoed = "";
for await (const out of cat.output) echoed += `${out.streamType}:${text(out.data)}`;
const catExit = await cat.exitCode();

const sh = await runExec(deps, id, { cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"], stdin: false });
const streams: Record<string, string> = { stdout: "", stderr: "" };
for await (const out of sh.output) streams[out.streamType] += text(out.data);
const shExit = await sh.exitCode();

let missing = "";
try {
  await runExec(deps, "no-such-container-here", { cmd: ["true"], stdin: false });
} catch (err) {
  missing = `${(err as { code?: string }).code}: ${(err as Error).message}`;
}

const abort = new AbortController();
const logs: string[] = [];
for await (const entry of followLogs(deps, id, { follow: true, signal: abort.signal })) {
  logs.push(`${entry.streamType}:${entry.log}:${entry.timestamp !== undefined}`);
  setTimeout(() => abort.abort(), 300);
}

console.log(
  JSON.stringify({ echoed, catExit, streams, shExit, missing, logs, aborted: abort.signal.aborted }),
);
