/**
 * Captures real AuthZReq/AuthZRes payloads from a private dockerd into tests/vectors/wire/captured.json.
 * A recording plugin (a Bun server on a unix socket) answers Allow:true to everything and keeps each body;
 * the docker CLI drives a representative set of commands over the unix socket and over TLS.
 *
 *   node_modules/.bin/bun scripts/capture-wire.ts        (as root, with dockerd and docker on PATH)
 *
 * Bodies are kept as dockerd sent them except: RequestBody/ResponseBody base64 longer than 4096
 * characters is cut to 4096 (a multiple of 4, so still valid base64) and `truncated: true` is noted;
 * AuthZRes payloads for image export/log streams keep only their first 4096 base64 characters.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  importTinyImage,
  opensslTls,
  registerPlugin,
  ROOT,
  startDockerd,
  tempDir,
} from "../tests/e2e/harness.ts";
import { pathOf } from "../src/server/path-of.ts";

const MAX_BASE64 = 4096;
interface Case {
  id: string;
  command: string;
  endpoint: string;
  truncated?: boolean;
  body: Record<string, unknown>;
}

const dir = tempDir("capture-wire-");
const socket = join(dir, "recorder.sock");
const cases: Case[] = [];
let current = "startup";
const seen = new Map<string, number>();

const server = Bun.serve({
  unix: socket,
  async fetch(req) {
    const path = pathOf(req.url);
    if (path === "/Plugin.Activate") return Response.json({ Implements: ["authz"] });
    const text = await req.text();
    if (path === "/AuthZPlugin.AuthZReq" || path === "/AuthZPlugin.AuthZRes") {
      const body = JSON.parse(text) as Record<string, unknown>;
      let truncated = false;
      for (const f of ["RequestBody", "ResponseBody"]) {
        const v = body[f];
        if (typeof v === "string" && v.length > MAX_BASE64) {
          body[f] = v.slice(0, MAX_BASE64);
          truncated = true;
        }
      }
      const kind = path.endsWith("Req") ? "req" : "res";
      const base = `${current}/${kind}/${body["RequestMethod"]} ${String(body["RequestUri"]).split("?")[0]}`;
      const n = (seen.get(base) ?? 0) + 1;
      seen.set(base, n);
      cases.push({
        id: n === 1 ? base : `${base} #${n}`,
        command: current,
        endpoint: path.slice(1),
        ...(truncated ? { truncated } : {}),
        body,
      });
    }
    return Response.json({ Allow: true });
  },
});

const unregister = registerPlugin("wire-recorder", socket);
const tls = await opensslTls(join(dir, "tls"), ["alice"]);
const dockerd = await startDockerd({
  dir: join(dir, "dockerd"),
  authorizationPlugins: ["wire-recorder"],
  tls: { ca: tls.ca, cert: tls.serverCert, key: tls.serverKey },
}).catch((err) => {
  unregister();
  server.stop(true);
  Bun.spawnSync(["rm", "-rf", dir]);
  throw err;
});
try {
  await importTinyImage(dockerd, dir);
  cases.length = 0; // drop the import's traffic: its body is a tarball
  seen.clear();
  const bind = join(dir, "bind");
  Bun.spawnSync(["mkdir", "-p", bind]);
  const steps: [string, "unix" | "tls", string[]][] = [
    ["version", "unix", ["version"]],
    ["info", "unix", ["info"]],
    ["ps", "unix", ["ps", "-a"]],
    ["images", "unix", ["images"]],
    ["network-ls", "unix", ["network", "ls"]],
    ["plugin-ls", "unix", ["plugin", "ls"]],
    ["volume-create", "unix", ["volume", "create", "capvol"]],
    ["volume-rm", "unix", ["volume", "rm", "capvol"]],
    ["run-rm", "unix", ["run", "--rm", "--network", "none", "tiny", "echo", "hi"]],
    [
      "run-d-bind",
      "unix",
      ["run", "-d", "--name", "cap1", "--network", "none", "-v", `${bind}:/data`, "tiny", "sleep", "60"],
    ],
    // Created, not started: this sandbox cannot grant all capabilities, and the create call is what matters.
    ["create-privileged", "unix", [
      "create",
      "--privileged",
      "--network",
      "host",
      "--pid",
      "host",
      "tiny",
      "true",
    ]],
    ["attach-run", "unix", ["run", "-i", "--rm", "--network", "none", "tiny", "cat"]],
    ["exec", "unix", ["exec", "cap1", "echo", "hi"]],
    ["logs", "unix", ["logs", "cap1"]],
    ["inspect", "unix", ["inspect", "cap1"]],
    ["events-until", "unix", ["events", "--since", "0", "--until", "1"]],
    ["rm-f", "unix", ["rm", "-f", "cap1"]],
    ["tls-version", "tls", ["version"]],
    ["tls-ps", "tls", ["ps"]],
    ["tls-run-rm", "tls", ["run", "--rm", "--network", "none", "tiny", "echo", "hi"]],
    ["tls-run-d-bind", "tls", [
      "run",
      "-d",
      "--name",
      "cap2",
      "--network",
      "none",
      "-v",
      `${bind}:/data`,
      "tiny",
      "sleep",
      "60",
    ]],
    ["tls-exec", "tls", ["exec", "cap2", "true"]],
    ["tls-inspect-image", "tls", ["image", "inspect", "tiny"]],
    ["tls-rm-f", "tls", ["rm", "-f", "cap2"]],
  ];
  for (const [name, via, args] of steps) {
    current = name;
    const r = via === "unix"
      ? await dockerd.docker(args)
      : await dockerd.dockerTls(tls.certPath("alice"), args);
    console.error(`${name}: exit ${r.code}${r.code === 0 ? "" : ` ${r.stderr.trim().slice(0, 200)}`}`);
  }
  const captured = [...cases];
  const docker = await dockerd.docker(["version", "--format", "{{.Server.Version}} {{.Client.Version}}"]);
  const [serverVersion, clientVersion] = docker.stdout.trim().split(" ");
  const out = {
    source: `dockerd ${serverVersion} + docker CLI ${clientVersion}, captured by scripts/capture-wire.ts on ${
      new Date().toISOString().slice(0, 10)
    }`,
    note:
      `RequestBody/ResponseBody base64 longer than ${MAX_BASE64} characters is cut to ${MAX_BASE64} (truncated: true)`,
    cases: captured,
  };
  const file = join(ROOT, "tests", "vectors", "wire", "captured.json");
  writeFileSync(file, `${JSON.stringify(out, null, 1)}\n`);
  console.error(`wrote ${out.cases.length} cases to ${file}`);
} finally {
  await dockerd.stop();
  unregister();
  server.stop(true);
  Bun.spawnSync(["rm", "-rf", dir]);
}
