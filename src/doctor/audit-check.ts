/** Can the agent append to its audit log? (Checked from modes and owners: doctor writes nothing there.) */
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
  if ((info.mode & 0o077) !== 0) {
    return warn(
      "audit",
      `${file} is readable by group or others (mode ${
        octal(info.mode)
      }): it records who did what. chmod 600 ${file}`,
    );
  }
  return ok("audit", `${file} is writable (${mib(info.size)}).`);
}
