/**
 * The console app with no server: app.request with a fake connection, a real CA, API keys in a temp state
 * directory and a controllable clock. The page and its headers, signing in and out (API key, certificate,
 * macaroon), CSRF on every change, who sees what (administrators and the others), the policy form against
 * `agent policy test`'s own code, and the live decisions.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadApiKeys } from "../../../src/apikey/index.ts";
import { CONSOLE_ASSETS } from "../../../src/console/assets.generated.ts";
import { CONSOLE_CSP } from "../../../src/console/console-app.ts";
import { sessionAuthenticator } from "../../../src/console/session-authenticator.ts";
import { SESSION_LIFETIME_MS } from "../../../src/console/sessions.ts";
import { tryDecision } from "../../../src/decide/try-decision.ts";
import { loadPolicy } from "../../../src/policy/index.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { removeTempDirs } from "../../helpers/fixtures.ts";
import {
  auditEvent,
  CONNECTION,
  type ConsoleCa,
  consoleCa,
  type ConsoleHarness,
  consoleHarness,
  POLICY,
  type SignedIn,
  START,
  withCertificate,
} from "./helpers.ts";

let ca: ConsoleCa;
beforeAll(async () => {
  ca = await consoleCa();
});
afterAll(removeTempDirs);

/** The CSP exactly as src/console/CONTRACT.md gives it. */
const CONTRACT_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

async function body(res: Response): Promise<Record<string, unknown>> {
  expect(res.headers.get("content-type")).toBe("application/json");
  return (await res.json()) as Record<string, unknown>;
}

function expectSecurityHeaders(res: Response): void {
  expect(res.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
  expect(res.headers.get("x-frame-options")).toBe("DENY");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
}

interface CallOptions {
  readonly method?: string;
  readonly json?: unknown;
  readonly text?: string;
  /** The CSRF token to send: the session's by default, null for none. */
  readonly csrf?: string | null;
}

/** A request of the signed-in page: its cookie, and its CSRF token unless told otherwise. */
function call(h: ConsoleHarness, s: SignedIn, path: string, options: CallOptions = {}): Promise<Response> {
  const csrf = options.csrf === undefined ? s.csrf : options.csrf;
  const headers: Record<string, string> = { cookie: s.cookie };
  if (csrf !== null) headers["x-csrf-token"] = csrf;
  const text = options.text ?? (options.json === undefined ? undefined : JSON.stringify(options.json));
  if (text !== undefined) headers["content-type"] = "application/json";
  return h.request(path, {
    method: options.method ?? "GET",
    headers,
    ...(text === undefined ? {} : { body: text }),
  });
}

const postSession = (h: ConsoleHarness, text: string, connection = CONNECTION) =>
  h.request("/console/api/session", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: text,
  }, connection);

describe("console: the page", () => {
  test("GET /console/ is index.html with the CSP of the contract, DENY framing and nosniff", async () => {
    const h = await consoleHarness(ca);
    const res = await h.request("/console/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expectSecurityHeaders(res);
    expect(CONSOLE_CSP).toBe(CONTRACT_CSP);
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("cache-control")).toBe("no-store");
    const html = await res.text();
    expect(html).toBe(CONSOLE_ASSETS["/console/"]!.body);
    expect(html).toMatch(/^<!doctype html>/i);
  });

  test("the HTML has no inline script, no inline style attribute and no inline event handler", async () => {
    const h = await consoleHarness(ca);
    const html = await (await h.request("/console/")).text();
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, content] of scripts) {
      expect(attributes).toMatch(/\bsrc="\/console\/[^"]+"/);
      expect(content!.trim()).toBe("");
    }
    expect(html).not.toMatch(/<style\b/i);
    expect(html).not.toMatch(/\sstyle\s*=/i);
    expect(html).not.toMatch(/\son[a-z]+\s*=/i);
    expect(html).not.toMatch(/javascript:/i);
  });

  test("every embedded asset is served as it is, with its type and the security headers", async () => {
    const h = await consoleHarness(ca);
    for (const [path, asset] of Object.entries(CONSOLE_ASSETS)) {
      const res = await h.request(path);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      expect(res.headers.get("content-type")).toBe(asset.type);
      expectSecurityHeaders(res);
      expect(await res.text()).toBe(asset.body);
    }
  });

  test("/console redirects to /console/", async () => {
    const h = await consoleHarness(ca);
    const res = await h.request("/console");
    expect(res.status).toBe(308);
    expect(res.headers.get("location")).toBe("/console/");
  });

  test("an unknown asset or endpoint is a 404 {error} with the security headers", async () => {
    const h = await consoleHarness(ca);
    for (
      const path of [
        "/console/nothing.js",
        "/console/app.js.map",
        "/console/api/nothing",
        "/console/web/app.js",
      ]
    ) {
      const res = await h.request(path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expectSecurityHeaders(res);
      expect(await body(res)).toEqual({ error: "not found" });
    }
    expect((await h.request("/console/", { method: "POST" })).status).toBe(404);
  });
});

