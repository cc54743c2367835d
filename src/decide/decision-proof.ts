/**
 * Proof that a call reaching the plugin was decided already, by the HTTPS API. The API's own call to
 * dockerd (GET /info for the node resource) passes dockerd's authorization chain - this agent again - as
 * the anonymous unix-socket user. A blanket allowance for anonymous would give those actions to every local
 * client; instead, for each call it makes, the API issues a one-time proof bound to that decision, method and
 * URI, sends it in X-Agent-Decision, and the plugin accepts a request carrying it as decided, once:
 *
 * - the nonce is 128 random bits held only in this process's memory: a local client cannot forge it, and it
 *   never sees it (it travels agent -> dockerd -> agent over unix sockets);
 * - it is good for exactly one AuthZReq and then one AuthZRes of that method and URI, over the unix socket
 *   (no user, no client certificate), for DECISION_PROOF_TTL_MS at most, and is withdrawn as soon as the API's
 *   call returns: a replay finds nothing;
 * - anything else (an unknown, used, expired or mismatched proof) is ignored: the request is decided by the
 *   gates like any other, as the anonymous user it is.
 *
 * A stream's proof (`streaming`: logs, events, exec) waits for its AuthZRes, which dockerd sends when the
 * stream ends, until its call withdraws it; its AuthZReq must still come within the TTL.
 *
 * The plugin looks at the header only while proofs are pending, so its hot path does no extra work.
 */
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import type { Phase } from "../authz/wire.ts";
import { constantTimeEqual } from "../macaroon/bytes.ts";
import type { RandomBytes } from "../ports.ts";
import type { Decision } from "./decide.ts";
import type { RequestFacts } from "./facts.ts";

export const DECISION_PROOF_HEADER = "X-Agent-Decision";
export type ProofIssuer = "api" | "gateway" | "agent";
const ISSUER_TEXT: Record<ProofIssuer, string> = {
  api: "the HTTPS API",
  gateway: "the gateway",
  agent: "the agent itself (a namespace lookup)",
};
/** Longer than the API's deadline for one dockerd call (5 s), so a slow daemon never outlives its proof. */
export const DECISION_PROOF_TTL_MS = 10_000;
/** Proofs pending at once; past this the API refuses new calls (503) rather than grow without bound. */
export const MAX_PENDING_PROOFS = 256;
const NONCE_BYTES = 16;
const PROOF = /^([0-9a-f]{1,32})\.([0-9a-f]{32})$/;

interface Entry {
  readonly nonce: Uint8Array;
  readonly method: string;
  readonly uri: string;
  expiresAtMs: number;
  /** A stream (logs, events, exec): once its AuthZReq came, it waits for its AuthZRes until withdrawn. */
  readonly streaming: boolean;
  /** "issued": its AuthZReq may come; "requested": its AuthZReq came, its AuthZRes may come. */
  stage: "issued" | "requested";
  /** Who decided: the HTTPS API (its own calls), the gateway (forwarded ones), the agent (its own lookups). */
  readonly by: ProofIssuer;
}

export interface DecisionProofOptions {
  readonly random: RandomBytes;
  /** Monotonic milliseconds. */
  readonly nowMs: () => number;
  readonly ttlMs?: number;
  readonly maxPending?: number;
}

export class DecisionProofs {
  readonly #entries = new Map<string, Entry>();
  readonly #random: RandomBytes;
  readonly #nowMs: () => number;
  readonly #ttlMs: number;
  readonly #maxPending: number;

  constructor(options: DecisionProofOptions) {
    this.#random = options.random;
    this.#nowMs = options.nowMs;
    this.#ttlMs = options.ttlMs ?? DECISION_PROOF_TTL_MS;
    this.#maxPending = options.maxPending ?? MAX_PENDING_PROOFS;
  }

  /** How many proofs may still be redeemed (0: the plugin need not look for one). */
  get pending(): number {
    return this.#entries.size;
  }

  /**
   * A proof for the API's call `method uri` under `decisionId`, as the headers to send with it; undefined when
   * too many are pending (or the id is already in use).
   */
  issue(
    decisionId: string,
    method: string,
    uri: string,
    options: { readonly streaming?: boolean; readonly by?: ProofIssuer } = {},
  ): Readonly<Record<string, string>> | undefined {
    this.#prune();
    if (this.#entries.size >= this.#maxPending || this.#entries.has(decisionId)) return undefined;
    if (!/^[0-9a-f]{1,32}$/.test(decisionId)) return undefined;
    const nonce = this.#random(NONCE_BYTES);
    this.#entries.set(decisionId, {
      nonce,
      method,
      uri,
      expiresAtMs: this.#nowMs() + this.#ttlMs,
      streaming: options.streaming === true,
      stage: "issued",
      by: options.by ?? "api",
    });
    return { [DECISION_PROOF_HEADER]: `${decisionId}.${bytesToHex(nonce)}` };
  }

  /** Ends a proof once the call it was for has returned (a proof never outlives its call). */
  withdraw(decisionId: string): void {
    this.#entries.delete(decisionId);
  }

  /**
   * Ends a proof within `graceMs`: a call the client broke off (a `logs -f` ended with Ctrl-C) still gets its
   * AuthZRes from dockerd once the daemon notices, and that AuthZRes is the gateway's, not an anonymous one.
   */
  withdrawSoon(decisionId: string, graceMs: number): void {
    const entry = this.#entries.get(decisionId);
    if (entry !== undefined) entry.expiresAtMs = Math.min(entry.expiresAtMs, this.#nowMs() + graceMs);
  }

  /**
   * The decision for a plugin call that carries a valid proof for this phase, or undefined (then the gates
   * decide as usual). A valid proof is used up: its AuthZReq once, then its AuthZRes once.
   */
  redeem(facts: RequestFacts, phase: Phase): Decision | undefined {
    const request = facts.request;
    const header = request.headers.get("x-agent-decision");
    if (header === undefined) return undefined;
    // Only over the unix socket: dockerd reports no user and no certificate for the agent's own calls.
    if (
      request.user !== undefined || request.peerCertificates.length > 0 ||
      facts.leafCertificate !== undefined ||
      facts.door !== undefined
    ) {
      return undefined;
    }
    const match = PROOF.exec(header);
    if (match === null) return undefined;
    const decisionId = match[1]!;
    const entry = this.#entries.get(decisionId);
    if (entry === undefined) return undefined;
    if (this.#nowMs() >= entry.expiresAtMs) {
      this.#entries.delete(decisionId);
      return undefined;
    }
    if (!constantTimeEqual(hexToBytes(match[2]!), entry.nonce)) return undefined;
    if (request.method !== entry.method || request.uri !== entry.uri) return undefined;
    if (phase === "request") {
      if (entry.stage !== "issued") return undefined;
      entry.stage = "requested";
      // dockerd sends a stream's AuthZRes when the stream ends (hours later, maybe): it stays until withdrawn.
      if (entry.streaming) entry.expiresAtMs = Number.POSITIVE_INFINITY;
    } else {
      if (entry.stage !== "requested") return undefined;
      this.#entries.delete(decisionId);
    }
    return {
      allow: true,
      decidedBy: entry.by,
      ruleId: `${entry.by}:decision`,
      reason: `decided by ${ISSUER_TEXT[entry.by]} (decision ${decisionId})`,
      code: undefined,
      request,
      facts,
      apiDecisionId: decisionId,
    };
  }

  #prune(): void {
    const now = this.#nowMs();
    for (const [id, entry] of this.#entries) {
      if (now >= entry.expiresAtMs) this.#entries.delete(id);
    }
  }
}
