/**
 * The gates that switch on with state in the state directory: the certificate gate once a CA exists
 * there (`agent ca init`, or a copy of cluster.crt and crl.pem on a fleet host), and the macaroon gate
 * once a macaroon keyring exists (`agent id init`, until `agent id destroy`). The pieces are loaded, and
 * kept, one by one in server/plugin-state.ts.
 */
import { certificateGate, type CertificateGateState } from "../ca/gate.ts";
import { certificateGateOf } from "../decide/certificate-gate.ts";
import type { Gate } from "../decide/gate.ts";
import { type LoadMacaroonGateOptions, macaroonGateFor } from "../decide/macaroon-gate.ts";
import type { Keyring, Revocations } from "../macaroon/index.ts";
import type { Clock } from "../ports.ts";

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
