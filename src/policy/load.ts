/** Policy text -> a ready Policy: parse, compile, hash. Everything that can be wrong is found here, at load. */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { AgentError } from "../errors.ts";
import { type CompiledPolicy, compilePolicy } from "./compile.ts";
import { evaluatePolicy, isAdministratorOf } from "./evaluate.ts";
import { parsePolicy } from "./parse.ts";
import type { Policy, PolicyDecision, PolicyRequest } from "./types.ts";

const EVALUATION_FAILED: PolicyDecision = Object.freeze({
  allow: false,
  ruleId: undefined,
  reason: "policy evaluation failed",
});

/**
 * Loads a policy. Throws AgentError("ERR_POLICY_INVALID", "<file>:<line>:<col>: <what is wrong>") for any
 * problem: YAML syntax, unknown keys, wrong types, unknown groups or actions, bad regexes, limits.
 */
export function loadPolicy(text: string, fileName: string): Policy {
  if (typeof text !== "string") {
    throw new AgentError("ERR_POLICY_INVALID", `${fileName}:1:1: policy is not text`);
  }
  let compiled: CompiledPolicy;
  try {
    compiled = compilePolicy(parsePolicy(text, fileName));
  } catch (error) {
    if (error instanceof AgentError) throw error;
    // A bug here must still fail the load, not leak a raw exception.
    const detail = error instanceof Error ? error.message : String(error);
    throw new AgentError("ERR_POLICY_INVALID", `${fileName}:1:1: policy could not be loaded`, detail);
  }
  const policy: Policy = {
    hash: bytesToHex(sha256(new TextEncoder().encode(text))),
    ruleCount: compiled.ruleCount,
    source: fileName,
    evaluate(request: PolicyRequest) {
      try {
        return evaluatePolicy(compiled, request);
      } catch {
        // Only a malformed request object gets here (the caller's bug): deny rather than throw.
        return EVALUATION_FAILED;
      }
    },
    groupsOf: (user: string) => compiled.groupsByUser.get(user) ?? [],
    isAdministrator: (request) => isAdministratorOf(compiled, request),
  };
  return Object.freeze(policy);
}
