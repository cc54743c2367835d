/** Can the agent append to its audit log? (Checked from modes and owners: doctor writes nothing there.) */
import { AUDIT_FILE_MODE } from "../audit/sink.ts";
import { dirName } from "../store/path.ts";
import { type DoctorDeps, type DoctorTarget, octal } from "./context.ts";
import { fail, type Finding, ok, warn } from "./finding.ts";

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export async function checkAuditLog(deps: DoctorDeps, target: DoctorTarget): Promise<Finding> {
  const file = target.auditLog;
  const info = await deps.fs.stat(file);
  if (info === undefined) {
    const dir = dirName(file);
    const dirInfo = await deps.fs.stat(dir);
    if (dirInfo === undefined) {
      return warn(
        "audit",
        `neither ${file} nor its directory exists yet: agent serve creates them when it starts.`,
      );
    }
    if (!dirInfo.isDirectory || (dirInfo.mode & 0o200) === 0) {
      return fail("audit", `${file} cannot be created: ${dir} is not a directory its owner can write.`);
    }
    return ok("audit", `${file} does not exist yet; the agent creates it at the first decision.`);
  }
  if (info.isDirectory) return fail("audit", `${file} is a directory, not the audit log: move it away.`);
  if ((info.mode & 0o200) === 0) {
    return fail(
      "audit",
      `${file} is not writable (mode ${octal(info.mode)}): decisions are not recorded. chmod 600 ${file}`,
    );
  }
  if (info.uid !== undefined && deps.uid !== undefined && info.uid !== deps.uid) {
    return warn(
      "audit",
      `${file} is owned by uid ${info.uid} but doctor runs as uid ${deps.uid}: the agent may not be able to append to it.`,
    );
  }
  // The agent creates the log with AUDIT_FILE_MODE (less its umask): only bits beyond that are a warning.
  if ((info.mode & 0o077 & ~AUDIT_FILE_MODE) !== 0) {
    const wanted = octal(AUDIT_FILE_MODE).slice(1);
    return warn(
      "audit",
      `${file} is open to others, or writable by its group (mode ${
        octal(info.mode)
      }; the agent creates it ${wanted}): it records who did what. chmod ${wanted} ${file}`,
    );
  }
  return ok("audit", `${file} is writable (${mib(info.size)}).`);
}