describe("console: signing in with an API key", () => {
  test("the right key: 200, the session cookie with its attributes, the session and never the key", async () => {
    const h = await consoleHarness(ca);
    const s = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    expect(s.response.status).toBe(200);
    expectSecurityHeaders(s.response);
    const setCookie = s.response.headers.get("set-cookie")!;
    expect(setCookie).toMatch(/^agent_console=[A-Za-z0-9_-]{43}; /);
    for (const attribute of ["HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=3600"]) {
      expect(setCookie.split("; ")).toContain(attribute);
    }
    expect(s.body).toEqual({
      user: "alice",
      administrator: true,
      macaroon: false,
      csrf: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
      expiresAt: new Date(START + SESSION_LIFETIME_MS).toISOString(),
      via: "apikey",
    });
    const text = JSON.stringify(s.body);
    expect(text).not.toContain(h.keys.alice.key);
    expect(text).not.toContain(h.keys.alice.key.slice(4));
    expect(text).not.toContain(s.cookie.split("=")[1]!);
    expect(h.sessions.size).toBe(1);
  });

  test("a non-administrator's session says so", async () => {
    const h = await consoleHarness(ca);
    const s = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    expect(s.response.status).toBe(200);
    expect(s.body).toMatchObject({ user: "bob", administrator: false, via: "apikey" });
  });

  test("a wrong key, a wrong user or another user's key: 401 with a fixed text, no cookie, no session", async () => {
    const h = await consoleHarness(ca);
    const wrongKey = h.keys.alice.key.slice(0, -1) + (h.keys.alice.key.endsWith("A") ? "B" : "A");
    for (
      const fields of [
        { user: "alice", apikey: wrongKey },
        { user: "mallory", apikey: h.keys.alice.key },
        { user: "bob", apikey: h.keys.alice.key },
        { user: "alice", apikey: "" },
        { user: "alice" },
        { apikey: h.keys.alice.key },
      ]
    ) {
      const res = await postSession(h, JSON.stringify(fields));
      expect({ fields, status: res.status }).toEqual({ fields, status: 401 });
      expect(res.headers.get("set-cookie")).toBeNull();
      const text = JSON.stringify(await body(res));
      expect(text).toBe(JSON.stringify({ error: "the user or the API key is wrong" }));
      expect(text).not.toContain(wrongKey);
    }
    expect(h.sessions.size).toBe(0);
  });

  test("a non-ASCII user or key is a 401 like any wrong one, not a crash", async () => {
    const h = await consoleHarness(ca);
    for (
      const fields of [
        { user: "al\u00efce", apikey: h.keys.alice.key },
        { user: "alice", apikey: `${h.keys.alice.key}\u00e9` },
        { user: "\u{1F600}", apikey: "\u{1F600}" },
        { user: "alice\n", apikey: h.keys.alice.key },
      ]
    ) {
      const res = await postSession(h, JSON.stringify(fields));
      expect(res.status).toBe(401);
      expect(await body(res)).toEqual({ error: "the user or the API key is wrong" });
    }
    expect(h.sessions.size).toBe(0);
  });

  test("an address that failed too often is told 429, even with the right key", async () => {
    const h = await consoleHarness(ca);
    for (let i = 0; i < 10; i++) {
      expect((await postSession(h, JSON.stringify({ user: "alice", apikey: "agt_wrong" }))).status).toBe(401);
    }
    const res = await postSession(h, JSON.stringify({ user: "alice", apikey: h.keys.alice.key }));
    expect(res.status).toBe(429);
    expect(await body(res)).toEqual({ error: "the user or the API key is wrong" });
    // Another address is not held back.
    const other = await postSession(h, JSON.stringify({ user: "alice", apikey: h.keys.alice.key }), {
      ...CONNECTION,
      address: "198.51.100.4",
    });
    expect(other.status).toBe(200);
  });

  test("a body that is not JSON is a 400, not a 500; JSON that is not an object is a certificate sign-in", async () => {
    const h = await consoleHarness(ca);
    for (const text of ["{", "", "user=alice&apikey=x", '{"user": "alice",}', "\u0000"]) {
      const res = await postSession(h, text);
      expect({ text, status: res.status }).toEqual({ text, status: 400 });
      expect((await body(res)).error).toMatch(/^send JSON/);
    }
    for (const text of ["null", "[]", '"alice"', "42"]) {
      const res = await postSession(h, text);
      expect({ text, status: res.status }).toEqual({ text, status: 401 });
    }
    expect(h.sessions.size).toBe(0);
  });
});

