/**
 * The certificate authority: `agent ca ...` operations, and the certificate gate the plugin runs on every
 * TLS request. Callers reaching @peculiar/x509 through this module must `import "reflect-metadata"` first
 * (main.ts does).
 */
export type { CaContext } from "./context.ts";
export { type CaFiles, caFiles } from "./files.ts";
export { initAuthority, type InitOptions, type InitResult } from "./init.ts";
export { DEFAULT_CA_NAME } from "./names.ts";
export { type CaCertificate, noAuthority, readCaCertificate } from "./authority.ts";
export { fingerprintOf } from "./fingerprint.ts";
export {
  type CertificateRequest,
  issueCertificate,
  type IssueResult,
  LOCAL_SUBJECT_ALT_NAMES,
} from "./issue.ts";
export {
  ensureListenerCertificate,
  LISTENER_RENEW_DAYS,
  type ListenerCertificate,
  type ListenerNames,
  listenerNames,
} from "./listener-certificate.ts";
export { revokeCertificates, type RevokeRequest, type RevokeResult } from "./revoke.ts";
export { renewCertificate, type RenewRequest, type RenewResult } from "./renew.ts";
export { type PublishedCrl, updateCrl } from "./publish-crl.ts";
export { isRevoked, type IssuedCertificate, type IssuedIndex, readIndex } from "./issued-index.ts";
export {
  DEFAULT_KEY_TYPE,
  DEFAULT_RSA_BITS,
  KEY_TYPES,
  type KeySpec,
  type KeyType,
  parseKeyType,
  parseRsaBits,
} from "./key-types.ts";
export { CERTIFICATE_KINDS, type CertificateKind, parseCertificateKind } from "./profiles.ts";
export { parseRevocationReason, REVOCATION_REASONS, type RevocationReason } from "./revocation-reason.ts";
export type { SubjectAltName } from "./names.ts";
export type { OutputOptions, OutputPaths } from "./output-files.ts";
export { DEFAULT_CA_DAYS, DEFAULT_CRL_DAYS, DEFAULT_LEAF_DAYS, parseDays } from "./validity.ts";
export {
  MAX_PEER_CERTIFICATES,
  parsePeerCertificatePems,
  parsePeerCertificates,
  type PeerCertificate,
} from "./peer-certificate.ts";
export {
  type CertificateGate,
  certificateGate,
  type CertificateGateState,
  type CertificateVerdict,
} from "./gate.ts";
export { loadCertificateGate, loadCertificateGateState } from "./gate-state.ts";
export { loadPeerParser, peerParser } from "./peer-parser.ts";
