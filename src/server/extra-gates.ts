/**
 * The gates that switch on with state in the state directory: the certificate gate once a CA exists
 * there (`agent ca init`, or a copy of cluster.crt and crl.pem on a fleet host), and the macaroon gate
 * once a macaroon keyring exists (`agent id init`, until `agent id destroy`).
 */
import { loadCertificateGate } from "../ca/index.ts";
import { certificateGateOf } from "../decide/certificate-gate.ts";
import type { Gate } from "../decide/gate.ts";
import { loadMacaroonGate, type LoadMacaroonGateOptions } from "../decide/macaroon-gate.ts";
import type { Clock, FileSystem } from "../ports.ts";
import type { StateLayout } from "../store/layout.ts";

export async function extraGates(
  fs: FileSystem,
  layout: StateLayout,
  clock: Clock,
  macaroon: LoadMacaroonGateOptions = {},
): Promise<readonly Gate[]> {
  const gates: Gate[] = [];
  const certificates = await loadCertificateGate(fs, layout.caDir, clock);
  if (certificates) gates.push(certificateGateOf(certificates));
  const macaroons = await loadMacaroonGate(fs, layout, clock, macaroon);
  if (macaroons) gates.push(macaroons);
  return gates;
}
