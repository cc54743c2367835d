/**
 * Runs wire mutations through the plugin app in-process and checks the properties every answer must have.
 * Shared by the quick test (tests/unit/fuzz/plugin-fuzz.test.ts) and scripts/soak-fuzz.ts.
 */
import { buildFacts, isDecision } from "../../../src/decide/decide.ts";
import { policyGate } from "../../../src/decide/policy-gate.ts";
import { loadPolicy } from "../../../src/policy/index.ts";
import { createPluginApp, type PluginState } from "../../../src/server/plugin-app.ts";
import {
  ALLOW_CAPTURED_USERS,
  mutate,
  type Mutation,
  prng,
  READ_ONLY_CAPTURED_USERS,
  type WireCase,
} from "./wire-mutations.ts";

export interface FuzzReport {
  count: number;
  allowed: number;
  denied: number;
  seconds: number;
  slowestMs: number;
  slowestKind: string;
  failures: string[];
  /** Allowed and denied counts per mutation kind (URI trick numbers and header oddities folded together). */
  byKind: Map<string, { allowed: number; denied: number }>;
}

/** A hang guard, not a timing assertion: only a call that never answers trips it. */
const HANG_MS = 10_000;

export function fuzzApp(policyText = ALLOW_CAPTURED_USERS) {
  const policy = loadPolicy(policyText, "fuzz-policy.yaml");
  const state: PluginState = { gates: [policyGate(policy)], policyHash: policy.hash };
  let n = 0;
  return createPluginApp({
    state: () => state,
    audit: () => {},
    clock: () => new Date("2026-11-23T10:00:00Z"),
    monotonicMs: () => performance.now(),
    newDecisionId: () => `f${(++n).toString(16).padStart(11, "0")}`,
    info: { name: "agent", version: "fuzz", startedAt: new Date("2026-11-23T09:00:00Z") },
  });
}

/** What is wrong with one answer, or undefined when it is a well-formed answer dockerd accepts. */
export async function checkAnswer(
  app: ReturnType<typeof fuzzApp>,
  m: Mutation,
): Promise<{ problem: string | undefined; allow: boolean; ms: number }> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<"hang">((resolve) => {
    timer = setTimeout(() => resolve("hang"), HANG_MS);
  });
  let res: Response | "hang";
  try {
    res = await Promise.race([
      Promise.resolve(
        app.fetch(new Request(`http://plugin/${m.endpoint}`, { method: "POST", body: m.payload })),
      ),
      hang,
    ]);
  } catch (err) {
    clearTimeout(timer);
    return { problem: `threw ${String(err).slice(0, 200)}`, allow: false, ms: performance.now() - started };
  }
  clearTimeout(timer);
  const ms = performance.now() - started;
  if (res === "hang") return { problem: `no answer within ${HANG_MS} ms`, allow: false, ms };
  if (res.status !== 200) return { problem: `HTTP ${res.status}`, allow: false, ms };
  let body: Record<string, unknown>;
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    return { problem: "answer is not JSON", allow: false, ms };
  }
  const allow = body["Allow"];
  if (typeof allow !== "boolean") return { problem: "answer has no boolean Allow", allow: false, ms };
  if (!allow && typeof body["Msg"] !== "string") return { problem: "deny without a Msg", allow, ms };
  if (allow && m.mustDeny) return { problem: "malformed request allowed", allow, ms };
  if (allow && m.endpoint === "AuthZPlugin.AuthZReq") {
    // Independent of the mutation's label: whatever the agent's own parser refuses must never be allowed.
    const text = typeof m.payload === "string" ? m.payload : new TextDecoder().decode(m.payload);
    if (isDecision(buildFacts(text, "request"))) return { problem: "unparseable request allowed", allow, ms };
  }
  return { problem: undefined, allow, ms };
}

/** Runs mutations until `count` or `deadlineMs` (monotonic) is reached, whichever comes first. */
export async function runWireFuzz(
  cases: readonly WireCase[],
  seed: number,
  count: number,
  deadlineMs: number,
  policy: "allow-captured" | "read-only" = "allow-captured",
): Promise<FuzzReport> {
  const app = fuzzApp(policy === "read-only" ? READ_ONLY_CAPTURED_USERS : ALLOW_CAPTURED_USERS);
  const rng = prng(seed);
  const report: FuzzReport = {
    count: 0,
    allowed: 0,
    denied: 0,
    seconds: 0,
    slowestMs: 0,
    slowestKind: "",
    failures: [],
    byKind: new Map(),
  };
  const started = performance.now();
  while (report.count < count && performance.now() < deadlineMs) {
    const c = cases[Math.floor(rng() * cases.length)]!;
    const m = mutate(rng, c);
    const r = await checkAnswer(app, m);
    report.count++;
    if (r.allow) report.allowed++;
    else report.denied++;
    const kind = m.kind.replace(/ [0-9]+$/, "");
    const tally = report.byKind.get(kind) ?? { allowed: 0, denied: 0 };
    if (r.allow) tally.allowed++;
    else tally.denied++;
    report.byKind.set(kind, tally);
    if (r.ms > report.slowestMs) {
      report.slowestMs = r.ms;
      report.slowestKind = m.kind;
    }
    if (r.problem !== undefined && report.failures.length < 20) {
      report.failures.push(`seed ${seed} #${report.count} ${c.id} / ${m.kind}: ${r.problem}`);
    }
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}
