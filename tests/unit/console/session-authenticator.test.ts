/**
 * The session cookie as a credential of the HTTPS API: none without the cookie, 401 for an unknown or ended
 * session, a change needs the CSRF token, and a websocket upgrade must come from the listener's own origin.
 */
import { describe, expect, test } from "bun:test";
import type { Principal } from "../../../src/api/authenticate.ts";
import { sameOrigin, sessionAuthenticator } from "../../../src/console/session-authenticator.ts";
import { ConsoleSessions, SESSION_COOKIE } from "../../../src/console/sessions.ts";
import { seededRandom } from "../../helpers/fixtures.ts";
import { CONNECTION } from "./helpers.ts";

const ALICE: Principal = { user: "alice", groups: [], authMethod: "apikey", keyId: "key-1" };
const HOST = "agent.example:8443";

function setup() {
  const clock = { now: 0 };
  const active = new Set(["key-1"]);
  const sessions = new ConsoleSessions({
    random: seededRandom("console-session-authenticator"),
    nowMs: () => clock.now,
    keyActive: (id) => active.has(id),
    certificateActive: () => true,
  });
  const { id, session } = sessions.create(ALICE, "apikey", "key-1");
  const authenticator = sessionAuthenticator(sessions);
  const ask = (method: string, headers: Record<string, string> = {}, cookie: string | null = id) =>
    authenticator.authenticate(
      new Request(`https://${HOST}/api/app/v1/container/`, {
        method,
        headers: {
          host: HOST,
          ...(cookie === null ? {} : { cookie: `${SESSION_COOKIE}=${cookie}` }),
          ...headers,
        },
      }),
      CONNECTION,
    ) as unknown;
  return { sessions, id, session, ask, clock, active, authenticator };
}

const PRINCIPAL = { kind: "principal", principal: ALICE };

describe("the console session authenticator", () => {
  test("is named console", () => {
    expect(setup().authenticator.name).toBe("console");
  });

  test("no cookie (or only other cookies) is none: the next authenticator is asked", () => {
    const s = setup();
    expect(s.ask("GET", {}, null)).toEqual({ kind: "none" });
    expect(s.ask("POST", { cookie: "other=1" }, null)).toEqual({ kind: "none" });
  });

  test("an unknown, malformed or ended session is a 401 failure", () => {
    const s = setup();
    const failure = { kind: "failure", status: 401, reason: "console session ended or unknown" };
    expect(s.ask("GET", {}, "A".repeat(43))).toEqual(failure);
    expect(s.ask("GET", {}, "garbage")).toEqual(failure);
    expect(s.ask("GET", {}, "")).toEqual(failure);
    s.active.delete("key-1");
    expect(s.ask("GET")).toEqual(failure);
  });

  test("GET and HEAD with a valid cookie are the session's principal, no CSRF token needed", () => {
    const s = setup();
    expect(s.ask("GET")).toEqual(PRINCIPAL);
    expect(s.ask("HEAD")).toEqual(PRINCIPAL);
  });

  test("POST, PUT, DELETE and PATCH without the CSRF token, or with a wrong one, are 401", () => {
    const s = setup();
    const refused = { kind: "failure", status: 401, reason: "console session: missing or wrong CSRF token" };
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      expect(s.ask(method)).toEqual(refused);
      expect(s.ask(method, { "x-csrf-token": "wrong" })).toEqual(refused);
      expect(s.ask(method, { "x-csrf-token": s.session.csrf.slice(0, -1) })).toEqual(refused);
      // The token is a header, never a cookie.
      expect(s.ask(method, { cookie: `${SESSION_COOKIE}=${s.id}; x-csrf-token=${s.session.csrf}` }, null))
        .toEqual(refused);
    }
  });

  test("a change with the right CSRF token is the principal (the header name in any case)", () => {
    const s = setup();
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      expect(s.ask(method, { "x-csrf-token": s.session.csrf })).toEqual(PRINCIPAL);
      expect(s.ask(method, { "X-CSRF-Token": s.session.csrf })).toEqual(PRINCIPAL);
    }
  });

  test("a websocket upgrade without Origin, or from another origin, is 401", () => {
    const s = setup();
    const refused = {
      kind: "failure",
      status: 401,
      reason: "console session: a websocket from another origin",
    };
    const upgrade = { upgrade: "websocket", connection: "upgrade" };
    expect(s.ask("GET", upgrade)).toEqual(refused);
    for (
      const origin of [
        "https://evil.example",
        `http://${HOST}`,
        "https://agent.example",
        "https://agent.example:443",
        `https://${HOST}.evil.example`,
        `https://${HOST}/`,
        "null",
      ]
    ) {
      expect({ origin, answer: s.ask("GET", { ...upgrade, origin }) }).toEqual({ origin, answer: refused });
    }
  });

  test("a websocket upgrade from https://<host> is the principal", () => {
    const s = setup();
    expect(s.ask("GET", { upgrade: "websocket", connection: "upgrade", origin: `https://${HOST}` })).toEqual(
      PRINCIPAL,
    );
  });

  test("an unknown session is refused before the origin is looked at", () => {
    const s = setup();
    expect(s.ask("GET", { upgrade: "websocket", origin: "https://evil.example" }, "A".repeat(43)))
      .toMatchObject(
        { kind: "failure", reason: "console session ended or unknown" },
      );
  });
});

describe("sameOrigin", () => {
  const request = (headers: Record<string, string>) => new Request("https://agent/", { headers });

  test("true only for https:// and exactly the Host header, port included", () => {
    expect(sameOrigin(request({ host: "agent", origin: "https://agent" }))).toBe(true);
    expect(sameOrigin(request({ host: "agent:8443", origin: "https://agent:8443" }))).toBe(true);
    expect(sameOrigin(request({ host: "agent:8443", origin: "https://agent" }))).toBe(false);
    expect(sameOrigin(request({ host: "agent", origin: "https://agent:8443" }))).toBe(false);
    expect(sameOrigin(request({ host: "agent:8443", origin: "https://agent:9443" }))).toBe(false);
  });

  test("false for http://, other hosts, a missing Origin and a missing Host", () => {
    expect(sameOrigin(request({ host: "agent", origin: "http://agent" }))).toBe(false);
    expect(sameOrigin(request({ host: "agent", origin: "https://other" }))).toBe(false);
    expect(sameOrigin(request({ host: "agent", origin: "wss://agent" }))).toBe(false);
    expect(sameOrigin(request({ host: "agent" }))).toBe(false);
    expect(sameOrigin(new Request("https://agent/", { headers: { origin: "https://agent" } }))).toBe(
      // Bun's Request has no Host header unless one is set: with none there is nothing to compare with.
      false,
    );
  });
});
