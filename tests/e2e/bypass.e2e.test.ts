/**
 * Bypass attempts against a private dockerd with --tlsverify whose authorization plugin is the agent. Every
 * attempt is sent the way an attacker would (curl --path-as-is, odd methods, raw TLS sockets for request
 * targets curl will not send) and is checked twice: the API refused it, and its effect did not happen
 * (looked up afterwards through the administrator's unix socket).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import {
  agentCli,
  type Dockerd,
  e2eUnavailable,
  type GuardedHost,
  importTinyImage,
  opensslTls,
  run,
  skipBanner,
  startGuardedHost,
  tempDir,
  type TlsFiles,
  waitFor,
} from "./harness.ts";

const unavailable = e2eUnavailable();
if (unavailable) skipBanner("bypass.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

const POLICY = `version: 1
administrators: [anonymous]
groups:
  ops: [alice]
rules:
  - id: local-admin
    who: [anonymous]
    allow: ["*"]
  - id: ops-all
    who: ["group:ops"]
    allow: ["*"]
  - id: bob-reads
    who: [bob]
    allow: ["container:list", "container:inspect", "image:list", "image:inspect", "system:*", "container:create"]
  - id: bob-gets
    who: [bob]
    methods: [GET]
    uri: '^/v1\.[0-9]+/containers/'
  - id: nobody-privileged
    who: ["*"]
    deny: ["container:create"]
    when: { privileged: true }
`;

interface HttpResult {
  readonly status: number;
  readonly body: string;
  /**
   * The exchange ended in a TCP reset after dockerd's answer had arrived (raw requests only). dockerd answers
   * a request whose large body it never read, then closes with that body unread in its receive buffer, and
   * the kernel resets the connection: a client still writing the body gets ECONNRESET.
   */
  readonly reset?: boolean;
}

/** 2xx means dockerd did what was asked; anything else is a refusal of some kind. */
function refused(r: HttpResult): boolean {
  return r.status < 200 || r.status >= 300;
}

/** One masked client frame (RFC 6455 5.2): FIN, text, a payload under 126 bytes. */
function wsFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  return Buffer.concat([
    Buffer.from([0x81, 0x80 | payload.length]),
    mask,
    Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!)),
  ]);
}

/**
 * Docker's websocket attach (GET /containers/{id}/attach/ws) by hand over mutual TLS: the upgrade request, then,
 * if dockerd switches protocols (101), one frame carrying `line` to the container's stdin. Answers the status.
 */
function wsAttach(
  port: number,
  tls: TlsFiles,
  user: string,
  container: string,
  line: string,
  headers: string[] = [],
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    let text = "";
    let answered = false;
    const socket = connect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      ca: readFileSync(tls.ca),
      cert: readFileSync(join(tls.certPath(user), "cert.pem")),
      key: readFileSync(join(tls.certPath(user), "key.pem")),
    }, () =>
      socket.write(
        [
          `GET /v1.41/containers/${container}/attach/ws?stream=1&stdin=1&stdout=1 HTTP/1.1`,
          "Host: localhost",
          "Upgrade: websocket",
          "Connection: Upgrade",
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
          "Sec-WebSocket-Version: 13",
          "Origin: http://localhost",
          ...headers,
          "",
          "",
        ].join("\r\n"),
      ));
    const timer = setTimeout(() => socket.destroy(new Error("websocket attach timed out")), 30_000);
    const finish = (status: number) => {
      clearTimeout(timer);
      socket.end();
      resolve({ status, text });
    };
    socket.on("data", (c: Buffer) => {
      text += c.toString("latin1");
      if (answered || !text.includes("\r\n\r\n")) return;
      answered = true;
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? "0");
      if (status !== 101) return finish(status);
      socket.write(wsFrame(`${line}\n`));
      setTimeout(() => finish(status), 500);
    });
    socket.on("error", (e) => {
      clearTimeout(timer);
      if (!answered) reject(e);
    });
  });
}

