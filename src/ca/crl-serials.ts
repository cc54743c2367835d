/**
 * Reads the serials a CRL revokes, after checking it is signed by this CA. The certificate gate and the
 * stale-CRL repair in `agent ca revoke` both read `crl.pem` this way.
 */
import { X509Crl } from "@peculiar/x509";
import { AgentError } from "../errors.ts";
import type { FileSystem } from "../ports.ts";
import type { CaCertificate } from "./authority.ts";
import { decodePem, PEM_CRL } from "./pem.ts";
import { canonicalSerial } from "./serial.ts";

const MESSAGE = "the CRL (crl.pem) is unreadable or not signed by this CA";

/** The revoked serials (canonical hex), or undefined when there is no CRL file; ERR_STATE_CORRUPT otherwise. */
export async function readCrlSerials(
  fs: FileSystem,
  path: string,
  ca: CaCertificate,
): Promise<Set<string> | undefined> {
  if (!(await fs.stat(path))) return undefined;
  const der = decodePem(await fs.readText(path), PEM_CRL, "ERR_STATE_CORRUPT", MESSAGE);
  let crl: X509Crl;
  try {
    crl = new X509Crl(der);
  } catch (err) {
    throw new AgentError(
      "ERR_STATE_CORRUPT",
      MESSAGE,
      err instanceof Error ? err.message.slice(0, 200) : undefined,
    );
  }
  // Only a CRL signed by this CA may say what is revoked; anything else fails closed (the load fails).
  let valid = false;
  try {
    valid = crl.issuer === ca.certificate.subject && (await crl.verify({ publicKey: ca.certificate }));
  } catch {
    valid = false;
  }
  if (!valid) throw new AgentError("ERR_STATE_CORRUPT", MESSAGE, "signature or issuer mismatch");
  const serials = new Set<string>();
  for (const entry of crl.entries) {
    const serial = canonicalSerial(entry.serialNumber);
    if (serial !== undefined) serials.add(serial);
  }
  return serials;
}
