/** What `agent doctor` reports: one finding per check, each ok, warn or fail with a plain sentence. */

export type Status = "ok" | "warn" | "fail";

export interface Finding {
  /** Short stable name of the check ("socket", "docker", "policy", ...), for scripts. */
  readonly check: string;
  readonly status: Status;
  /** One or two sentences a person can act on; never a secret. */
  readonly message: string;
}

/** Exit code 0 when everything is ok, 1 when anything failed, 3 when there are warnings only. */
export function doctorExitCode(findings: readonly Finding[]): 0 | 1 | 3 {
  if (findings.some((f) => f.status === "fail")) return 1;
  if (findings.some((f) => f.status === "warn")) return 3;
  return 0;
}

export function overallStatus(findings: readonly Finding[]): Status {
  const code = doctorExitCode(findings);
  return code === 1 ? "fail" : code === 3 ? "warn" : "ok";
}

export const ok = (check: string, message: string): Finding => ({ check, status: "ok", message });
export const warn = (check: string, message: string): Finding => ({ check, status: "warn", message });
export const fail = (check: string, message: string): Finding => ({ check, status: "fail", message });
