/**
 * Loading the certificate gate's state from the CA directory: `cluster.crt`, `crl.pem` (its signature
 * checked) and, on the CA host, `index.json`. Needs the X.509 library, so the plugin loads this file only
 * once a CA certificate is there.
 */
import type { Clock, FileSystem } from "../ports.ts";
import { readCaCertificate } from "./authority.ts";
import { readCrlSerials } from "./crl-serials.ts";
import { caFiles } from "./files.ts";
import { type CertificateGate, certificateGate, type CertificateGateState } from "./gate.ts";
import { isRevoked, readIndex } from "./issued-index.ts";

/**
 * What the gate needs from the CA in `caDir`, or undefined when no CA certificate is there. A CA certificate
 * without a CRL means nothing is revoked; a CRL that is corrupt or signed by someone else is
 * ERR_STATE_CORRUPT, and so is a corrupt `index.json` when there is one.
 */
export async function loadCertificateGateState(
  fs: FileSystem,
  caDir: string,
): Promise<CertificateGateState | undefined> {
  const files = caFiles(caDir);
  const ca = await readCaCertificate(fs, files);
  if (!ca) return undefined;
  const revoked = (await readCrlSerials(fs, files.crl, ca)) ?? new Set<string>();
  // On the CA host the index is where a revocation lands first (then crl.pem). A crash between the two
  // writes must not lose it, so the gate also refuses what the index marks revoked. A corrupt index
  // fails the load (fail closed); hosts with only cluster.crt and crl.pem have no index.
  for (const entry of (await readIndex(fs, files.index)).certificates) {
    if (isRevoked(entry)) revoked.add(entry.serial);
  }
  return { issuer: ca.certificate.subject, keyId: ca.keyId, revoked };
}

/** The gate for the CA in `caDir`, or undefined when there is none (see loadCertificateGateState). */
export async function loadCertificateGate(
  fs: FileSystem,
  caDir: string,
  clock: Clock,
): Promise<CertificateGate | undefined> {
  const state = await loadCertificateGateState(fs, caDir);
  return state === undefined ? undefined : certificateGate(state, clock);
}