describe("console: signing in with a macaroon", () => {
  const MACAROON = "MDAxY2xvY2F0aW9uIGh0dHBzOi8vYWdlbnQKMDAxZGlkZW50aWZpZXIga2V5LTEvbm9uY2UK";

  test("printable ASCII: the session carries it and says macaroon: true, never repeating it", async () => {
    const h = await consoleHarness(ca);
    const s = await h.signIn({ user: "bob", apikey: h.keys.bob.key, macaroon: MACAROON });
    expect(s.response.status).toBe(200);
    expect(s.body).toMatchObject({ user: "bob", macaroon: true, via: "apikey" });
    expect(JSON.stringify(s.body)).not.toContain(MACAROON);
    expect(JSON.stringify(s.body)).not.toContain(MACAROON.slice(10, 40));
    // The HTTPS API's calls with this session are judged with the macaroon.
    const answer = await sessionAuthenticator(h.sessions).authenticate(
      new Request("https://agent/api/app/v1/container/", { headers: { cookie: s.cookie } }),
      CONNECTION,
    );
    expect(answer).toMatchObject({ kind: "principal", principal: { user: "bob", macaroon: MACAROON } });
    const again = await call(h, s, "/console/api/session");
    expect(await body(again)).toMatchObject({ macaroon: true });
  });

  test("with a client certificate too, and exactly 16 KiB is still accepted", async () => {
    const h = await consoleHarness(ca);
    const s = await h.signIn({ macaroon: "m".repeat(16 * 1024) }, withCertificate(ca.pems.alice));
    expect(s.response.status).toBe(200);
    expect(s.body).toMatchObject({ user: "alice", macaroon: true, via: "certificate" });
  });

  test("an empty macaroon is none", async () => {
    const h = await consoleHarness(ca);
    const s = await h.signIn({ user: "alice", apikey: h.keys.alice.key, macaroon: "" });
    expect(s.body).toMatchObject({ macaroon: false });
  });

  test("not a string, not printable ASCII or over 16 KiB: 400 before the credentials, no session", async () => {
    const h = await consoleHarness(ca);
    for (
      const macaroon of [
        42,
        true,
        null,
        {},
        ["x"],
        "line\nbreak",
        "tab\there",
        "\u0001",
        "caf\u00e9",
        "\u{1F600}",
        "m".repeat(16 * 1024 + 1),
      ]
    ) {
      const res = await postSession(h, JSON.stringify({ user: "alice", apikey: h.keys.alice.key, macaroon }));
      expect({ macaroon: String(macaroon).slice(0, 20), status: res.status }).toEqual({
        macaroon: String(macaroon).slice(0, 20),
        status: 400,
      });
      expect(res.headers.get("set-cookie")).toBeNull();
      expect((await body(res)).error).toBe(
        '"macaroon" is a macaroon\'s text (printable ASCII, at most 16384 characters)',
      );
    }
    expect(h.sessions.size).toBe(0);
  });
});

describe("console: signing in with a client certificate", () => {
  test("{} with a verified certificate of this CA is a session for its user", async () => {
    const h = await consoleHarness(ca);
    const alice = await h.signIn({}, withCertificate(ca.pems.alice));
    expect(alice.response.status).toBe(200);
    expect(alice.body).toMatchObject({
      user: "alice",
      administrator: true,
      macaroon: false,
      via: "certificate",
    });
    const carol = await h.signIn({}, withCertificate(ca.pems.carol));
    expect(carol.body).toMatchObject({ user: "carol", administrator: false, via: "certificate" });
  });

  test("no certificate, or one TLS did not verify: 401", async () => {
    const h = await consoleHarness(ca);
    for (
      const connection of [CONNECTION, { ...withCertificate(ca.pems.alice), peerVerified: false }]
    ) {
      const res = await postSession(h, "{}", connection);
      expect(res.status).toBe(401);
      expect(await body(res)).toEqual({
        error: "no valid client certificate of this agent's CA was presented",
      });
    }
    expect(h.sessions.size).toBe(0);
  });
});

