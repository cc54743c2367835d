/**
 * CRL reason codes (RFC 5280 5.3.1) an operator may give. certificateHold and removeFromCRL are left out:
 * revocation here is final. The CA-compromise reasons are about CAs, not the leaves this CA issues.
 */
import { AgentError } from "../errors.ts";

export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  privilegeWithdrawn: 9,
} as const;

export type RevocationReason = keyof typeof REVOCATION_REASONS;

const NAMES = Object.keys(REVOCATION_REASONS) as RevocationReason[];

export function isRevocationReason(value: unknown): value is RevocationReason {
  return typeof value === "string" && (NAMES as string[]).includes(value);
}

export function parseRevocationReason(value: unknown): RevocationReason {
  if (value === undefined) return "unspecified";
  if (!isRevocationReason(value)) {
    throw new AgentError(
      "ERR_USAGE",
      `unknown revocation reason: use one of ${NAMES.join(", ")}`,
      String(value),
    );
  }
  return value;
}

export function revocationReasonCode(reason: RevocationReason): number {
  return REVOCATION_REASONS[reason];
}
