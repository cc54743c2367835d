/**
 * `agent ca renew`: a fresh certificate (new key, new serial) for the same kind, subject and names as the
 * newest unrevoked one. The old certificate stays valid until it expires unless `revokeOld` is set.
 */
import { AgentError } from "../errors.ts";
import type { CaContext } from "./context.ts";
import { caFiles } from "./files.ts";
import { findCertificates } from "./find.ts";
import { issueCertificate, type IssueResult } from "./issue.ts";
import { isRevoked, type IssuedCertificate, readIndex } from "./issued-index.ts";
import type { KeySpec } from "./key-types.ts";
import type { OutputOptions } from "./output-files.ts";
import type { CertificateKind } from "./profiles.ts";
import { revokeCertificates, type RevokeResult } from "./revoke.ts";
import { lifetimeDays } from "./validity.ts";

export interface RenewRequest {
  /** Name or serial of the certificate to renew. */
  readonly target: string;
  readonly kind?: CertificateKind;
  /** Default: the old certificate's lifetime. */
  readonly days?: number;
  /** Default: the old certificate's key type. */
  readonly key?: KeySpec;
  readonly revokeOld?: boolean;
}

export interface RenewResult {
  readonly previous: IssuedCertificate;
  readonly issued: IssueResult;
  /** Present when the previous certificate was revoked (reason superseded). */
  readonly revocation: RevokeResult | undefined;
}

function pickPrevious(certificates: readonly IssuedCertificate[], request: RenewRequest): IssuedCertificate {
  const found = findCertificates(certificates, request.target, request.kind);
  const live = found.matches.filter((c) => !isRevoked(c));
  if (live.length === 0) {
    throw new AgentError(
      "ERR_CA_REVOKED",
      "every certificate under that name or serial is revoked: issue a new one",
    );
  }
  const kinds = new Set(live.map((c) => c.kind));
  if (kinds.size > 1) {
    throw new AgentError(
      "ERR_USAGE",
      `certificates of several kinds (${[...kinds].join(", ")}) have that name: choose one with --kind`,
    );
  }
  // The newest one carries the names the operator most recently chose.
  return live.reduce((a, b) => (Date.parse(b.notBefore) >= Date.parse(a.notBefore) ? b : a));
}

export async function renewCertificate(
  ctx: CaContext,
  request: RenewRequest,
  output: OutputOptions,
): Promise<RenewResult> {
  const index = await readIndex(ctx.fs, caFiles(ctx.caDir).index);
  const previous = pickPrevious(index.certificates, request);
  const issued = await issueCertificate(ctx, {
    kind: previous.kind,
    name: previous.name,
    organizationalUnits: previous.organizationalUnits,
    subjectAltNames: previous.subjectAltNames.map((s) => s.value),
    localSubjectAltNames: false,
    key: request.key ?? { type: previous.keyType },
    days: request.days ?? lifetimeDays(new Date(previous.notBefore), new Date(previous.notAfter)),
  }, output);
  const revocation = request.revokeOld === true
    ? await revokeCertificates(ctx, { target: previous.serial, reason: "superseded" })
    : undefined;
  return { previous, issued, revocation };
}
