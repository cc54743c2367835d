/**
 * The authorization plugin's HTTP surface, as a Hono app (Request -> Response; the runtime puts it on a
 * unix socket). Every answer is JSON dockerd understands: a refusal is HTTP 200 with Allow:false and a
 * short safe Msg, so the docker user reads the reason instead of a plugin failure.
 */
import { Hono } from "hono";
import type { AuditEvent } from "../audit/event.ts";
import { auditEventFor } from "../audit/event.ts";
import type { Phase } from "../authz/wire.ts";
import { MAX_PLUGIN_REQUEST_BYTES } from "../authz/wire.ts";
import { buildFacts, decide, type Decision, isDecision, refuse } from "../decide/decide.ts";
import type { DecisionProofs } from "../decide/decision-proof.ts";
import type { Gate } from "../decide/gate.ts";
import type { Clock } from "../ports.ts";
import { toAgentError } from "../errors.ts";
import { LargeBodies } from "./large-bodies.ts";
import { pathOf } from "./path-of.ts";
import { loadPeerParser, peerParser } from "../ca/peer-parser.ts";

/** dockerd forwards the client's certificates as a non-empty array of strings (null or absent without TLS). */
const CERTIFICATES_SENT = /"RequestPeerCertificates"\s*:\s*\[\s*"/;

/** What the app decides with; swapped as a whole on reload so a request never sees half a state. */
export interface PluginState {
  readonly gates: readonly Gate[];
  readonly policyHash: string | undefined;
}

export interface PluginAppDeps {
  readonly state: () => PluginState;
  readonly audit: (event: AuditEvent) => void;
  readonly clock: Clock;
  readonly monotonicMs: () => number;
  readonly newDecisionId: () => string;
  readonly info: { readonly name: string; readonly version: string; readonly startedAt: Date };
  /** More of `GET /`: the state directory and each piece of state's digest (see store/state-pieces.ts). */
  readonly status?: () => Record<string, unknown>;
  /** The HTTPS API's proofs for its own calls to dockerd (decide/decision-proof.ts); absent without --listen. */
  readonly proofs?: DecisionProofs;
  /** Turns for large bodies (server/large-bodies.ts); absent: no bound (tests). */
  readonly largeBodies?: LargeBodies;
}

/** Built once: a Headers object is copied into each answer several times faster than a plain object is read. */
const JSON_HEADERS = new Headers({ "content-type": "application/json" });

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
}

/** The answer to every allowed call, serialized once. */
const ALLOW_BODY = JSON.stringify({ Allow: true });

/** dockerd's Msg: the reason and the decision id, which the operator finds in the audit log. */
function answer(decision: Decision, decisionId: string): Response {
  if (decision.allow) return new Response(ALLOW_BODY, { headers: JSON_HEADERS });
  return json({ Allow: false, Msg: `${decision.reason} (decision ${decisionId})` });
}

export function createPluginApp(deps: PluginAppDeps): Hono {
  const app = new Hono({ getPath: (request) => pathOf(request.url) });

  app.post("/Plugin.Activate", () => json({ Implements: ["authz"] }));

  const decideOne = async (phase: Phase, request: Request, declared: number): Promise<Response> => {
    const started = deps.monotonicMs();
    const decisionId = deps.newDecisionId();
    const state = deps.state();
    const text = await readLimited(request, declared, MAX_PLUGIN_REQUEST_BYTES);
    let decision: Decision;
    if (text === undefined) {
      decision = refuse(
        `plugin request larger than ${MAX_PLUGIN_REQUEST_BYTES} bytes`,
        "ERR_REQUEST_TOO_LARGE",
      );
    } else {
      // The X.509 parser is loaded on the first request that carries client certificates (ca/peer-parser.ts).
      if (peerParser() === undefined && CERTIFICATES_SENT.test(text)) await loadPeerParser();
      const facts = buildFacts(text, phase);
      // The HTTPS API's own call to dockerd, decided by the API already: looked for only while a proof is
      // pending (decide/decision-proof.ts), so the plugin's calls do no extra work.
      const proofs = deps.proofs;
      const proven = proofs === undefined || proofs.pending === 0 || isDecision(facts)
        ? undefined
        : proofs.redeem(facts, phase);
      if (isDecision(facts)) {
        decision = facts;
      } else if (proven !== undefined) {
        decision = proven;
      } else {
        try {
          decision = await decide(facts, state.gates);
        } catch (err) {
          // A gate failed unexpectedly: deny, and keep the cause for the log (never for the docker user).
          decision = refuse(
            "internal error in the authorization plugin",
            toAgentError(err).code,
            facts.request,
            facts,
          );
        }
      }
    }
    const event = auditEventFor(decision, {
      time: deps.clock(),
      decisionId,
      phase,
      policyHash: state.policyHash,
      durationMs: deps.monotonicMs() - started,
    });
    deps.audit(
      decision.apiDecisionId === undefined ? event : { ...event, apiDecisionId: decision.apiDecisionId },
    );
    return answer(decision, decisionId);
  };

  // A large body waits for its turn (server/large-bodies.ts); the rest go straight through.
  const largeBodies = deps.largeBodies;
  const authorize = (phase: Phase) => async (request: Request): Promise<Response> => {
    const declared = Number(request.headers.get("content-length") ?? "NaN");
    if (largeBodies === undefined || !LargeBodies.isLarge(declared)) {
      return decideOne(phase, request, declared);
    }
    const release = await largeBodies.admit(declared);
    try {
      return await decideOne(phase, request, declared);
    } finally {
      release();
    }
  };

  const authorizeRequest = authorize("request");
  const authorizeResponse = authorize("response");
  app.post("/AuthZPlugin.AuthZReq", (c) => authorizeRequest(c.req.raw));
  app.post("/AuthZPlugin.AuthZRes", (c) => authorizeResponse(c.req.raw));

  app.get("/", () =>
    json({
      name: deps.info.name,
      version: deps.info.version,
      policyHash: deps.state().policyHash ?? null,
      gates: deps.state().gates.map((g) => g.name),
      uptimeSeconds: Math.floor((deps.clock().getTime() - deps.info.startedAt.getTime()) / 1000),
      ...deps.status?.(),
    }));

  app.notFound(() => json({ Err: "unknown plugin endpoint" }, 404));
  // Never an HTML page or a stack trace: dockerd forwards plugin errors verbatim to the docker user.
  app.onError(internalError);

  // The two calls dockerd makes on every Docker API call skip the router (measured: about a third more
  // throughput); everything else, and every error, goes through the Hono app as usual.
  const routed = app.fetch;
  app.fetch = (request, env, executionCtx) => {
    if (request.method === "POST") {
      const path = pathOf(request.url);
      if (path === "/AuthZPlugin.AuthZReq") return authorizeRequest(request).catch(internalError);
      if (path === "/AuthZPlugin.AuthZRes") return authorizeResponse(request).catch(internalError);
    }
    return routed(request, env, executionCtx);
  };
  return app;
}

function internalError(): Response {
  return json({ Allow: false, Msg: "internal error in the authorization plugin", Err: "internal error" });
}

/**
 * Reads the body as text, or undefined when it is larger than `limit` bytes. dockerd always sends a
 * Content-Length; a body without one is read whole (the server caps it) and then measured. Bun's
 * `text()` is several times faster than reading the stream chunk by chunk, and this is the hot path.
 */
async function readLimited(request: Request, declared: number, limit: number): Promise<string | undefined> {
  if (Number.isFinite(declared) && declared > limit) return undefined;
  const text = await request.text();
  return text.length > limit ? undefined : text;
}
