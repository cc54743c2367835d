/**
 * The gates that switch on with state in the state directory: the certificate gate once a CA exists
 * there (`agent ca init`, or a copy of cluster.crt and crl.pem on a fleet host), and the macaroon gate
 * once a macaroon keyring exists (`agent id init`, until `agent id destroy`).
 */
import { certificateGate, type CertificateGateState, loadCertificateGateState } from "../ca/index.ts";
import { certificateGateOf } from "../decide/certificate-gate.ts";
import type { Gate } from "../decide/gate.ts";
import { type LoadMacaroonGateOptions, macaroonGateFor } from "../decide/macaroon-gate.ts";
import { type Keyring, loadKeyring, loadRevocations, type Revocations } from "../macaroon/index.ts";
import type { Clock, FileSystem } from "../ports.ts";
import type { StateLayout } from "../store/layout.ts";

/** The loaded pieces the extra gates are built from (each loaded and kept on its own by the server). */
export interface GatePieces {
  readonly ca: CertificateGateState | undefined;
  readonly keyring: Keyring | undefined;
  readonly revocations: Revocations;
}

export function gatesFrom(pieces: GatePieces, clock: Clock, macaroon: LoadMacaroonGateOptions = {}): Gate[] {
  const gates: Gate[] = [];
  if (pieces.ca) gates.push(certificateGateOf(certificateGate(pieces.ca, clock)));
  if (pieces.keyring) gates.push(macaroonGateFor(pieces.keyring, pieces.revocations, clock, macaroon));
  return gates;
}

/** Loads the pieces from the state directory and builds their gates (what a fresh start sees). */
export async function extraGates(
  fs: FileSystem,
  layout: StateLayout,
  clock: Clock,
  macaroon: LoadMacaroonGateOptions = {},
): Promise<readonly Gate[]> {
  const pieces: GatePieces = {
    ca: await loadCertificateGateState(fs, layout.caDir),
    keyring: await loadKeyring(fs, layout),
    revocations: await loadRevocations(fs, layout),
  };
  return gatesFrom(pieces, clock, macaroon);
}
