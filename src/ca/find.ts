/** Looks up issued certificates by serial or by name, the way `revoke` and `renew` take their argument. */
import { AgentError } from "../errors.ts";
import type { IssuedCertificate } from "./issued-index.ts";
import type { CertificateKind } from "./profiles.ts";
import { canonicalSerial } from "./serial.ts";

export interface Found {
  /** True when the argument matched a serial number (then there is exactly one match). */
  readonly bySerial: boolean;
  readonly matches: readonly IssuedCertificate[];
}

/** A serial wins over a name that happens to look like hex; `kind` narrows a name lookup. */
export function findCertificates(
  certificates: readonly IssuedCertificate[],
  target: string,
  kind?: CertificateKind,
): Found {
  const serial = canonicalSerial(target);
  if (serial !== undefined) {
    const hit = certificates.find((c) => c.serial === serial);
    if (hit) return { bySerial: true, matches: [hit] };
  }
  const matches = certificates.filter((c) => c.name === target && (kind === undefined || c.kind === kind));
  if (matches.length === 0) {
    throw new AgentError(
      "ERR_CA_NOT_FOUND",
      `no certificate named ${
        JSON.stringify(target).slice(0, 200)
      } (or with that serial) was issued by this CA ` +
        "(see `agent ca list`)",
    );
  }
  return { bySerial: false, matches };
}
