/**
 * The certificate revocation list, signed by the CA. OpenSSL (`openssl crl -verify`, `verify -crl_check`)
 * accepts it; the plugin's certificate gate reads it, so copying `cluster.crt` and `crl.pem` to a host is
 * all it needs to refuse revoked certificates.
 */
import {
  AuthorityKeyIdentifierExtension,
  Extension,
  type X509CrlEntryParams,
  X509CrlGenerator,
} from "@peculiar/x509";
import type { Authority } from "./authority.ts";
import { derInteger } from "./der.ts";
import type { IssuedCertificate } from "./issued-index.ts";
import { signingAlgorithm } from "./key-types.ts";
import { encodePem, PEM_CRL } from "./pem.ts";
import { revocationReasonCode } from "./revocation-reason.ts";
import { CLOCK_SKEW_MS, DAY_MS, wholeSeconds } from "./validity.ts";

/** cRLNumber (RFC 5280 5.2.3); the library has no class for it. */
const OID_CRL_NUMBER = "2.5.29.20";

export interface CrlInput {
  readonly authority: Authority;
  /** Every revoked certificate (entries without revokedAt are ignored). */
  readonly certificates: readonly IssuedCertificate[];
  readonly crlNumber: number;
  readonly now: Date;
  readonly days: number;
}

export interface BuiltCrl {
  readonly pem: string;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
}

export async function buildCrl(input: CrlInput): Promise<BuiltCrl> {
  // Backdated like certificates: a verifier with a slow clock must not see a CRL from the future.
  const thisUpdate = new Date(wholeSeconds(input.now).getTime() - CLOCK_SKEW_MS);
  const nextUpdate = new Date(thisUpdate.getTime() + input.days * DAY_MS);
  const entries: X509CrlEntryParams[] = [];
  for (const c of input.certificates) {
    if (c.revokedAt === undefined) continue;
    const code = revocationReasonCode(c.reason ?? "unspecified");
    // RFC 5280: the reason code extension is omitted for "unspecified".
    entries.push({
      serialNumber: c.serial,
      revocationDate: new Date(c.revokedAt),
      ...(code ? { reason: code } : {}),
    });
  }
  const crl = await X509CrlGenerator.create({
    issuer: input.authority.certificate.subjectName,
    thisUpdate,
    nextUpdate,
    signingKey: input.authority.privateKey,
    signingAlgorithm: signingAlgorithm(input.authority.keyType),
    entries,
    extensions: [
      new AuthorityKeyIdentifierExtension(input.authority.keyId, false),
      new Extension(OID_CRL_NUMBER, false, derInteger(BigInt(input.crlNumber))),
    ],
  });
  return { pem: encodePem(crl.rawData, PEM_CRL), thisUpdate, nextUpdate };
}
