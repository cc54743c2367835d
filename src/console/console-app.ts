/**
 * The web console on the HTTPS listener (`/console/`): the page itself (embedded, src/console/web/ through
 * assets.generated.ts) with a strict Content-Security-Policy, and the few endpoints the Docker Cloud API has no
 * counterpart for (src/console/CONTRACT.md): the session, the live decisions, which buttons to show, the
 * identities, the policy and its try form, this host. Everything else the page does goes through the HTTPS API
 * and the Stream API with the session cookie, decided and audited like any other client.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { Authenticator, Principal } from "../api/authenticate.ts";
import { apiFacts } from "../api/facts.ts";
import { isAdministrator } from "../api/namespace.ts";
import {
  apiKeyStatus,
  createApiKey,
  loadApiKeys,
  loadLastUsed,
  mergeLastUsed,
  revokeApiKey,
  saveApiKeys,
} from "../apikey/index.ts";
import type { AuditEvent } from "../audit/event.ts";
import { parseDuration } from "../cli/apikey/duration.ts";
import { decide } from "../decide/decide.ts";
import { policyGate } from "../decide/policy-gate.ts";
import { isObject } from "../policy/go-json.ts";
import { tryDecision } from "../decide/try-decision.ts";
import { isAgentError } from "../errors.ts";
import type { Clock, FileSystem, HttpsConnection, RandomBytes } from "../ports.ts";
import type { LoadedState, PieceStatus } from "../server/plugin-state.ts";
import type { StateLayout } from "../store/layout.ts";
import { CONSOLE_ASSETS } from "./assets.generated.ts";
import type { DecisionFeed } from "./decision-feed.ts";
import { sameOrigin } from "./session-authenticator.ts";
import { ConsoleSessions, CSRF_HEADER, sessionCookie, sessionCookieOf } from "./sessions.ts";

export const CONSOLE_PREFIX = "/console/";

/** No inline script or style, nothing from elsewhere, never in a frame. */
export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONSOLE_CSP,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
  "cross-origin-opener-policy": "same-origin",
};

export interface ConsoleDeps {
  readonly sessions: ConsoleSessions;
  readonly feed: DecisionFeed;
  /** The listener's authenticators for signing in: an API key (as Basic), or the client certificate. */
  readonly apiKeyAuthenticator: Authenticator;
  readonly certificateAuthenticator: Authenticator;
  readonly state: () => LoadedState;
  readonly report: () => Record<string, PieceStatus>;
  readonly fs: FileSystem;
  readonly layout: StateLayout;
  readonly clock: Clock;
  readonly random: RandomBytes;
  readonly host: () => { name: string; version: string; fleet: unknown; nodes: unknown[] };
  /** Fleet members do not change keys locally: they are the fleet's (agent apikey on the operator's host). */
  readonly fleetMember: boolean;
  /** The CA's certificates and their revocation (administrators); undefined without a CA here. */
  readonly ca?: {
    list(): Promise<readonly unknown[]>;
    revoke(serial: string): Promise<void>;
  };
  readonly macaroons: () => Promise<{ keys: unknown[]; revocations: unknown[] }>;
  /** The policy's text as loaded (administrators see it). */
  readonly policyText: () => Promise<string | null>;
  /** Loads the state the console just wrote (a revoked key stops working now, not at the next poll). */
  readonly changed: () => Promise<void>;
}

type Env = { Bindings: { connection: HttpsConnection } };

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...SECURITY_HEADERS, "content-type": "application/json", ...headers },
  });
}

function error(status: number, message: string): Response {
  return json({ error: message }, status);
}

function sessionView(
  session: { principal: Principal; csrf: string; expiresAtMs: number; via: string },
  admin: boolean,
) {
  return {
    user: session.principal.user,
    administrator: admin,
    // Whether the session carries a macaroon, never the macaroon itself.
    macaroon: session.principal.macaroon !== undefined,
    csrf: session.csrf,
    expiresAt: new Date(session.expiresAtMs).toISOString(),
    via: session.via,
  };
}

/** A JSON object's fields, or undefined for anything else (not JSON, null, an array, a number). */
function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A macaroon's text in any of its formats (base64 or JSON), as the plugin's limit bounds it. */
const MAX_MACAROON_TEXT = 16 * 1024;
const MACAROON_TEXT = new RegExp(`^[\\x20-\\x7e]{1,${MAX_MACAROON_TEXT}}$`);

