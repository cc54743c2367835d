/** The state directory holds the CA key and macaroon root keys: 0700 and owned by the agent's user. */
import { type DoctorDeps, type DoctorTarget, octal } from "./context.ts";
import { fail, type Finding, ok, warn } from "./finding.ts";

export async function checkStateDir(deps: DoctorDeps, target: DoctorTarget): Promise<Finding> {
  const dir = target.stateDir;
  const info = await deps.fs.stat(dir);
  if (info === undefined) {
    return warn("state-dir", `${dir} does not exist yet: agent serve creates it (mode 0700) when it starts.`);
  }
  if (!info.isDirectory) {
    return fail("state-dir", `${dir} is not a directory: move it away and restart the agent.`);
  }
  const mode = octal(info.mode);
  if ((info.mode & 0o022) !== 0) {
    return fail(
      "state-dir",
      `${dir} is writable by group or others (mode ${mode}): they could replace the keys or the CA. chmod 700 ${dir}`,
    );
  }
  if ((info.mode & 0o077) !== 0) {
    return warn("state-dir", `${dir} is readable by group or others (mode ${mode}). chmod 700 ${dir}`);
  }
  if (info.uid !== undefined && deps.uid !== undefined && info.uid !== deps.uid) {
    return warn(
      "state-dir",
      `${dir} is owned by uid ${info.uid} but doctor runs as uid ${deps.uid}: run doctor as the user the agent ` +
        "runs as (root under systemd) to check everything.",
    );
  }
  return ok(
    "state-dir",
    `${dir}: mode ${mode}${info.uid === undefined ? "" : `, owned by uid ${info.uid}`}.`,
  );
}