describe("console: the session", () => {
  test("GET /console/api/session with the cookie is the same session; without one it is 401", async () => {
    const h = await consoleHarness(ca);
    const s = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const res = await call(h, s, "/console/api/session", { csrf: null });
    expect(res.status).toBe(200);
    expectSecurityHeaders(res);
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(await body(res)).toEqual(s.body);
    const none = await h.request("/console/api/session");
    expect(none.status).toBe(401);
    expect((await body(none)).error).toMatch(/sign in again/);
    const unknown = await h.request("/console/api/session", {
      headers: { cookie: `agent_console=${"A".repeat(43)}` },
    });
    expect(unknown.status).toBe(401);
  });

  test("a session ends after an hour", async () => {
    const h = await consoleHarness(ca);
    const s = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    h.nowMs = START + SESSION_LIFETIME_MS - 1;
    expect((await call(h, s, "/console/api/session")).status).toBe(200);
    h.nowMs = START + SESSION_LIFETIME_MS;
    expect((await call(h, s, "/console/api/session")).status).toBe(401);
  });

  test("signing out needs the CSRF token; then the cookie is cleared and the session is gone", async () => {
    const h = await consoleHarness(ca);
    const s = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    for (const csrf of [null, "wrong", `${s.csrf}x`]) {
      const refused = await call(h, s, "/console/api/session", { method: "DELETE", csrf });
      expect(refused.status).toBe(403);
      expect(await body(refused)).toEqual({ error: "missing or wrong X-CSRF-Token" });
    }
    expect((await call(h, s, "/console/api/session")).status).toBe(200);
    const out = await call(h, s, "/console/api/session", { method: "DELETE" });
    expect(out.status).toBe(204);
    const cleared = out.headers.get("set-cookie")!;
    expect(cleared).toMatch(/^agent_console=; /);
    expect(cleared.split("; ")).toContain("Max-Age=0");
    expect((await call(h, s, "/console/api/session")).status).toBe(401);
    expect((await call(h, s, "/console/api/session", { method: "DELETE" })).status).toBe(401);
    // And the HTTPS API no longer takes the cookie either.
    const answer = await sessionAuthenticator(h.sessions).authenticate(
      new Request("https://agent/api/app/v1/container/", { headers: { cookie: s.cookie } }),
      CONNECTION,
    );
    expect(answer).toMatchObject({ kind: "failure", status: 401 });
    expect(h.sessions.size).toBe(0);
  });

  test("signing out ends only that session", async () => {
    const h = await consoleHarness(ca);
    const one = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const two = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    expect(one.cookie).not.toBe(two.cookie);
    expect((await call(h, one, "/console/api/session", { method: "DELETE" })).status).toBe(204);
    expect((await call(h, two, "/console/api/session")).status).toBe(200);
  });

  test("one session's CSRF token does not sign another out", async () => {
    const h = await consoleHarness(ca);
    const one = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const two = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const res = await call(h, one, "/console/api/session", { method: "DELETE", csrf: two.csrf });
    expect(res.status).toBe(403);
    expect((await call(h, one, "/console/api/session")).status).toBe(200);
  });
});

