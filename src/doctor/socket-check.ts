/** Is the agent running, and does it run what is on disk (version, policy, gates)? */
import type { DoctorDeps, DoctorTarget } from "./context.ts";
import { fail, type Finding, ok, warn } from "./finding.ts";

/** How long the running agent may take to answer GET / before it counts as hung. */
const ANSWER_TIMEOUT_MS = 3000;

export interface Expected {
  /** sha256 of the policy file when it loads. */
  readonly policyHash: string | undefined;
  /** Gates the state on disk switches on. */
  readonly gates: readonly string[];
}

interface Status {
  readonly name?: unknown;
  readonly version?: unknown;
  readonly policyHash?: unknown;
  readonly gates?: unknown;
  /** Each piece of state: the digest in force and, when a newer version is broken, why (server/plugin-state.ts). */
  readonly state?: Record<
    string,
    { readonly error?: { readonly code?: unknown; readonly message?: unknown } | null }
  >;
}

/** The pieces the running agent could not reload, as "policy: REASON [CODE]". */
function brokenPieces(status: Status): string[] {
  const state = typeof status.state === "object" && status.state !== null ? status.state : {};
  return Object.entries(state).flatMap(([piece, s]) =>
    s?.error ? [`${piece}: ${String(s.error.message)} [${String(s.error.code)}]`] : []
  );
}

export async function checkSocket(
  deps: DoctorDeps,
  target: DoctorTarget,
  expected: Expected,
): Promise<Finding> {
  const socket = target.socket;
  if (!(await deps.fs.stat(socket))) {
    return fail(
      "socket",
      `no socket at ${socket}: the agent is not running (systemctl status agent; journalctl -u agent).`,
    );
  }
  let status: Status;
  try {
    const response = await deps.unixFetch(socket, "/", { signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) });
    status = (await response.json()) as Status;
  } catch {
    return fail(
      "socket",
      `${socket} exists but no agent answers on it: a stale socket of a stopped agent? (systemctl restart agent)`,
    );
  }
  if (typeof status !== "object" || status === null || status.name !== "agent") {
    return fail("socket", `something answers on ${socket}, but it is not the agent.`);
  }
  const version = typeof status.version === "string" ? status.version : "(unknown version)";
  const gates = Array.isArray(status.gates) ? status.gates.filter((g) => typeof g === "string") : [];
  if (version !== deps.version) {
    return warn(
      "socket",
      `the agent on ${socket} runs ${version} but this executable is ${deps.version}: restart it after an ` +
        "upgrade (systemctl restart agent).",
    );
  }
  const broken = brokenPieces(status);
  if (broken.length > 0) {
    return warn(
      "socket",
      `the agent on ${socket} keeps the previous version of what it cannot reload (${broken.join("; ")}): ` +
        "fix the file; it reloads within a second.",
    );
  }
  if (expected.policyHash !== undefined && status.policyHash !== expected.policyHash) {
    return warn(
      "socket",
      `the agent on ${socket} enforces a different policy than ${target.policy}: it reloads within a second of a ` +
        "change, so it uses another file, or the file failed to load (journalctl -u agent).",
    );
  }
  const missing = expected.gates.filter((g) => !gates.includes(g));
  const extra = gates.filter((g) => !expected.gates.includes(g));
  if (missing.length > 0 || extra.length > 0) {
    return warn(
      "socket",
      `the agent on ${socket} runs the gates ${
        gates.join(", ") || "(none)"
      }, but ${target.stateDir} switches on ` +
        `${
          expected.gates.join(", ")
        }: it uses another state directory, or its last reload failed (journalctl -u agent).`,
    );
  }
  return ok("socket", `agent ${version} answers on ${socket}; gates: ${gates.join(", ")}.`);
}