/** The buttons of the namespaces page, as the Engine API calls they are decided as (ids are placeholders). */
const BUTTONS: Readonly<Record<string, readonly { method: string; uri: string }[]>> = {
  start: [{ method: "POST", uri: "/containers/ID/start" }],
  stop: [{ method: "POST", uri: "/containers/ID/stop" }],
  redeploy: [{ method: "POST", uri: "/containers/create" }, {
    method: "DELETE",
    uri: "/containers/ID?force=1",
  }],
  scale: [{ method: "POST", uri: "/containers/create" }],
  terminate: [{ method: "DELETE", uri: "/containers/ID?force=1" }],
  logs: [{ method: "GET", uri: "/containers/ID/logs?stdout=1&stderr=1" }],
  exec: [{ method: "POST", uri: "/containers/ID/exec" }, { method: "POST", uri: "/exec/ID/start" }],
};

export function createConsoleApp(deps: ConsoleDeps): Hono<Env> {
  const app = new Hono<Env>();
  const { sessions } = deps;

  for (const [path, asset] of Object.entries(CONSOLE_ASSETS)) {
    app.get(
      path,
      () => new Response(asset.body, { headers: { ...SECURITY_HEADERS, "content-type": asset.type } }),
    );
  }
  app.get("/console", () => new Response(null, { status: 308, headers: { location: CONSOLE_PREFIX } }));

  const adminOf = (principal: Principal) => isAdministrator(principal, deps.state().policy);
  /** The session of a request, or a 401 (and, for a change without the CSRF token, a 403). */
  const signedIn = (c: Context<Env>) => {
    const session = sessions.get(sessionCookieOf(c.req.raw));
    if (session === undefined) return error(401, "not signed in (or the session ended): sign in again");
    const method = c.req.method.toUpperCase();
    if (
      method !== "GET" && method !== "HEAD" &&
      !ConsoleSessions.csrfMatches(session, c.req.header(CSRF_HEADER) ?? null)
    ) {
      return error(403, "missing or wrong X-CSRF-Token");
    }
    return session;
  };

  app.post("/console/api/session", async (c) => {
    // No sign-in from another site's page (a form posting the attacker's own key would sign the visitor in as
    // the attacker): a browser names the page's origin on every cross-site POST.
    if (c.req.header("origin") !== undefined && !sameOrigin(c.req.raw)) {
      return error(403, "sign in from the console's own page (this request came from another origin)");
    }
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return error(400, 'send JSON: {"user", "apikey"}, or {} to use your client certificate');
    }
    const fields = typeof body === "object" && body !== null ? body as Record<string, unknown> : {};
    const connection = c.env.connection;
    let principal: Principal | undefined;
    let via: "apikey" | "certificate";
    const macaroon = fields["macaroon"] === undefined || fields["macaroon"] === ""
      ? undefined
      : fields["macaroon"];
    if (macaroon !== undefined && (typeof macaroon !== "string" || !MACAROON_TEXT.test(macaroon))) {
      return error(
        400,
        `"macaroon" is a macaroon's text (printable ASCII, at most ${MAX_MACAROON_TEXT} characters)`,
      );
    }
    if (typeof fields["apikey"] === "string" || typeof fields["user"] === "string") {
      const user = String(fields["user"] ?? "");
      const key = String(fields["apikey"] ?? "");
      // Basic credentials are ASCII (user names and keys are); anything else cannot be right.
      if (!/^[\x20-\x7e]*$/.test(user + key)) return error(401, "the user or the API key is wrong");
      // The listener's own API key check (throttled per address, fixed texts, uses recorded).
      const basic = new Request("https://console/", {
        headers: { authorization: `Basic ${btoa(`${user}:${key}`)}` },
      });
      const answer = await deps.apiKeyAuthenticator.authenticate(basic, connection);
      if (answer.kind !== "principal") {
        return error(
          answer.kind === "failure" && answer.status === 429 ? 429 : 401,
          "the user or the API key is wrong",
        );
      }
      principal = answer.principal;
      via = "apikey";
    } else {
      const answer = await deps.certificateAuthenticator.authenticate(c.req.raw, connection);
      if (answer.kind !== "principal") {
        return error(401, "no valid client certificate of this agent's CA was presented");
      }
      principal = answer.principal;
      via = "certificate";
    }
    if (macaroon !== undefined) principal = { ...principal, macaroon };
    const { id, session } = sessions.create(principal, via, principal.keyId);
    return json(sessionView(session, adminOf(principal)), 200, { "set-cookie": sessionCookie(id) });
  });

  app.get("/console/api/session", (c) => {
    const session = signedIn(c);
    return session instanceof Response ? session : json(sessionView(session, adminOf(session.principal)));
  });

  app.delete("/console/api/session", (c) => {
    const session = signedIn(c);
    if (session instanceof Response) return session;
    sessions.end(sessionCookieOf(c.req.raw));
    return new Response(null, {
      status: 204,
      headers: { ...SECURITY_HEADERS, "set-cookie": sessionCookie(undefined) },
    });
  });

  // Asked for each event: a policy reload that makes someone no longer an administrator narrows an open stream.
  const visibleTo = (principal: Principal) => (event: AuditEvent) =>
    event.user === principal.user || adminOf(principal);

  app.get("/console/api/decisions", (c) => {
    const session = signedIn(c);
    if (session instanceof Response) return session;
    const asked = Number(c.req.query("limit") ?? "500");
    const limit = Number.isFinite(asked) ? Math.min(Math.max(Math.trunc(asked), 1), 2_000) : 500;
    return json({ events: deps.feed.recent(limit, visibleTo(session.principal)) });
  });

  app.get("/console/api/decisions/stream", (c) => {
    const session = signedIn(c);
    if (session instanceof Response) return session;
    const visible = visibleTo(session.principal);
    const encoder = new TextEncoder();
    let stop = () => {};
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(": agent decisions\n\n"));
        const timer = setInterval(() => controller.enqueue(encoder.encode(": keep-alive\n\n")), 15_000);
        const unfollow = deps.feed.follow((event) => {
          if (!visible(event)) return;
          // A session that ended (signed out, key revoked) stops here.
          if (sessions.get(sessionCookieOf(c.req.raw)) === undefined) {
            stop();
            controller.close();
            return;
          }
          if ((controller.desiredSize ?? 1) <= 0) return; // a reader that does not keep up loses events, not memory
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(event)}\n\n`));
        });
        stop = () => {
          clearInterval(timer);
          unfollow();
        };
      },
      cancel() {
        stop();
      },
    }, { highWaterMark: 256 });
    return new Response(stream, {
      headers: { ...SECURITY_HEADERS, "content-type": "text/event-stream", "x-agent-stream": "1" },
    });
  });

  app.get("/console/api/permissions", async (c) => {
    const session = signedIn(c);
    if (session instanceof Response) return session;
    const id = c.req.query("container") ?? c.req.query("service") ?? "";
    if (!/^[0-9a-f-]{1,64}$/.test(id)) return error(400, "give ?container=UUID or ?service=UUID");
    const gate = policyGate(deps.state().policy);
    const out: Record<string, boolean> = {};
    const placeholder = "0".repeat(64);
    for (const [button, calls] of Object.entries(BUTTONS)) {
      let allowed = true;
      for (const call of calls) {
        const facts = apiFacts(
          session.principal,
          c.env.connection,
          { method: call.method, uri: call.uri.replace("ID", c.req.query("container") ?? placeholder) },
          undefined,
        );
        if (!(await decide(facts, [gate])).allow) allowed = false;
      }
      out[button] = allowed;
    }
    if (c.req.query("container") !== undefined) out["scale"] = false; // containers are not scaled
    return json(out);
  });

  app.get("/console/api/apikeys", async (c) => {
    const session = signedIn(c);
    if (session instanceof Response) return session;
    const admin = adminOf(session.principal);
    const set = mergeLastUsed(
      await loadApiKeys(deps.fs, deps.layout),
      await loadLastUsed(deps.fs, deps.layout).catch(() => new Map<string, string>()),
    );
    const now = deps.clock();
    const keys = set.keys.filter((k) => admin || k.user === session.principal.user).map((k) => ({
      id: k.id,
      prefix: k.prefix,
      user: k.user,
      name: k.name,
      createdAt: k.createdAt,
      expiresAt: k.expiresAt ?? null,
      revokedAt: k.revokedAt ?? null,
      lastUsedAt: k.lastUsedAt ?? null,
      status: apiKeyStatus(k, now),
    }));
    return json({ keys });
  });

  app.post("/console/api/apikeys", async (c) => {
    const session = signedIn(c);
    if (session instanceof Response) return session;
    if (deps.fleetMember) {
      return error(
        409,
        "on a fleet member API keys are the fleet's: use `agent apikey create` on the operator's host",
      );
    }
    if (session.principal.role !== undefined) {
      return error(403, "a service's credential cannot make API keys");
    }
    const text = await c.req.text();
    const fields = text === "" ? {} : jsonObject(text);
    if (fields === undefined) return error(400, 'send a JSON object: {"name"?, "expires"?}');
    try {
      const now = deps.clock();
      const expires = typeof fields["expires"] === "string" && fields["expires"] !== ""
        ? new Date(now.getTime() + parseDuration(fields["expires"], "expires") * 1000)
        : undefined;
      const set = await loadApiKeys(deps.fs, deps.layout);
      const created = createApiKey(
        set,
        {
          user: session.principal.user,
          ...(typeof fields["name"] === "string" ? { name: fields["name"] } : {}),
          ...(expires === undefined ? {} : { expiresAt: expires }),
        },
        deps.random,
        deps.clock,
      );
      await saveApiKeys(deps.fs, deps.layout, created.set);
      await deps.changed();
      const r = created.record;
      return json({
        key: created.key,
        id: r.id,
        prefix: r.prefix,
        user: r.user,
        name: r.name,
        createdAt: r.createdAt,
        expiresAt: r.expiresAt ?? null,
      }, 201);
    } catch (err) {
      return error(400, isAgentError(err) ? err.message : "the key could not be made");
    }
  });

  app.delete("/console/api/apikeys/:id", async (c) => {
    const session = signedIn(c);
    if (session instanceof Response) return session;
    if (deps.fleetMember) {
      return error(
        409,
        "on a fleet member API keys are the fleet's: use `agent apikey revoke` on the operator's host",
      );
    }
    const set = await loadApiKeys(deps.fs, deps.layout);
    const record = set.keys.find((k) => k.id === c.req.param("id"));
    if (record === undefined || (record.user !== session.principal.user && !adminOf(session.principal))) {
      return error(404, "no such API key of yours");
    }
    const revoked = revokeApiKey(set, record.id, deps.clock);
    if (!revoked.already) {
      await saveApiKeys(deps.fs, deps.layout, revoked.set);
      await deps.changed();
    }
    return new Response(null, { status: 204, headers: SECURITY_HEADERS });
  });

  const adminOnly = (c: Context<Env>) => {
    const session = signedIn(c);
    if (session instanceof Response) return session;
    return adminOf(session.principal) ? session : error(403, "administrators only");
  };

  app.get("/console/api/certificates", async (c) => {
    const session = adminOnly(c);
    if (session instanceof Response) return session;
    return json({ certificates: deps.ca === undefined ? [] : await deps.ca.list() });
  });

  app.post("/console/api/certificates/:serial/revoke", async (c) => {
    const session = adminOnly(c);
    if (session instanceof Response) return session;
    if (deps.ca === undefined) return error(409, "this host holds no CA key: revoke on the CA's host");
    if (deps.fleetMember) {
      return error(409, "on a fleet member the CA is the fleet's: `agent ca revoke` on the CA's host");
    }
    const serial = c.req.param("serial");
    if (!/^[0-9a-f]{1,64}$/.test(serial)) return error(400, "not a serial number");
    try {
      await deps.ca.revoke(serial);
    } catch (err) {
      return error(
        isAgentError(err) && err.code === "ERR_CA_NOT_FOUND" ? 404 : 400,
        isAgentError(err) ? err.message : "not revoked",
      );
    }
    await deps.changed();
    return json({ revoked: serial });
  });

  app.get("/console/api/macaroons", async (c) => {
    const session = adminOnly(c);
    if (session instanceof Response) return session;
    return json(await deps.macaroons());
  });

  app.get("/console/api/policy", async (c) => {
    const session = signedIn(c);
    if (session instanceof Response) return session;
    const { policy } = deps.state();
    const loadedAt = deps.report()["policy"]?.loadedAt ?? null;
    return json({
      hash: policy.hash,
      source: policy.source,
      ruleCount: policy.ruleCount,
      loadedAt,
      text: adminOf(session.principal) ? await deps.policyText() : null,
    });
  });

  app.post("/console/api/policy/try", async (c) => {
    const session = signedIn(c);
    if (session instanceof Response) return session;
    const fields = jsonObject(await c.req.text());
    if (fields === undefined) return error(400, 'send a JSON object: {"user"?, "method", "uri", "body"?}');
    const method = typeof fields["method"] === "string" ? fields["method"] : "";
    const uri = typeof fields["uri"] === "string" ? fields["uri"] : "";
    if (!/^[A-Za-z]{1,10}$/.test(method) || !uri.startsWith("/") || uri.length > 8192) {
      return error(400, "give a method (GET, POST, ...) and a URI starting with /");
    }
    const admin = adminOf(session.principal);
    const user = admin && typeof fields["user"] === "string" ? fields["user"] : session.principal.user;
    const body = typeof fields["body"] === "string" && fields["body"] !== ""
      ? new TextEncoder().encode(fields["body"])
      : undefined;
    const answer = await tryDecision(deps.state().policy, {
      ...(user === "" ? {} : { user }),
      method,
      uri,
      ...(body === undefined ? {} : { body }),
    });
    return json({
      allow: answer.allow,
      action: answer.action,
      effect: answer.effect,
      rule: answer.ruleId,
      reason: answer.reason,
      user,
    });
  });

  app.get("/console/api/host", (c) => {
    const session = signedIn(c);
    if (session instanceof Response) return session;
    const host = deps.host();
    return json({
      name: host.name,
      version: host.version,
      gates: deps.state().gates.map((g) => g.name),
      state: deps.report(),
      fleet: host.fleet,
      nodes: host.nodes,
    });
  });

  app.all("/console/*", () => error(404, "not found"));
  return app;
}
