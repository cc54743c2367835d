/**
 * What each kind of certificate may do, as X.509 extensions. The kind is never written into the CN
 * (dockerd would hand `user-alice` to policy); it is recorded in the issued index and shows in the EKU:
 * api = clientAuth, server = serverAuth, node = both.
 */
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  type Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
} from "@peculiar/x509";
import { AgentError } from "../errors.ts";
import type { KeyType } from "./key-types.ts";
import type { SubjectAltName } from "./names.ts";

export type CertificateKind = "api" | "server" | "node";
export const CERTIFICATE_KINDS: readonly CertificateKind[] = ["api", "server", "node"];

export function isCertificateKind(value: unknown): value is CertificateKind {
  return typeof value === "string" && (CERTIFICATE_KINDS as readonly string[]).includes(value);
}

export function parseCertificateKind(value: unknown): CertificateKind {
  if (!isCertificateKind(value)) {
    throw new AgentError("ERR_USAGE", `unknown certificate kind: use one of ${CERTIFICATE_KINDS.join(", ")}`);
  }
  return value;
}

const EKU: Record<CertificateKind, string[]> = {
  api: [ExtendedKeyUsage.clientAuth],
  server: [ExtendedKeyUsage.serverAuth],
  node: [ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth],
};

/** The extended key usages a kind's certificates carry (OIDs). */
export function extendedKeyUsagesOf(kind: CertificateKind): readonly string[] {
  return EKU[kind];
}

/** keyEncipherment only for RSA servers (TLS 1.2 RSA key exchange); RFC 5480/8410 forbid it for EC keys. */
function keyUsageFor(kind: CertificateKind, keyType: KeyType): KeyUsageFlags {
  const serves = kind === "server" || kind === "node";
  return KeyUsageFlags.digitalSignature | (serves && keyType === "rsa" ? KeyUsageFlags.keyEncipherment : 0);
}

/** The cluster CA: may sign leaves and CRLs, but no further CAs (path length 0). */
export async function caExtensions(publicKey: CryptoKey): Promise<Extension[]> {
  return [
    new BasicConstraintsExtension(true, 0, true),
    new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
    await SubjectKeyIdentifierExtension.create(publicKey),
  ];
}

export interface LeafProfileInput {
  readonly kind: CertificateKind;
  readonly keyType: KeyType;
  readonly publicKey: CryptoKey;
  /** The CA's subject key identifier (hex), for the authority key identifier. */
  readonly issuerKeyId: string;
  readonly subjectAltNames: readonly SubjectAltName[];
}

export async function leafExtensions(input: LeafProfileInput): Promise<Extension[]> {
  const extensions: Extension[] = [
    new BasicConstraintsExtension(false, undefined, true),
    new KeyUsagesExtension(keyUsageFor(input.kind, input.keyType), true),
    new ExtendedKeyUsageExtension([...EKU[input.kind]], false),
    await SubjectKeyIdentifierExtension.create(input.publicKey),
    new AuthorityKeyIdentifierExtension(input.issuerKeyId, false),
  ];
  if (input.subjectAltNames.length > 0) {
    extensions.push(
      new SubjectAlternativeNameExtension(
        input.subjectAltNames.map((s) => ({ type: s.type, value: s.value })),
        false,
      ),
    );
  }
  return extensions;
}
