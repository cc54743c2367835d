/**
 * The HTTPS API's one-time proofs for its own dockerd calls: the plugin accepts exactly the call a proof was
 * issued for, once per phase, over the unix socket only; forgeries, replays, other calls, TLS users and
 * stale proofs get the gates like any other request.
 */
import { describe, expect, test } from "bun:test";
import type { AuditEvent } from "../../../src/audit/event.ts";
import {
  DECISION_PROOF_HEADER,
  DECISION_PROOF_TTL_MS,
  DecisionProofs,
} from "../../../src/decide/decision-proof.ts";
import type { Gate } from "../../../src/decide/gate.ts";
import { createPluginApp } from "../../../src/server/plugin-app.ts";
import { seededRandom } from "../../helpers/fixtures.ts";
import { facts } from "./macaroon-gate-helpers.ts";

function table(max?: number) {
  let now = 1_000;
  const proofs = new DecisionProofs({
    random: seededRandom("proofs"),
    nowMs: () => now,
    ...(max === undefined ? {} : { maxPending: max }),
  });
  return { proofs, advance: (ms: number) => void (now += ms) };
}

const proofHeaders = (value: string) => ({ [DECISION_PROOF_HEADER]: [value] });

describe("decision proofs", () => {
  test("a proof is good for its AuthZReq once, then its AuthZRes once, and then for nothing", () => {
    const { proofs } = table();
    const proof = proofs.issue("0123456789ab", "GET", "/info")![DECISION_PROOF_HEADER]!;
    expect(proof).toMatch(/^0123456789ab\.[0-9a-f]{32}$/);
    expect(proofs.pending).toBe(1);
    const request = facts("GET", "/info", { headers: proofHeaders(proof) });
    expect(proofs.redeem(request, "request")).toMatchObject({
      allow: true,
      decidedBy: "api",
      ruleId: "api:decision",
      reason: "decided by the HTTPS API (decision 0123456789ab)",
      apiDecisionId: "0123456789ab",
    });
    expect(proofs.redeem(request, "request")).toBeUndefined();
    const response = facts("GET", "/info", { headers: proofHeaders(proof), phase: "response" });
    expect(proofs.redeem(response, "response")?.allow).toBe(true);
    expect(proofs.redeem(response, "response")).toBeUndefined();
    expect(proofs.redeem(request, "request")).toBeUndefined();
    expect(proofs.pending).toBe(0);
  });

  test("an AuthZRes before its AuthZReq is not accepted", () => {
    const { proofs } = table();
    const proof = proofs.issue("aa", "GET", "/info")![DECISION_PROOF_HEADER]!;
    const response = facts("GET", "/info", { headers: proofHeaders(proof), phase: "response" });
    expect(proofs.redeem(response, "response")).toBeUndefined();
  });

  test("is bound to its method and URI exactly", () => {
    const { proofs } = table();
    const proof = proofs.issue("aa", "GET", "/info")![DECISION_PROOF_HEADER]!;
    for (
      const [method, uri] of [["GET", "/v1.41/info"], ["GET", "/info?x=1"], ["GET", "/containers/json"], [
        "HEAD",
        "/info",
      ]]
    ) {
      expect(proofs.redeem(facts(method!, uri!, { headers: proofHeaders(proof) }), "request"))
        .toBeUndefined();
    }
    // Still unused: the right call is accepted afterwards.
    expect(proofs.redeem(facts("GET", "/info", { headers: proofHeaders(proof) }), "request")?.allow).toBe(
      true,
    );
  });

  test("a forged nonce, a flipped nonce digit, an unknown id or a malformed header is not accepted", () => {
    const { proofs } = table();
    const proof = proofs.issue("aa", "GET", "/info")![DECISION_PROOF_HEADER]!;
    const nonce = proof.slice(3);
    const flipped = `aa.${nonce[0] === "0" ? "1" : "0"}${nonce.slice(1)}`;
    for (
      const header of [
        `aa.${"0".repeat(32)}`,
        flipped,
        `ab.${nonce}`,
        "aa",
        `aa.${nonce}x`,
        `AA.${nonce}`,
        "",
      ]
    ) {
      expect(proofs.redeem(facts("GET", "/info", { headers: proofHeaders(header) }), "request"))
        .toBeUndefined();
    }
    expect(proofs.redeem(facts("GET", "/info", { headers: proofHeaders(proof) }), "request")?.allow).toBe(
      true,
    );
  });

  test("only over the unix socket: a TLS user carrying a valid proof gets the gates", () => {
    const { proofs } = table();
    const proof = proofs.issue("aa", "GET", "/info")![DECISION_PROOF_HEADER]!;
    expect(proofs.redeem(facts("GET", "/info", { headers: proofHeaders(proof), user: "mallory" }), "request"))
      .toBeUndefined();
  });

  test("expires after its lifetime, and a withdrawn proof is gone", () => {
    const { proofs, advance } = table();
    const proof = proofs.issue("aa", "GET", "/info")![DECISION_PROOF_HEADER]!;
    advance(DECISION_PROOF_TTL_MS);
    expect(proofs.redeem(facts("GET", "/info", { headers: proofHeaders(proof) }), "request")).toBeUndefined();
    expect(proofs.pending).toBe(0);
    const second = proofs.issue("bb", "GET", "/info")![DECISION_PROOF_HEADER]!;
    proofs.withdraw("bb");
    expect(proofs.redeem(facts("GET", "/info", { headers: proofHeaders(second) }), "request"))
      .toBeUndefined();
  });

  test("a stream's proof waits for its AuthZRes past the lifetime, until withdrawn; its AuthZReq does not", () => {
    const { proofs, advance } = table();
    const uri = "/containers/abc/logs?follow=1";
    const proof = proofs.issue("cc", "GET", uri, { streaming: true })![DECISION_PROOF_HEADER]!;
    const call = facts("GET", uri, { headers: proofHeaders(proof) });
    expect(proofs.redeem(call, "request")?.allow).toBe(true);
    advance(DECISION_PROOF_TTL_MS * 100);
    expect(proofs.pending).toBe(1);
    expect(proofs.redeem(call, "response")?.allow).toBe(true);
    expect(proofs.redeem(call, "response")).toBeUndefined();
    // Its AuthZReq must still come within the lifetime.
    const late = proofs.issue("dd", "GET", uri, { streaming: true })![DECISION_PROOF_HEADER]!;
    advance(DECISION_PROOF_TTL_MS);
    expect(proofs.redeem(facts("GET", uri, { headers: proofHeaders(late) }), "request")).toBeUndefined();
    // Withdrawn when the stream ends: nothing left to redeem.
    const ended = proofs.issue("ee", "GET", uri, { streaming: true })![DECISION_PROOF_HEADER]!;
    const endedCall = facts("GET", uri, { headers: proofHeaders(ended) });
    expect(proofs.redeem(endedCall, "request")?.allow).toBe(true);
    proofs.withdraw("ee");
    expect(proofs.redeem(endedCall, "response")).toBeUndefined();
  });

  test("is bounded: past maxPending no proof is issued until one ends or expires", () => {
    const { proofs, advance } = table(2);
    expect(proofs.issue("a1", "GET", "/info")).toBeDefined();
    expect(proofs.issue("a2", "GET", "/info")).toBeDefined();
    expect(proofs.issue("a3", "GET", "/info")).toBeUndefined();
    expect(proofs.issue("a1", "GET", "/info")).toBeUndefined();
    proofs.withdraw("a1");
    expect(proofs.issue("a3", "GET", "/info")).toBeDefined();
    advance(DECISION_PROOF_TTL_MS);
    expect(proofs.issue("a4", "GET", "/info")).toBeDefined();
  });
});