describe("console: API keys", () => {
  test("the list: an administrator sees every key, anyone else their own; never a digest", async () => {
    const h = await consoleHarness(ca);
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    const bob = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const all = (await body(await call(h, alice, "/console/api/apikeys"))).keys as Record<string, unknown>[];
    expect(all.map((k) => k["user"]).sort()).toEqual(["alice", "bob"]);
    const mine = (await body(await call(h, bob, "/console/api/apikeys"))).keys as Record<string, unknown>[];
    expect(mine).toEqual([{
      id: h.keys.bob.id,
      prefix: expect.stringMatching(/^agt_/),
      user: "bob",
      name: "laptop",
      createdAt: new Date(START).toISOString(),
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
      status: "active",
    }]);
    const text = JSON.stringify(all);
    expect(text).not.toContain("digest");
    expect(text).not.toContain(h.keys.alice.key);
    expect(text).not.toContain(h.keys.bob.key);
  });

  test("making a key without the CSRF token, or with a wrong one, is refused and writes nothing", async () => {
    const h = await consoleHarness(ca);
    const s = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    for (const csrf of [null, "wrong"]) {
      const res = await call(h, s, "/console/api/apikeys", { method: "POST", json: { name: "x" }, csrf });
      expect(res.status).toBe(403);
    }
    expect((await loadApiKeys(nodeFileSystem, h.layout)).keys).toHaveLength(2);
    expect(h.calls.changed).toBe(0);
  });

  test("making a key: 201 with the key once, saved, in force now, and it signs in", async () => {
    const h = await consoleHarness(ca);
    const s = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const res = await call(h, s, "/console/api/apikeys", {
      method: "POST",
      json: { name: "ci", expires: "30d" },
    });
    expect(res.status).toBe(201);
    const made = await body(res);
    expect(made).toEqual({
      key: expect.stringMatching(/^agt_/),
      id: expect.any(String),
      prefix: expect.stringMatching(/^agt_/),
      user: "bob",
      name: "ci",
      createdAt: new Date(START).toISOString(),
      expiresAt: new Date(START + 30 * 24 * 3600 * 1000).toISOString(),
    });
    expect(h.calls.changed).toBe(1);
    const saved = await loadApiKeys(nodeFileSystem, h.layout);
    expect(saved.keys.map((k) => k.id)).toContain(made["id"] as string);
    // The file holds the digest, never the key.
    expect(await nodeFileSystem.readText(h.layout.apiKeys)).not.toContain(made["key"] as string);
    const again = await h.signIn({ user: "bob", apikey: made["key"] });
    expect(again.response.status).toBe(200);
    const list = (await body(await call(h, s, "/console/api/apikeys"))).keys as Record<string, unknown>[];
    expect(list.find((k) => k["id"] === made["id"])).not.toHaveProperty("key");
  });

  test("a bad expiry or a body that is not JSON is a 400", async () => {
    const h = await consoleHarness(ca);
    const s = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const bad = await call(h, s, "/console/api/apikeys", { method: "POST", json: { expires: "forever" } });
    expect(bad.status).toBe(400);
    expect((await body(bad)).error).toMatch(/expires must be a duration/);
    const notJson = await call(h, s, "/console/api/apikeys", { method: "POST", text: "{" });
    expect(notJson.status).toBe(400);
    expect((await loadApiKeys(nodeFileSystem, h.layout)).keys).toHaveLength(2);
  });

  test("on a fleet member keys are not made or revoked here: 409", async () => {
    const h = await consoleHarness(ca, { fleetMember: true });
    const s = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    expect((await call(h, s, "/console/api/apikeys", { method: "POST", json: {} })).status).toBe(409);
    expect((await call(h, s, `/console/api/apikeys/${h.keys.bob.id}`, { method: "DELETE" })).status).toBe(
      409,
    );
    expect((await loadApiKeys(nodeFileSystem, h.layout)).keys.every((k) => k.revokedAt === undefined)).toBe(
      true,
    );
  });

  test("revoking without the CSRF token is refused and the key keeps working", async () => {
    const h = await consoleHarness(ca);
    const s = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const res = await call(h, s, `/console/api/apikeys/${h.keys.bob.id}`, { method: "DELETE", csrf: null });
    expect(res.status).toBe(403);
    expect((await call(h, s, "/console/api/session")).status).toBe(200);
    expect((await loadApiKeys(nodeFileSystem, h.layout)).keys.every((k) => k.revokedAt === undefined)).toBe(
      true,
    );
  });

  test("someone else's key is not yours to revoke (404); an administrator may revoke anyone's", async () => {
    const h = await consoleHarness(ca);
    const bob = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    const refused = await call(h, bob, `/console/api/apikeys/${h.keys.alice.id}`, { method: "DELETE" });
    expect(refused.status).toBe(404);
    expect(await body(refused)).toEqual({ error: "no such API key of yours" });
    expect((await call(h, alice, "/console/api/session")).status).toBe(200);
    expect((await call(h, bob, "/console/api/apikeys/nope", { method: "DELETE" })).status).toBe(404);
    const revoked = await call(h, alice, `/console/api/apikeys/${h.keys.bob.id}`, { method: "DELETE" });
    expect(revoked.status).toBe(204);
    expect(h.calls.changed).toBe(1);
    // bob's session was made with that key: it ended with it.
    expect((await call(h, bob, "/console/api/session")).status).toBe(401);
    expect((await h.signIn({ user: "bob", apikey: h.keys.bob.key })).response.status).toBe(401);
  });

  test("revoking the key of the current session ends the session (next request 401)", async () => {
    const h = await consoleHarness(ca);
    const s = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    expect((await call(h, s, `/console/api/apikeys/${h.keys.bob.id}`, { method: "DELETE" })).status).toBe(
      204,
    );
    expect((await call(h, s, "/console/api/apikeys")).status).toBe(401);
    // Revoking again changes nothing (and writes nothing).
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    expect((await call(h, alice, `/console/api/apikeys/${h.keys.bob.id}`, { method: "DELETE" })).status).toBe(
      204,
    );
    expect(h.calls.changed).toBe(1);
  });

  test("a key revoked elsewhere (the state reloaded without it) ends its sessions", async () => {
    const h = await consoleHarness(ca);
    const s = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const cert = await h.signIn({}, withCertificate(ca.pems.carol));
    h.state = { ...h.state, apiKeys: { keys: h.state.apiKeys.keys.filter((k) => k.user !== "bob") } };
    expect((await call(h, s, "/console/api/session")).status).toBe(401);
    expect((await call(h, cert, "/console/api/session")).status).toBe(200);
  });
});

describe("console: administrators only", () => {
  test("others get 403 for certificates, revoking one and the macaroon keys; the CA is not touched", async () => {
    const h = await consoleHarness(ca);
    const bob = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    for (
      const [method, path] of [
        ["GET", "/console/api/certificates"],
        ["POST", "/console/api/certificates/0a/revoke"],
        ["GET", "/console/api/macaroons"],
      ] as const
    ) {
      const res = await call(h, bob, path, { method });
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
      expect(await body(res)).toEqual({ error: "administrators only" });
    }
    expect(h.calls.revokedSerials).toEqual([]);
    expect((await h.request("/console/api/certificates")).status).toBe(401);
  });

  test("an administrator lists certificates and macaroon keys", async () => {
    const h = await consoleHarness(ca);
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    expect(await body(await call(h, alice, "/console/api/certificates"))).toEqual({
      certificates: [{ serial: "0a", kind: "api", name: "alice", status: "valid" }],
    });
    expect(await body(await call(h, alice, "/console/api/macaroons"))).toMatchObject({
      keys: [{ id: "k1", status: "current" }],
      revocations: [],
    });
  });

  test("an administrator revokes a certificate with the CSRF token only, and by serial number only", async () => {
    const h = await consoleHarness(ca);
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    const path = "/console/api/certificates/0a/revoke";
    expect((await call(h, alice, path, { method: "POST", csrf: null })).status).toBe(403);
    expect(h.calls.revokedSerials).toEqual([]);
    const bad = await call(h, alice, "/console/api/certificates/alice/revoke", { method: "POST" });
    expect(bad.status).toBe(400);
    const ok = await call(h, alice, path, { method: "POST" });
    expect(ok.status).toBe(200);
    expect(await body(ok)).toEqual({ revoked: "0a" });
    expect(h.calls.revokedSerials).toEqual(["0a"]);
    expect(h.calls.changed).toBe(1);
  });

  test("without a CA here: no certificates, and revoking is a 409", async () => {
    const h = await consoleHarness(ca, { withoutCa: true });
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    expect(await body(await call(h, alice, "/console/api/certificates"))).toEqual({ certificates: [] });
    expect((await call(h, alice, "/console/api/certificates/0a/revoke", { method: "POST" })).status).toBe(
      409,
    );
  });
});