maybe("bypass attempts against dockerd guarded by the agent", () => {
  const plugin = `agent-bypass-${process.pid}`;
  let dir: string;
  let state: string;
  let tls: TlsFiles;
  let dockerd: Dockerd;
  let host: GuardedHost;
  /** The macaroon the administrator's own lookups carry once the macaroon gate is on. */
  let adminToken: string | undefined;
  let svcId = "";
  /** A macaroon scoped to the container "svc" (made in the macaroon test). */
  let scoped = "";

  const curl = async (
    user: string,
    method: string,
    path: string,
    extra: string[] = [],
  ): Promise<HttpResult> => {
    const r = await run([
      "curl",
      "-sS",
      "--path-as-is",
      "-o",
      "-",
      "-w",
      "\n%{http_code}",
      "-X",
      method,
      "--cacert",
      tls.ca,
      "--cert",
      join(tls.certPath(user), "cert.pem"),
      "--key",
      join(tls.certPath(user), "key.pem"),
      ...extra,
      `https://127.0.0.1:${dockerd.tcpPort}${path}`,
    ], { timeoutMs: 60_000 });
    const lines = r.stdout.trimEnd().split("\n");
    return { status: Number(lines.at(-1)), body: lines.slice(0, -1).join("\n") };
  };
  const json = (
    body: unknown,
  ) => ["-H", "Content-Type: application/json", "--data-binary", JSON.stringify(body)];

  /**
   * One raw HTTP/1.1 exchange over mutual TLS: the request bytes go out exactly as written. A reset
   * (ECONNRESET, EPIPE) after dockerd's status line has arrived ends the exchange with `reset: true` and
   * that status (see HttpResult); any other error, or a reset before an answer, rejects.
   */
  const raw = (user: string, request: string): Promise<HttpResult> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let failure: (Error & { code?: string }) | undefined;
      const socket = connect({
        host: "127.0.0.1",
        port: dockerd.tcpPort!,
        servername: "localhost",
        ca: readFileSync(tls.ca),
        cert: readFileSync(join(tls.certPath(user), "cert.pem")),
        key: readFileSync(join(tls.certPath(user), "key.pem")),
      }, () => socket.end(request));
      const timer = setTimeout(() => socket.destroy(new Error("raw request timed out")), 30_000);
      socket.on("data", (c: Buffer) => chunks.push(c));
      socket.on("error", (e) => {
        failure ??= e;
      });
      socket.on("close", () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString("utf8");
        const statusLine = /^HTTP\/1\.[01] (\d{3}) [^\r\n]*\r\n/.exec(text);
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? "0");
        if (failure === undefined) return resolve({ status, body: text });
        const answered = statusLine !== null && (failure.code === "ECONNRESET" || failure.code === "EPIPE");
        if (answered) resolve({ status, body: text, reset: true });
        else reject(failure);
      });
    });
  /** The agent's audit events for `uri` (polled briefly: the log is written in batches). */
  const audited = async (uri: string, allow: boolean): Promise<boolean> => {
    const log = join(state, "audit.log");
    for (let i = 0; i < 50; i++) {
      const events = readFileSync(log, "utf8").trim().split("\n").map((line) =>
        JSON.parse(line) as { uri: string | null; allow: boolean; phase: string }
      );
      if (events.some((e) => e.uri === uri && e.allow === allow && e.phase === "request")) return true;
      await Bun.sleep(100);
    }
    return false;
  };
  const rawRequest = (method: string, target: string, body: string, headers: string[] = []) =>
    [
      `${method} ${target} HTTP/1.1`,
      "Host: localhost",
      "Connection: close",
      ...headers,
      ...(body === ""
        ? []
        : ["Content-Type: application/json", `Content-Length: ${Buffer.byteLength(body)}`]),
      "",
      body,
    ].join("\r\n");

  /** A privileged-create attempt by hand: the given headers, and Content-Length (the real one by default). */
  const rawPost = (name: string, body: string, headers: string[], length = Buffer.byteLength(body)) =>
    [
      `POST /v1.41/containers/create?name=${name} HTTP/1.1`,
      "Host: localhost",
      "Connection: close",
      ...headers,
      `Content-Length: ${length}`,
      "",
      body,
    ].join("\r\n");
  const rawChunked = (name: string, body: string, headers: string[]) =>
    [
      `POST /v1.41/containers/create?name=${name} HTTP/1.1`,
      "Host: localhost",
      "Connection: close",
      ...headers,
      "Transfer-Encoding: chunked",
      "",
      `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    ].join("\r\n");

  /** Does the object exist? Asked as the administrator over the unix socket. */
  const exists = async (kind: "containers" | "volumes" | "images" | "exec", ref: string) => {
    const headers: Record<string, string> = adminToken ? { "X-Macaroon": adminToken } : {};
    const path = kind === "volumes"
      ? `/volumes/${encodeURIComponent(ref)}`
      : `/${kind}/${encodeURIComponent(ref)}/json`;
    const res = await fetch(`http://docker/v1.41${path}`, { unix: dockerd.socket, headers } as RequestInit);
    const text = await res.text();
    if (res.status !== 200 && res.status !== 404) {
      throw new Error(`admin lookup ${kind}/${ref}: ${res.status} ${text}`);
    }
    return res.status === 200 ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  };
  const admin = async (args: string[]) => {
    const r = await dockerd.docker(args);
    if (r.code !== 0) throw new Error(`docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  };

  const privileged = (name: string) => ({
    Image: "tiny:latest",
    Cmd: ["true"],
    Labels: { attempt: name },
    HostConfig: { Privileged: true, NetworkMode: "none" },
  });

  beforeAll(async () => {
    dir = tempDir("bypass");
    state = join(dir, "state");
    tls = await opensslTls(join(dir, "tls"), ["alice", "bob"]);
    writeFileSync(join(dir, "policy.yaml"), POLICY);
    const dockerdDir = join(dir, "dockerd");
    host = await startGuardedHost({
      dir,
      plugin,
      dockerdDir,
      agent: {
        stateDir: state,
        policyFile: join(dir, "policy.yaml"),
        args: ["--docker-socket", join(dockerdDir, "docker.sock")],
      },
      tls: { ca: tls.ca, cert: tls.serverCert, key: tls.serverKey },
    });
    ({ dockerd } = host);
    await importTinyImage(dockerd, dir);
    for (const name of ["svc", "other"]) {
      const id = await admin([
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "none",
        "tiny:latest",
        "sleep",
        "600",
      ]);
      if (name === "svc") svcId = id;
    }
  }, 180_000);

  afterAll(async () => {
    await host?.stop();
  }, 60_000);

  test("control: bob may create an unprivileged container and alice may create a volume", async () => {
    const made = await curl(
      "bob",
      "POST",
      "/v1.41/containers/create?name=bob-ok",
      json({ Image: "tiny:latest", Cmd: ["true"], HostConfig: { NetworkMode: "none" } }),
    );
    expect(made.status).toBe(201);
    expect(await exists("containers", "bob-ok")).toBeDefined();
    await admin(["rm", "bob-ok"]);
    const vol = await curl("alice", "POST", "/v1.41/volumes/create", json({ Name: "alice-ok" }));
    expect(vol.status).toBe(201);
    await admin(["volume", "rm", "alice-ok"]);
  });

  const pathTricks: [string, string][] = [
    ["%2F instead of a slash", "/v1.41/volumes%2Fcreate"],
    ["a double-encoded slash", "/v1.41/volumes%252Fcreate"],
    ["a percent-encoded letter", "/v1.41/%76olumes/create"],
    ["no version prefix", "/volumes/create"],
    ["an upper-case V version", "/V1.41/volumes/create"],
    ["a dot segment", "/v1.41/./volumes/create"],
    ["a dot-dot segment", "/v1.41/x/../volumes/create"],
    ["an encoded dot-dot segment", "/v1.41/x/%2E%2E/volumes/create"],
    ["a double slash", "/v1.41//volumes/create"],
    ["a leading double slash", "//v1.41/volumes/create"],
    ["a trailing slash", "/v1.41/volumes/create/"],
    ["a fragment-looking suffix", "/v1.41/volumes/create%23x"],
  ];
  for (const [what, path] of pathTricks) {
    test(`bob cannot create a volume through ${what} (${path})`, async () => {
      const name = `vol-${pathTricks.findIndex(([w]) => w === what)}`;
      const r = await curl("bob", "POST", path, json({ Name: name }));
      expect(refused(r)).toBe(true);
      expect(await exists("volumes", name)).toBeUndefined();
    });
  }

  test("bob cannot create a privileged container through encoded, unversioned or dotted paths", async () => {
    const paths = [
      "/v1.41/containers%2Fcreate",
      "/v1.41/%63ontainers/create",
      "/v1.41/containers%252Fcreate",
      "/containers/create",
      "/V1.41/containers/create",
      "/v1.41/./containers/create",
      "/v1.41/x/../containers/create",
      "//containers/create",
    ];
    for (const [i, path] of paths.entries()) {
      const name = `priv-path-${i}`;
      const r = await curl("bob", "POST", `${path}?name=${name}`, json(privileged(name)));
      expect({ path, refused: refused(r) }).toEqual({ path, refused: true });
      expect(await exists("containers", name)).toBeUndefined();
    }
  });

  test("upper/lower-case method spellings do not reach an unguarded route", async () => {
    for (const [i, method] of ["post", "Post", "pOST", "PoSt"].entries()) {
      const name = `vol-method-${i}`;
      const r = await curl("bob", method, "/v1.41/volumes/create", json({ Name: name }));
      expect({ method, refused: refused(r) }).toEqual({ method, refused: true });
      expect(await exists("volumes", name)).toBeUndefined();
      const c = `priv-method-${i}`;
      const p = await curl("alice", method, `/v1.41/containers/create?name=${c}`, json(privileged(c)));
      expect({ method, refused: refused(p) }).toEqual({ method, refused: true });
      expect(await exists("containers", c)).toBeUndefined();
    }
  });

  test("absolute-form and odd request targets over a raw TLS socket are refused", async () => {
    const targets = [
      `https://127.0.0.1:${dockerd.tcpPort}/v1.41/volumes/create`,
      `http://localhost/v1.41/volumes/create`,
      "/v1.41/volumes/create?x=/auth",
      "/v1.41/volumes/./create",
      "/v1.41/volumes/create#frag",
    ];
    for (const [i, target] of targets.entries()) {
      const name = `vol-raw-${i}`;
      const r = await raw("bob", rawRequest("POST", target, JSON.stringify({ Name: name })));
      expect({ target, refused: refused(r) }).toEqual({ target, refused: true });
      expect(await exists("volumes", name)).toBeUndefined();
    }
  });

  test("a privileged create in a JSON body over 1 MiB is refused to alice, and not created", async () => {
    const file = join(dir, "big-priv.json");
    writeFileSync(file, JSON.stringify({ ...privileged("big"), Env: [`PAD=${"x".repeat(1_100_000)}`] }));
    const r = await curl("alice", "POST", "/v1.41/containers/create?name=big-priv", [
      "-H",
      "Content-Type: application/json",
      "--data-binary",
      `@${file}`,
    ]);
    expect(r.status).toBe(403);
    expect(r.body).toContain("not forwarded");
    expect(await exists("containers", "big-priv")).toBeUndefined();
  });

  test("a chunked privileged create is refused to alice, and not created", async () => {
    const file = join(dir, "chunked.json");
    writeFileSync(file, JSON.stringify(privileged("chunked")));
    const r = await curl("alice", "POST", "/v1.41/containers/create?name=chunked-priv", [
      "-H",
      "Content-Type: application/json",
      "-H",
      "Transfer-Encoding: chunked",
      "--data-binary",
      `@${file}`,
    ]);
    expect(r.status).toBe(403);
    expect(r.body).toContain("authorization denied by plugin");
    expect(await exists("containers", "chunked-priv")).toBeUndefined();
    // The same by hand: two chunks, no Content-Length at all.
    const body = JSON.stringify(privileged("chunked-raw"));
    const half = Math.floor(body.length / 2);
    const chunks = [body.slice(0, half), body.slice(half)].map((c) => `${c.length.toString(16)}\r\n${c}\r\n`)
      .join("");
    const rr = await raw(
      "alice",
      [
        "POST /v1.41/containers/create?name=chunked-raw HTTP/1.1",
        "Host: localhost",
        "Connection: close",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked",
        "",
        `${chunks}0\r\n\r\n`,
      ].join("\r\n"),
    );
    expect(rr.status).toBe(403);
    expect(await exists("containers", "chunked-raw")).toBeUndefined();
  });

  test("header tricks do not make dockerd withhold a privileged body the agent then ignores", async () => {
    const big = (name: string) =>
      JSON.stringify({ ...privileged(name), Env: [`PAD=${"y".repeat(1_100_000)}`] });
    const small = JSON.stringify(privileged("small"));
    const cases: [string, string][] = [
      [
        "two Content-Type headers (Go reads the first), body over 1 MiB",
        rawPost("hdr-0", big("hdr-0"), ["Content-Type: application/json", "Content-Type: text/plain"]),
      ],
      [
        "two Content-Type headers, chunked",
        rawChunked("hdr-1", small, ["Content-Type: application/json", "Content-Type: text/plain"]),
      ],
      [
        "a mixed-case media type with parameters, body over 1 MiB",
        rawPost("hdr-2", big("hdr-2"), ["Content-Type: Application/JSON; charset=utf-8"]),
      ],
      [
        "a query ending in /auth (dockerd skips bodies of .../auth)",
        rawPost("hdr-3&x=/auth", small, ["Content-Type: application/json"]),
      ],
      [
        "Content-Length and Transfer-Encoding together",
        rawChunked("hdr-4", small, ["Content-Type: application/json", `Content-Length: ${small.length}`]),
      ],
      [
        "Content-Length 0 with the body after it",
        rawPost("hdr-5", small, ["Content-Type: application/json"], 0),
      ],
      [
        "no Content-Type at all",
        rawPost("hdr-6", small, []),
      ],
    ];
    for (const [i, [what, request]] of cases.entries()) {
      const r = await raw("alice", request);
      expect({ what, refused: refused(r) }).toEqual({ what, refused: true });
      if (r.reset) {
        // dockerd answered before it read the whole body and then reset the connection (see HttpResult):
        // the answer must be the plugin's refusal, and the agent must have recorded it as a deny.
        expect({ what, status: r.status }).toEqual({ what, status: 403 });
        expect(r.body).toContain(`authorization denied by plugin ${plugin}`);
        const target = /^POST (\S+) /.exec(request)?.[1] ?? "";
        expect({ what, deniedInAuditLog: await audited(target, false) }).toEqual({
          what,
          deniedInAuditLog: true,
        });
      }
      expect(await exists("containers", `hdr-${i}`)).toBeUndefined();
    }
  });

  test("a denied request pipelined behind an allowed one on the same connection is still judged", async () => {
    const body = JSON.stringify({ Name: "vol-pipelined" });
    const first = ["GET /v1.41/containers/json HTTP/1.1", "Host: localhost", "", ""].join("\r\n");
    const r = await raw("bob", first + rawRequest("POST", "/v1.41/volumes/create", body));
    expect(r.body).toMatch(/^HTTP\/1\.1 200/);
    expect(r.body).toContain("HTTP/1.1 403");
    expect(await exists("volumes", "vol-pipelined")).toBeUndefined();
  });

  test("HTTP/2 requests are judged like HTTP/1.1", async () => {
    const r = await curl("bob", "POST", "/v1.41/volumes/create", ["--http2", ...json({ Name: "vol-h2" })]);
    expect(r.status).toBe(403);
    expect(await exists("volumes", "vol-h2")).toBeUndefined();
    const p = await curl("alice", "POST", "/v1.41/containers/create?name=priv-h2", [
      "--http2",
      ...json(privileged("h2")),
    ]);
    expect(p.status).toBe(403);
    expect(await exists("containers", "priv-h2")).toBeUndefined();
  });

  test("a body with a Content-Length of 0 but trailing bytes does not smuggle a create", async () => {
    const body = JSON.stringify(privileged("cl0"));
    const r = await raw(
      "alice",
      [
        "POST /v1.41/containers/create?name=cl0-priv HTTP/1.1",
        "Host: localhost",
        "Connection: close",
        "Content-Type: application/json",
        "Content-Length: 0",
        "",
        body,
      ].join("\r\n"),
    );
    expect(refused(r)).toBe(true);
    expect(await exists("containers", "cl0-priv")).toBeUndefined();
  });

  test("form-encoded bodies on /images/create and /containers/create are refused", async () => {
    const img = await curl("alice", "POST", "/v1.41/images/create?fromImage=tiny&tag=latest", [
      "-H",
      "Content-Type: application/x-www-form-urlencoded",
      "--data-binary",
      "fromSrc=-&repo=formimg&tag=latest",
    ]);
    expect(img.status).toBe(403);
    expect(img.body).toContain("form-encoded request bodies are refused");
    expect(await exists("images", "formimg:latest")).toBeUndefined();
    const c = await curl("alice", "POST", "/v1.41/containers/create?name=form-priv", [
      "-H",
      "Content-Type: application/x-www-form-urlencoded",
      "--data-binary",
      JSON.stringify(privileged("form")),
    ]);
    expect(refused(c)).toBe(true);
    expect(await exists("containers", "form-priv")).toBeUndefined();
    const mp = await curl("alice", "POST", "/v1.41/containers/create?name=multipart-priv", [
      "-F",
      `config=${JSON.stringify(privileged("mp"))}`,
    ]);
    expect(refused(mp)).toBe(true);
    expect(await exists("containers", "multipart-priv")).toBeUndefined();
  });

  test("case-variant JSON keys do not dodge the privileged rule", async () => {
    const variants: Record<string, unknown>[] = [
      { hostconfig: { Privileged: true } },
      { HostConfig: { privileged: true } },
      { HOSTCONFIG: { PRIVILEGED: true } },
      { hostConfig: { pRiViLeGeD: true } },
      { "Ho\u017ftConfig": { Privileged: true } }, // U+017F long s folds to S in Go
    ];
    for (const [i, v] of variants.entries()) {
      const name = `case-priv-${i}`;
      const r = await curl(
        "alice",
        "POST",
        `/v1.41/containers/create?name=${name}`,
        json({ Image: "tiny:latest", Cmd: ["true"], ...v }),
      );
      expect({ v, status: r.status }).toEqual({ v, status: 403 });
      expect(r.body).toContain("nobody-privileged");
      expect(await exists("containers", name)).toBeUndefined();
    }
  });

  test("duplicate JSON keys do not dodge the privileged rule (Go merges repeated objects)", async () => {
    const bodies = [
      `{"Image":"tiny:latest","Cmd":["true"],"HostConfig":{"Privileged":false},"HostConfig":{"Privileged":true}}`,
      `{"Image":"tiny:latest","Cmd":["true"],"HostConfig":{"Privileged":true,"NetworkMode":"none"},"HostConfig":{"NetworkMode":"none"}}`,
      `{"Image":"tiny:latest","Cmd":["true"],"HostConfig":{"Privileged":true,"NetworkMode":"none"},"hostconfig":{"NetworkMode":"none"}}`,
      `{"Image":"tiny:latest","Cmd":["true"],"hostconfig":{"Privileged":true},"HostConfig":{}}`,
      `{"Image":"tiny:latest","Cmd":["true"],"HostConfig":{"privileged":false,"Privileged":true}}`,
      `{"Image":"tiny:latest","Cmd":["true"],"HostConfig":{"Privileged":true,"NetworkMode":"none","Privileged":null}}`,
    ];
    for (const [i, body] of bodies.entries()) {
      const name = `dup-priv-${i}`;
      const r = await curl("alice", "POST", `/v1.41/containers/create?name=${name}`, [
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        body,
      ]);
      const made = await exists("containers", name);
      const privilegedMade = (made?.["HostConfig"] as Record<string, unknown> | undefined)?.["Privileged"];
      expect({ body, status: r.status, privilegedMade, answer: r.status === 403 ? "" : r.body }).toEqual({
        body,
        answer: "",
        status: 403,
        privilegedMade: undefined,
      });
    }
  });

  test("bob cannot start an exec alice created after his own exec create was denied", async () => {
    const denied = await curl(
      "bob",
      "POST",
      "/v1.41/containers/svc/exec",
      json({ Cmd: ["touch", "/tmp/by-bob"] }),
    );
    expect(denied.status).toBe(403);
    expect(denied.body).toContain("container:exec");
    const created = await curl(
      "alice",
      "POST",
      "/v1.41/containers/svc/exec",
      json({ Cmd: ["touch", "/tmp/pwned"] }),
    );
    expect(created.status).toBe(201);
    const execId = (JSON.parse(created.body) as { Id: string }).Id;
    const start = await curl("bob", "POST", `/v1.41/exec/${execId}/start`, json({ Detach: true }));
    expect(start.status).toBe(403);
    expect(start.body).toContain("authorization denied by plugin");
    // Through a percent-encoded path too.
    const encoded = await curl("bob", "POST", `/v1.41/exec%2F${execId}%2Fstart`, json({ Detach: true }));
    expect(refused(encoded)).toBe(true);
    const info = await exists("exec", execId);
    expect(info?.["Running"]).toBe(false);
    expect(info?.["Pid"]).toBe(0);
    expect(info?.["ExitCode"]).toBeNull();
    const ls = await dockerd.docker(["exec", "svc", "ls", "/tmp/pwned"]);
    expect(ls.code).not.toBe(0);
  });

  test("plugin disable and remove are refused to alice, who is not an administrator", async () => {
    for (
      const [method, path] of [
        ["POST", `/v1.41/plugins/${plugin}/disable`],
        ["POST", `/v1.41/plugins/${plugin}:latest/disable?force=1`],
        ["DELETE", `/v1.41/plugins/${plugin}?force=1`],
        ["DELETE", `/v1.41/plugins%2F${plugin}`],
        ["POST", `/v1.41/plugins/${plugin}/set`],
      ] as const
    ) {
      const r = await curl("alice", method, path, method === "POST" ? json([]) : []);
      expect({ path, status: r.status }).toEqual({ path, status: 403 });
    }
    // The plugin still guards the daemon.
    const after = await curl("bob", "POST", "/v1.41/volumes/create", json({ Name: "after-plugin" }));
    expect(after.status).toBe(403);
    expect(await exists("volumes", "after-plugin")).toBeUndefined();
  });

  /** What the websocket box's `cat` has written from its stdin so far (to /stdin.txt: the image has no /tmp). */
  const wsboxStdin = async (): Promise<string> => {
    const config = join(dir, "admin-docker-config");
    mkdirSync(config, { recursive: true });
    const headers = adminToken ? { HttpHeaders: { "X-Macaroon": adminToken } } : {};
    writeFileSync(join(config, "config.json"), JSON.stringify(headers));
    const r = await run([
      "docker",
      "-H",
      `unix://${dockerd.socket}`,
      "exec",
      "wsbox",
      "cat",
      "/stdin.txt",
    ], {
      env: { DOCKER_CONFIG: config },
    });
    if (r.code !== 0) throw new Error(`reading wsbox's stdin file: ${r.stderr}`);
    return r.stdout;
  };

  test(
    "bob's GET-only seed rule does not let him write to a container through the websocket attach",
    async () => {
      await admin([
        "run",
        "-d",
        "-i",
        "--name",
        "wsbox",
        "--network",
        "none",
        "tiny:latest",
        "sh",
        "-c",
        "cat > /stdin.txt",
      ]);
      // Control: alice, allowed everything, writes through the websocket and the line arrives.
      const control = await wsAttach(dockerd.tcpPort!, tls, "alice", "wsbox", "from-alice");
      expect(control.status).toBe(101);
      await waitFor("alice's line in wsbox", async () => (await wsboxStdin()).includes("from-alice"), 10_000);
      // bob's rule (methods: [GET] on /containers/) still reads...
      expect((await curl("bob", "GET", "/v1.41/containers/wsbox/logs?stdout=1")).status).toBe(200);
      // ...but the websocket attach is a GET that writes, so it does not reach it.
      const bob = await wsAttach(dockerd.tcpPort!, tls, "bob", "wsbox", "from-bob");
      expect(bob.status).toBe(403);
      expect(bob.text).toContain("no rule allows container:attach for bob");
      await Bun.sleep(500);
      expect(await wsboxStdin()).toBe("from-alice\n");
    },
    60_000,
  );

  test(
    "a container-scoped macaroon cannot act on another container by name, short id or full id",
    async () => {
      const ids = { state: ["--state-dir", state] };
      const init = await agentCli(["id", "init", ...ids.state], { DOCKER_HOST: `unix://${dockerd.socket}` });
      expect(init.code).toBe(0);
      adminToken = init.stdout.trimEnd().split("\n").at(-1)!;
      await Bun.sleep(1_200);
      const minted = await agentCli(["id", "create", "--container-id", "svc", ...ids.state], {
        DOCKER_HOST: `unix://${dockerd.socket}`,
        DOCKER_CONFIG: join(dir, "none"),
      });
      expect(minted.code).toBe(0);
      scoped = minted.stdout.trimEnd().split("\n").at(-1)!;
      const header = ["-H", `X-Macaroon: ${scoped}`];
      const otherId = String((await exists("containers", "other"))?.["Id"]);
      // Control: the token works on its own container.
      const own = await curl("alice", "GET", `/v1.41/containers/${svcId.slice(0, 12)}/json`, header);
      expect(own.status).toBe(200);
      for (const ref of ["other", otherId.slice(0, 12), otherId, otherId.slice(0, 5), `/other`]) {
        const r = await curl("alice", "POST", `/v1.41/containers/${encodeURIComponent(ref)}/pause`, header);
        expect({ ref, refused: refused(r) }).toEqual({ ref, refused: true });
        if (ref !== "/other") expect(r.body).toContain("not on this token's container");
      }
      for (const path of ["/v1.41/containers%2Fother%2Fpause", "/v1.41/containers/svc%2F..%2Fother/pause"]) {
        const encoded = await curl("alice", "POST", path, header);
        expect({ path, refused: refused(encoded) }).toEqual({ path, refused: true });
      }
      // An exec made (by the administrator) in the other container cannot be started with svc's token.
      const made = await fetch("http://docker/v1.41/containers/other/exec", {
        method: "POST",
        unix: dockerd.socket,
        headers: { "X-Macaroon": adminToken, "Content-Type": "application/json" },
        body: JSON.stringify({ Cmd: ["touch", "/tmp/scoped-pwned"] }),
      } as RequestInit);
      expect(made.status).toBe(201);
      const execId = ((await made.json()) as { Id: string }).Id;
      const start = await curl("alice", "POST", `/v1.41/exec/${execId}/start`, [
        ...header,
        ...json({ Detach: true }),
      ]);
      expect(start.status).toBe(403);
      expect(start.body).toContain("not on this token's container");
      expect((await exists("exec", execId))?.["Pid"]).toBe(0);
      const created = await curl("alice", "POST", "/v1.41/containers/create?name=scoped-new", [
        ...header,
        ...json({ Image: "tiny:latest" }),
      ]);
      expect(created.status).toBe(403);
      expect(await exists("containers", "scoped-new")).toBeUndefined();
      const other = await exists("containers", "other");
      expect((other?.["State"] as Record<string, unknown>)["Paused"]).toBe(false);
      expect((other?.["State"] as Record<string, unknown>)["Running"]).toBe(true);
      // Without any token the gate refuses even alice.
      const bare = await curl("alice", "POST", "/v1.41/containers/other/pause");
      expect(bare.status).toBe(403);
    },
    90_000,
  );

  test(
    "a container named like svc's short id takes that reference over; the scoped token loses it",
    async () => {
      expect(scoped).not.toBe("");
      const header = ["-H", `X-Macaroon: ${scoped}`];
      const short = svcId.slice(0, 12);
      // The agent has resolved (and cached) the short id as svc above.
      expect((await curl("alice", "GET", `/v1.41/containers/${short}/json`, header)).status).toBe(200);
      const made = await fetch(`http://docker/v1.41/containers/create?name=${short}`, {
        method: "POST",
        unix: dockerd.socket,
        headers: { "X-Macaroon": adminToken!, "Content-Type": "application/json" },
        body: JSON.stringify({ Image: "tiny:latest", Cmd: ["true"], HostConfig: { NetworkMode: "none" } }),
      } as RequestInit);
      expect(made.status).toBe(201);
      const shadowId = ((await made.json()) as { Id: string }).Id;
      await Bun.sleep(300); // the create event reaches the agent's resolver cache
      // dockerd resolves an exact name before an id prefix: this now names the new container.
      const r = await curl("alice", "DELETE", `/v1.41/containers/${short}?force=1`, header);
      expect(r.status).toBe(403);
      expect(r.body).toContain("not on this token's container");
      expect((await exists("containers", shadowId))?.["Id"]).toBe(shadowId);
      expect((await exists("containers", svcId))?.["Id"]).toBe(svcId);
    },
    60_000,
  );

  test(
    "an op = read macaroon does not let alice write to a container through the websocket attach",
    async () => {
      expect(adminToken).toBeDefined();
      const minted = await agentCli(["id", "create", "--op", "read", "--state-dir", state], {
        DOCKER_HOST: `unix://${dockerd.socket}`,
        DOCKER_CONFIG: join(dir, "none"),
      });
      expect(minted.code).toBe(0);
      const readOnly = minted.stdout.trimEnd().split("\n").at(-1)!;
      // The read-only token reads the container...
      const inspect = await curl("alice", "GET", "/v1.41/containers/wsbox/json", [
        "-H",
        `X-Macaroon: ${readOnly}`,
      ]);
      expect(inspect.status).toBe(200);
      // ...and cannot write to its stdin through the websocket attach.
      const denied = await wsAttach(dockerd.tcpPort!, tls, "alice", "wsbox", "from-read-token", [
        `X-Macaroon: ${readOnly}`,
      ]);
      expect(denied.status).toBe(403);
      expect(denied.text).toContain(
        'macaroon caveat \\"op = read\\" not satisfied: container:attach (GET) is a write request',
      );
      // Control: the same request with the root macaroon writes.
      const root = await wsAttach(dockerd.tcpPort!, tls, "alice", "wsbox", "from-root-token", [
        `X-Macaroon: ${adminToken}`,
      ]);
      expect(root.status).toBe(101);
      await waitFor(
        "the root token's line in wsbox",
        async () => (await wsboxStdin()).includes("from-root-token"),
      );
      expect(await wsboxStdin()).toBe("from-alice\nfrom-root-token\n");
    },
    60_000,
  );
});
