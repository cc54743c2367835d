/**
 * Runs every check and returns the findings in a fixed order. A check that throws becomes a failed finding
 * with a safe message: the doctor always finishes and always says something.
 */
import { isAgentError } from "../errors.ts";
import { stateLayout } from "../store/layout.ts";
import { checkAuditLog } from "./audit-check.ts";
import { checkCertificateAuthority } from "./ca-check.ts";
import type { DoctorDeps, DoctorTarget } from "./context.ts";
import { checkDockerConfig } from "./docker-check.ts";
import { fail, type Finding } from "./finding.ts";
import { checkFleet } from "./fleet-check.ts";
import { checkMacaroons } from "./macaroon-check.ts";
import { checkPolicy } from "./policy-check.ts";
import { checkSocket } from "./socket-check.ts";
import { checkStateDir } from "./state-dir-check.ts";

async function guarded<T>(
  check: string,
  run: () => Promise<T>,
  onError: (finding: Finding) => T,
): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const why = isAgentError(err) ? err.message : "internal error";
    return onError(fail(check, `the check could not finish: ${why}.`));
  }
}

export async function runDoctor(deps: DoctorDeps, target: DoctorTarget): Promise<Finding[]> {
  const policy = await guarded(
    "policy",
    () => checkPolicy(deps, target),
    (f) => ({ findings: [f], hash: undefined }),
  );
  const ca = await guarded(
    "ca",
    () => checkCertificateAuthority(deps, target),
    (f) => ({ findings: [f], gateOn: false }),
  );
  const macaroon = await guarded(
    "macaroon",
    () => checkMacaroons(deps, target),
    (f) => ({ finding: f, gateOn: false }),
  );
  const member =
    (await deps.fs.stat(`${stateLayout(target.stateDir).fleetDir}/fleet.json`).catch(() => undefined)) !==
      undefined;
  const gates = [
    "policy",
    ...(ca.gateOn ? ["certificate"] : []),
    ...(macaroon.gateOn ? ["macaroon"] : []),
    ...(member ? ["fleet"] : []),
  ];
  const socket = await guarded(
    "socket",
    () => checkSocket(deps, target, { policyHash: policy.hash, gates }),
    (f) => f,
  );
  const docker = await guarded("docker", () => checkDockerConfig(deps, target), (f) => f);
  const stateDir = await guarded("state-dir", () => checkStateDir(deps, target), (f) => f);
  const audit = await guarded("audit", () => checkAuditLog(deps, target), (f) => f);
  const fleet = await guarded<Finding | undefined>("fleet", () => checkFleet(deps, target), (f) => f);
  return [
    socket,
    docker,
    ...policy.findings,
    stateDir,
    ...ca.findings,
    macaroon.finding,
    audit,
    ...(fleet === undefined ? [] : [fleet]),
  ];
}
