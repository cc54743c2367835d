/**
 * The record of every certificate the CA issued (`index.json`): what `list` shows, what `revoke` and
 * `renew` look names up in, and the source of the CRL. Written atomically; read strictly (a hand-edited
 * or truncated index is ERR_STATE_CORRUPT, never half-trusted).
 */
import { AgentError } from "../errors.ts";
import type { FileSystem } from "../ports.ts";
import { PUBLIC_FILE_MODE } from "../store/layout.ts";
import { type CertificateKind, isCertificateKind } from "./profiles.ts";
import { KEY_TYPES, type KeyType } from "./key-types.ts";
import type { SubjectAltName } from "./names.ts";
import { isRevocationReason, type RevocationReason } from "./revocation-reason.ts";

export interface IssuedCertificate {
  /** Lowercase hex, no leading zeros. */
  readonly serial: string;
  readonly kind: CertificateKind;
  /** The CN: user name, node name or server host. */
  readonly name: string;
  /** The subject as text (RFC 4514 style), for people. */
  readonly subject: string;
  readonly organizationalUnits: readonly string[];
  readonly subjectAltNames: readonly SubjectAltName[];
  readonly keyType: KeyType;
  /** ISO 8601. */
  readonly notBefore: string;
  readonly notAfter: string;
  /** SHA-256 of the DER certificate, lowercase hex. */
  readonly fingerprint: string;
  readonly revokedAt?: string;
  readonly reason?: RevocationReason;
}

export interface IssuedIndex {
  readonly version: 1;
  /** Number of the CRL last written (the CRL number extension); the next CRL gets one more. */
  readonly crlNumber: number;
  readonly certificates: readonly IssuedCertificate[];
}

export function emptyIndex(): IssuedIndex {
  return { version: 1, crlNumber: 0, certificates: [] };
}

function corrupt(detail: string): AgentError {
  return new AgentError(
    "ERR_STATE_CORRUPT",
    "the CA's issued-certificate index (index.json) is corrupt",
    detail,
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(entry: Record<string, unknown>, key: string, i: number): string {
  const value = entry[key];
  if (typeof value !== "string" || value.length === 0) {
    throw corrupt(`certificates[${i}].${key} is not a string`);
  }
  return value;
}

function isoDate(entry: Record<string, unknown>, key: string, i: number): string {
  const value = str(entry, key, i);
  if (Number.isNaN(Date.parse(value))) throw corrupt(`certificates[${i}].${key} is not a date`);
  return value;
}

function parseSan(value: unknown, i: number): SubjectAltName {
  if (
    !isRecord(value) || (value["type"] !== "dns" && value["type"] !== "ip") ||
    typeof value["value"] !== "string"
  ) {
    throw corrupt(`certificates[${i}].subjectAltNames has a malformed entry`);
  }
  return { type: value["type"], value: value["value"] };
}

function parseEntry(value: unknown, i: number): IssuedCertificate {
  if (!isRecord(value)) throw corrupt(`certificates[${i}] is not an object`);
  const serial = str(value, "serial", i);
  if (!/^[0-9a-f]+$/.test(serial)) throw corrupt(`certificates[${i}].serial is not lowercase hex`);
  const kind = value["kind"];
  if (!isCertificateKind(kind)) throw corrupt(`certificates[${i}].kind is unknown`);
  const keyType = KEY_TYPES.find((t) => t === value["keyType"]);
  if (keyType === undefined) throw corrupt(`certificates[${i}].keyType is unknown`);
  const ous = value["organizationalUnits"];
  if (!Array.isArray(ous) || !ous.every((o) => typeof o === "string")) {
    throw corrupt(`certificates[${i}].organizationalUnits is not a list of strings`);
  }
  const sans = value["subjectAltNames"];
  if (!Array.isArray(sans)) throw corrupt(`certificates[${i}].subjectAltNames is not a list`);
  const entry: IssuedCertificate = {
    serial,
    kind,
    name: str(value, "name", i),
    subject: str(value, "subject", i),
    organizationalUnits: ous as string[],
    subjectAltNames: sans.map((s) => parseSan(s, i)),
    keyType,
    notBefore: isoDate(value, "notBefore", i),
    notAfter: isoDate(value, "notAfter", i),
    fingerprint: str(value, "fingerprint", i),
  };
  if (value["revokedAt"] === undefined) return entry;
  const reason = value["reason"];
  if (!isRevocationReason(reason)) throw corrupt(`certificates[${i}].reason is unknown`);
  return { ...entry, revokedAt: isoDate(value, "revokedAt", i), reason };
}

export function parseIndex(text: string): IssuedIndex {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw corrupt("not JSON");
  }
  if (!isRecord(data) || data["version"] !== 1) throw corrupt("missing or unknown version");
  const crlNumber = data["crlNumber"];
  if (typeof crlNumber !== "number" || !Number.isSafeInteger(crlNumber) || crlNumber < 0) {
    throw corrupt("crlNumber is not a whole number");
  }
  const certificates = data["certificates"];
  if (!Array.isArray(certificates)) throw corrupt("certificates is not a list");
  const parsed = certificates.map(parseEntry);
  const serials = new Set(parsed.map((c) => c.serial));
  if (serials.size !== parsed.length) throw corrupt("a serial number appears twice");
  return { version: 1, crlNumber, certificates: parsed };
}

export async function readIndex(fs: FileSystem, path: string): Promise<IssuedIndex> {
  if (!(await fs.stat(path))) return emptyIndex();
  return parseIndex(await fs.readText(path));
}

export async function writeIndex(fs: FileSystem, path: string, index: IssuedIndex): Promise<void> {
  await fs.writeAtomic(path, JSON.stringify(index, null, 2) + "\n", PUBLIC_FILE_MODE);
}

export function isRevoked(entry: IssuedCertificate): boolean {
  return entry.revokedAt !== undefined;
}
