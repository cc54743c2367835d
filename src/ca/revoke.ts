/**
 * `agent ca revoke`: marks certificates revoked in the index and publishes a new CRL. dockerd itself has no
 * revocation; the plugin's certificate gate reads the CRL and refuses these certificates.
 */
import { AgentError } from "../errors.ts";
import { type Authority, loadAuthority } from "./authority.ts";
import type { CaContext } from "./context.ts";
import { caFiles } from "./files.ts";
import { readCrlSerials } from "./crl-serials.ts";
import { findCertificates } from "./find.ts";
import { isRevoked, type IssuedCertificate, type IssuedIndex, readIndex } from "./issued-index.ts";
import type { CertificateKind } from "./profiles.ts";
import { publishCrl, type PublishedCrl } from "./publish-crl.ts";
import type { RevocationReason } from "./revocation-reason.ts";
import { wholeSeconds } from "./validity.ts";

export interface RevokeRequest {
  /** A serial number, or a name: every unrevoked certificate with that name is revoked. */
  readonly target: string;
  readonly reason?: RevocationReason;
  readonly kind?: CertificateKind;
}

export interface RevokeResult {
  readonly revoked: readonly IssuedCertificate[];
  readonly crl: PublishedCrl;
}

/** True when the index marks a certificate revoked that crl.pem does not list (a crash between the writes). */
async function crlIsStale(ctx: CaContext, authority: Authority, index: IssuedIndex): Promise<boolean> {
  const revoked = index.certificates.filter(isRevoked);
  if (revoked.length === 0) return false;
  const listed = await readCrlSerials(ctx.fs, caFiles(ctx.caDir).crl, authority);
  return listed === undefined || revoked.some((c) => !listed.has(c.serial));
}

export async function revokeCertificates(ctx: CaContext, request: RevokeRequest): Promise<RevokeResult> {
  const files = caFiles(ctx.caDir);
  const authority = await loadAuthority(ctx.fs, files);
  const index = await readIndex(ctx.fs, files.index);
  const found = findCertificates(index.certificates, request.target, request.kind);
  const chosen = new Set(found.matches.filter((c) => !isRevoked(c)).map((c) => c.serial));
  if (chosen.size === 0 && await crlIsStale(ctx, authority, index)) {
    // An earlier revoke wrote index.json and died before crl.pem: publish what the index says, so that
    // running the command again is the repair (other hosts only see revocations through the CRL).
    const crl = await publishCrl(ctx, authority, index);
    return { revoked: found.matches.filter(isRevoked), crl };
  }
  if (chosen.size === 0) {
    throw new AgentError(
      "ERR_CA_REVOKED",
      "already revoked: nothing left to revoke under that name or serial",
    );
  }
  const revokedAt = wholeSeconds(ctx.clock()).toISOString();
  const reason = request.reason ?? "unspecified";
  const certificates = index.certificates.map((
    c,
  ) => (chosen.has(c.serial) ? { ...c, revokedAt, reason } : c));
  const crl = await publishCrl(ctx, authority, { ...index, certificates });
  return { revoked: certificates.filter((c) => chosen.has(c.serial)), crl };
}
