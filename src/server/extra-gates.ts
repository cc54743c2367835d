/**
 * The gates that switch on with state in the state directory: the certificate gate once a CA exists
 * there (`agent ca init`, or a copy of cluster.crt and crl.pem on a fleet host).
 */
import { loadCertificateGate } from "../ca/index.ts";
import { certificateGateOf } from "../decide/certificate-gate.ts";
import type { Gate } from "../decide/gate.ts";
import type { Clock, FileSystem } from "../ports.ts";
import type { StateLayout } from "../store/layout.ts";

export async function extraGates(
  fs: FileSystem,
  layout: StateLayout,
  clock: Clock,
): Promise<readonly Gate[]> {
  const gates: Gate[] = [];
  const certificates = await loadCertificateGate(fs, layout.caDir, clock);
  if (certificates) gates.push(certificateGateOf(certificates));
  return gates;
}