describe("console: the policy", () => {
  test("GET /console/api/policy: its hash, source and rules; the text for administrators only", async () => {
    const h = await consoleHarness(ca);
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    const bob = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const summary = {
      hash: h.policy.hash,
      source: "policy.yaml",
      ruleCount: 3,
      loadedAt: "2026-06-01T09:00:00.000Z",
    };
    expect(await body(await call(h, alice, "/console/api/policy"))).toEqual({ ...summary, text: POLICY });
    expect(await body(await call(h, bob, "/console/api/policy"))).toEqual({ ...summary, text: null });
  });

  const CASES = [
    { user: "bob", method: "POST", uri: "/v1.41/containers/create", body: '{"Image":"alpine"}' },
    {
      user: "bob",
      method: "POST",
      uri: "/v1.41/containers/create",
      body: '{"Image":"alpine","HostConfig":{"Privileged":true}}',
    },
    { user: "bob", method: "GET", uri: "/v1.41/containers/json" },
    { user: "carol", method: "GET", uri: "/v1.41/containers/json" },
    { user: "bob", method: "delete", uri: "/v1.41/containers/abc?force=1" },
    { user: "bob", method: "GET", uri: "/no/such/route" },
    { user: "", method: "GET", uri: "/_ping" },
    { user: "alice", method: "POST", uri: "/v1.41/plugins/pull" },
  ];

  test("the try form answers exactly what tryDecision (`agent policy test`) answers", async () => {
    const h = await consoleHarness(ca);
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    const allows = new Set<boolean>();
    for (const input of CASES) {
      const res = await call(h, alice, "/console/api/policy/try", { method: "POST", json: input });
      expect(res.status).toBe(200);
      const expected = await tryDecision(h.policy, {
        ...(input.user === "" ? {} : { user: input.user }),
        method: input.method,
        uri: input.uri,
        ...(input.body === undefined ? {} : { body: new TextEncoder().encode(input.body) }),
      });
      expect({ input, answer: await body(res) }).toEqual({
        input,
        answer: {
          allow: expected.allow,
          action: expected.action,
          effect: expected.effect,
          rule: expected.ruleId,
          reason: expected.reason,
          user: input.user,
        },
      });
      allows.add(expected.allow);
    }
    // The cases are not all one way: a form that always said "deny" would fail above.
    expect([...allows].sort()).toEqual([false, true]);
  });

  test("without a user an administrator tries as themselves", async () => {
    const h = await consoleHarness(ca);
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    const res = await call(h, alice, "/console/api/policy/try", {
      method: "POST",
      json: { method: "GET", uri: "/v1.41/containers/json" },
    });
    expect(await body(res)).toMatchObject({ allow: true, rule: "ops-all", user: "alice" });
  });

  test("a non-administrator can only try as themselves", async () => {
    const h = await consoleHarness(ca);
    const bob = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const input = { user: "alice", method: "POST", uri: "/v1.41/containers/create", body: '{"Image":"x"}' };
    const res = await call(h, bob, "/console/api/policy/try", { method: "POST", json: input });
    const answer = await body(res);
    const asBob = await tryDecision(h.policy, {
      user: "bob",
      method: input.method,
      uri: input.uri,
      body: new TextEncoder().encode(input.body),
    });
    expect(answer).toEqual({
      allow: asBob.allow,
      action: asBob.action,
      effect: asBob.effect,
      rule: asBob.ruleId,
      reason: asBob.reason,
      user: "bob",
    });
    expect(answer["rule"]).toBe("bob-containers");
    // Trying "privileged" as alice would be allowed by ops-all; as bob it is denied.
    const privileged = await call(h, bob, "/console/api/policy/try", {
      method: "POST",
      json: { ...input, body: '{"Image":"x","HostConfig":{"Privileged":true}}' },
    });
    expect(await body(privileged)).toMatchObject({ allow: false, rule: "bob-no-privileged", user: "bob" });
  });

  test("a missing or odd method or URI, or a body that is not JSON, is a 400; no CSRF token is a 403", async () => {
    const h = await consoleHarness(ca);
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    const path = "/console/api/policy/try";
    for (
      const json of [
        {},
        { method: "GET" },
        { uri: "/info" },
        { method: "GET", uri: "info" },
        { method: "G3T", uri: "/info" },
        { method: "GET", uri: `/${"a".repeat(8192)}` },
        { method: 1, uri: "/info" },
      ]
    ) {
      const res = await call(h, alice, path, { method: "POST", json });
      expect({ json: JSON.stringify(json).slice(0, 40), status: res.status }).toEqual({
        json: JSON.stringify(json).slice(0, 40),
        status: 400,
      });
    }
    expect((await call(h, alice, path, { method: "POST", text: "{" })).status).toBe(400);
    const noCsrf = await call(h, alice, path, { method: "POST", json: CASES[0], csrf: null });
    expect(noCsrf.status).toBe(403);
  });

  test("a JSON body that is null, an array or a number is a 400 on the try form and on key creation", async () => {
    const h = await consoleHarness(ca);
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    for (const text of ["null", "[]", "42", '"text"']) {
      const tried = await call(h, alice, "/console/api/policy/try", { method: "POST", text });
      expect([text, tried.status]).toEqual([text, 400]);
      const made = await call(h, alice, "/console/api/apikeys", { method: "POST", text });
      expect([text, made.status, (await body(made))["error"]]).toEqual([
        text,
        400,
        'send a JSON object: {"name"?, "expires"?}',
      ]);
    }
  });

  test("sign-in from another origin's page is refused (no login CSRF); the console's own origin signs in", async () => {
    const h = await consoleHarness(ca);
    const json = JSON.stringify({ user: "bob", apikey: h.keys.bob.key });
    const foreign = await h.request("/console/api/session", {
      method: "POST",
      headers: { "content-type": "text/plain", origin: "https://evil.example", host: "console.test" },
      body: json,
    });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get("set-cookie")).toBeNull();
    const own = await h.request("/console/api/session", {
      method: "POST",
      headers: { "content-type": "application/json", origin: "https://console.test", host: "console.test" },
      body: json,
    });
    expect(own.status).toBe(200);
  });

  test("?limit=0 on the decisions list gives one event, not the default 500", async () => {
    const h = await consoleHarness(ca);
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    for (let i = 0; i < 3; i++) h.feed.push(auditEvent(i, "alice"));
    const res = await call(h, alice, "/console/api/decisions?limit=0");
    expect(((await body(res))["events"] as unknown[]).length).toBe(1);
  });
});