describe("decision proofs in the plugin", () => {
  const denyAll: Gate = {
    name: "policy",
    check: () => ({ allow: false, ruleId: undefined, reason: "no rule allows system:info for anonymous" }),
  };

  function plugin() {
    const { proofs } = table();
    const events: AuditEvent[] = [];
    let n = 0;
    const app = createPluginApp({
      state: () => ({ gates: [denyAll], policyHash: "h" }),
      audit: (e) => events.push(e),
      clock: () => new Date("2026-06-01T10:00:00Z"),
      monotonicMs: () => 0,
      newDecisionId: () => `p${(++n).toString().padStart(11, "0")}`,
      info: { name: "agent", version: "test", startedAt: new Date("2026-06-01T09:00:00Z") },
      proofs,
    });
    const call = async (endpoint: string, headers: Record<string, string[]> = {}) => {
      const res = await app.request(endpoint, {
        method: "POST",
        body: JSON.stringify({ RequestMethod: "GET", RequestUri: "/info", RequestHeaders: headers }),
      });
      return (await res.json()) as { Allow: boolean; Msg?: string };
    };
    return { proofs, events, call };
  }

  test("AuthZReq and AuthZRes carrying the proof are allowed and audited with the API's decision id", async () => {
    const { proofs, events, call } = plugin();
    const proof = proofs.issue("0123456789ab", "GET", "/info")![DECISION_PROOF_HEADER]!;
    expect(await call("/AuthZPlugin.AuthZReq", proofHeaders(proof))).toEqual({ Allow: true });
    expect(await call("/AuthZPlugin.AuthZRes", proofHeaders(proof))).toEqual({ Allow: true });
    expect(events.map((e) => [e.phase, e.allow, e.decidedBy, e.apiDecisionId])).toEqual([
      ["request", true, "api", "0123456789ab"],
      ["response", true, "api", "0123456789ab"],
    ]);
  });

  test("a replayed proof, or none, is decided by the gates as anonymous", async () => {
    const { proofs, events, call } = plugin();
    const proof = proofs.issue("0123456789ab", "GET", "/info")![DECISION_PROOF_HEADER]!;
    await call("/AuthZPlugin.AuthZReq", proofHeaders(proof));
    await call("/AuthZPlugin.AuthZRes", proofHeaders(proof));
    const replay = await call("/AuthZPlugin.AuthZReq", proofHeaders(proof));
    expect(replay.Allow).toBe(false);
    expect(replay.Msg).toMatch(/^no rule allows system:info for anonymous/);
    expect((await call("/AuthZPlugin.AuthZReq")).Allow).toBe(false);
    expect(events.slice(2).map((e) => [e.decidedBy, e.apiDecisionId])).toEqual([
      ["policy", undefined],
      ["policy", undefined],
    ]);
  });
});
