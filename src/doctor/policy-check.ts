/** Does the policy file load, and can only its owner change it? */
import { isAgentError } from "../errors.ts";
import { readPolicy } from "../server/plugin-state.ts";
import { type DoctorDeps, type DoctorTarget, octal } from "./context.ts";
import { fail, type Finding, ok, warn } from "./finding.ts";

export interface PolicyCheck {
  readonly findings: readonly Finding[];
  /** sha256 of the policy text when it loads (compared with the running agent's). */
  readonly hash: string | undefined;
}

export async function checkPolicy(deps: DoctorDeps, target: DoctorTarget): Promise<PolicyCheck> {
  const file = target.policy;
  let policy;
  try {
    policy = await readPolicy(deps.fs, { file });
  } catch (err) {
    // ERR_POLICY_* messages say file:line:column and what is wrong, never more of the file.
    const why = isAgentError(err) ? err.message : `${file} could not be read`;
    const consequence = isAgentError(err) && err.code === "ERR_POLICY_MISSING"
      ? "."
      : ": the agent does not start with it (a running agent keeps its previous policy).";
    return { findings: [fail("policy", why + consequence)], hash: undefined };
  }
  const findings: Finding[] = [];
  const info = await deps.fs.stat(file);
  if (info !== undefined && (info.mode & 0o022) !== 0) {
    findings.push(
      warn(
        "policy",
        `${file} is writable by group or others (mode ${octal(info.mode)}): whoever can write it decides ` +
          `who may do what on this host. chmod 644 ${file}`,
      ),
    );
  } else if (info?.uid !== undefined && info.uid !== 0 && info.uid !== deps.uid) {
    findings.push(
      warn("policy", `${file} is owned by uid ${info.uid}, not root: that user can change the policy.`),
    );
  } else {
    findings.push(
      ok("policy", `${file} loads: ${policy.ruleCount} rules, sha256 ${policy.hash.slice(0, 12)}.`),
    );
  }
  return { findings, hash: policy.hash };
}