describe("console: live decisions", () => {
  function pushSome(h: ConsoleHarness) {
    h.feed.push(auditEvent(1, "alice"));
    h.feed.push(auditEvent(2, "bob", { allow: false, ruleId: null, reason: "no rule allows", door: "api" }));
    h.feed.push(auditEvent(3, null));
    h.feed.push(auditEvent(4, "bob"));
    h.feed.push(auditEvent(5, "carol"));
  }
  const idsOf = (events: unknown) =>
    (events as { decisionId: string }[]).map((e) => Number.parseInt(e.decisionId, 16));

  test("an administrator sees every event, newest last; anyone else only their own", async () => {
    const h = await consoleHarness(ca);
    pushSome(h);
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    const bob = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const all = await body(await call(h, alice, "/console/api/decisions"));
    expect(idsOf(all["events"])).toEqual([1, 2, 3, 4, 5]);
    const mine = await body(await call(h, bob, "/console/api/decisions"));
    expect(idsOf(mine["events"])).toEqual([2, 4]);
    expect((mine["events"] as unknown[])[0]).toEqual(
      auditEvent(2, "bob", { allow: false, ruleId: null, reason: "no rule allows", door: "api" }),
    );
    expect((await h.request("/console/api/decisions")).status).toBe(401);
  });

  test("limit keeps the newest; a bad or huge limit falls back to a bound", async () => {
    const h = await consoleHarness(ca);
    pushSome(h);
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    const bob = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const events = async (s: SignedIn, query: string) =>
      idsOf((await body(await call(h, s, `/console/api/decisions?${query}`)))["events"]);
    expect(await events(alice, "limit=2")).toEqual([4, 5]);
    expect(await events(bob, "limit=1")).toEqual([4]);
    expect(await events(alice, "limit=-3")).toEqual([5]);
    expect(await events(alice, "limit=abc")).toEqual([1, 2, 3, 4, 5]);
    expect(await events(alice, "limit=999999")).toEqual([1, 2, 3, 4, 5]);
  });

  test("the stream sends each new visible event as one data: line and stops following when cancelled", async () => {
    const h = await consoleHarness(ca);
    const bob = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const res = await call(h, bob, "/console/api/decisions/stream");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expectSecurityHeaders(res);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const next = async () => decoder.decode((await reader.read()).value);
    expect(await next()).toBe(": agent decisions\n\n");
    expect(h.feed.followers).toBe(1);
    pushSome(h);
    const first = await next();
    expect(first).toBe(
      `data: ${
        JSON.stringify(
          auditEvent(2, "bob", { allow: false, ruleId: null, reason: "no rule allows", door: "api" }),
        )
      }\n\n`,
    );
    expect(await next()).toBe(`data: ${JSON.stringify(auditEvent(4, "bob"))}\n\n`);
    await reader.cancel();
    expect(h.feed.followers).toBe(0);
  });

  test("an administrator's stream carries everyone's events", async () => {
    const h = await consoleHarness(ca);
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    const res = await call(h, alice, "/console/api/decisions/stream");
    const reader = res.body!.getReader();
    await reader.read();
    h.feed.push(auditEvent(7, "carol"));
    const chunk = new TextDecoder().decode((await reader.read()).value);
    expect(JSON.parse(chunk.replace(/^data: /, ""))).toEqual(auditEvent(7, "carol"));
    await reader.cancel();
  });

  test("an open stream narrows when a policy reload makes its user no administrator", async () => {
    const h = await consoleHarness(ca);
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    const reader = (await call(h, alice, "/console/api/decisions/stream")).body!.getReader();
    await reader.read();
    const demoted = loadPolicy(
      POLICY.replace("administrators: [alice]", "administrators: [nobody]"),
      "p.yaml",
    );
    h.state = { ...h.state, policy: demoted, policyHash: demoted.hash };
    h.feed.push(auditEvent(9, "carol")); // no longer alice's to see
    h.feed.push(auditEvent(10, "alice"));
    const chunk = new TextDecoder().decode((await reader.read()).value);
    expect(JSON.parse(chunk.replace(/^data: /, ""))).toEqual(auditEvent(10, "alice"));
    await reader.cancel();
  });

  test("the stream of a session that ended closes at the next event instead of sending it", async () => {
    const h = await consoleHarness(ca);
    const bob = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const reader = (await call(h, bob, "/console/api/decisions/stream")).body!.getReader();
    await reader.read();
    expect((await call(h, bob, "/console/api/session", { method: "DELETE" })).status).toBe(204);
    h.feed.push(auditEvent(8, "bob"));
    expect(await reader.read()).toEqual({ done: true, value: undefined });
    expect(h.feed.followers).toBe(0);
  });

  test("no stream without a session", async () => {
    const h = await consoleHarness(ca);
    expect((await h.request("/console/api/decisions/stream")).status).toBe(401);
    expect(h.feed.followers).toBe(0);
  });
});

