/** The macaroon gate is on exactly when a keyring exists (`agent id init` until `agent id destroy`). */
import { isAgentError } from "../errors.ts";
import { loadKeyring } from "../macaroon/index.ts";
import { stateLayout } from "../store/layout.ts";
import { type DoctorDeps, type DoctorTarget, octal } from "./context.ts";
import { fail, type Finding, ok } from "./finding.ts";

export interface MacaroonCheck {
  readonly finding: Finding;
  readonly gateOn: boolean;
}

export async function checkMacaroons(deps: DoctorDeps, target: DoctorTarget): Promise<MacaroonCheck> {
  const layout = stateLayout(target.stateDir);
  const file = layout.macaroonKeys;
  let keyring;
  try {
    keyring = await loadKeyring(deps.fs, layout);
  } catch (err) {
    const why = isAgentError(err) ? err.message : "it could not be read";
    return { finding: fail("macaroon", `${why}: the agent cannot load its macaroon keys.`), gateOn: true };
  }
  if (keyring === undefined) {
    return {
      finding: ok(
        "macaroon",
        `macaroon gate off (no ${file}): requests need no macaroon; agent id init turns it on.`,
      ),
      gateOn: false,
    };
  }
  const info = await deps.fs.stat(file);
  if (info !== undefined && (info.mode & 0o077) !== 0) {
    return {
      finding: fail(
        "macaroon",
        `${file} is readable by group or others (mode ${
          octal(info.mode)
        }): whoever reads it can mint tokens. chmod 600 ${file}`,
      ),
      gateOn: true,
    };
  }
  const active = keyring.keys.filter((key) => key.retiredAt === undefined).length;
  return {
    finding: ok(
      "macaroon",
      `macaroon gate on: ${active} active root key(s), current key id ${keyring.current}.`,
    ),
    gateOn: true,
  };
}