describe("console: permissions and host", () => {
  test("the buttons a user may press are the Engine API calls their rules allow", async () => {
    const h = await consoleHarness(ca);
    const bob = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    const alice = await h.signIn({ user: "alice", apikey: h.keys.alice.key });
    const container = "0123abcd-0000-4000-8000-000000000000";
    expect(await body(await call(h, bob, `/console/api/permissions?container=${container}`))).toEqual({
      start: false,
      stop: false,
      redeploy: false,
      scale: false,
      terminate: false,
      logs: true,
      exec: false,
    });
    expect(await body(await call(h, alice, `/console/api/permissions?container=${container}`))).toEqual({
      start: true,
      stop: true,
      redeploy: true,
      scale: false, // containers are not scaled
      terminate: true,
      logs: true,
      exec: true,
    });
    expect(await body(await call(h, alice, `/console/api/permissions?service=${container}`))).toMatchObject({
      scale: true,
    });
    for (const query of ["", "container=", "container=../x", "service=NOT-HEX"]) {
      expect((await call(h, alice, `/console/api/permissions?${query}`)).status).toBe(400);
    }
  });

  test("GET /console/api/host: name, version, gates in force and the state report", async () => {
    const h = await consoleHarness(ca);
    const bob = await h.signIn({ user: "bob", apikey: h.keys.bob.key });
    expect(await body(await call(h, bob, "/console/api/host"))).toEqual({
      name: "host-1",
      version: "9.9.9-test",
      gates: ["policy", "certificate"],
      state: { policy: { digest: "policy-digest", loadedAt: "2026-06-01T09:00:00.000Z", error: null } },
      fleet: null,
      nodes: [],
    });
    expect((await h.request("/console/api/host")).status).toBe(401);
  });
});

describe("console: a certificate revoked after signing in", () => {
  // A session re-checks its certificate on every request, as it does its API key.
  test("its session can no longer make an API key", async () => {
    // A CA of its own: the revocation must not reach the other tests' certificates.
    const own = await consoleCa("console-ca-revoked");
    const h = await consoleHarness(own);
    const carol = await h.signIn({}, withCertificate(own.pems.carol));
    expect(carol.response.status).toBe(200);
    await own.revoke("carol");
    await h.reloadGates();
    // The certificate itself is refused now...
    expect((await postSession(h, "{}", withCertificate(own.pems.carol))).status).toBe(401);
    // ...so its session must not mint a credential that outlives it.
    const res = await call(h, carol, "/console/api/apikeys", { method: "POST", json: { name: "after" } });
    expect(res.status).not.toBe(201);
  });
});
