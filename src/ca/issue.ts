/**
 * Issuing a leaf certificate: `create-api-certificate`, `create-server-certificate`,
 * `create-node-certificate` and `renew`. Order matters: outputs are checked first (nothing is signed if a
 * file is in the way), the certificate is recorded in the index before its files are written (a record
 * without files is harmless; a certificate nobody can revoke by name is not).
 */
import { type JsonName, X509CertificateGenerator } from "@peculiar/x509";
import { AgentError } from "../errors.ts";
import { loadAuthority } from "./authority.ts";
import type { CaContext } from "./context.ts";
import { caFiles } from "./files.ts";
import { fingerprintOf } from "./fingerprint.ts";
import { type IssuedCertificate, readIndex, writeIndex } from "./issued-index.ts";
import {
  DEFAULT_KEY_TYPE,
  exportPrivateKeyPem,
  generateKeyPair,
  type KeySpec,
  signingAlgorithm,
} from "./key-types.ts";
import {
  parseSubjectAltName,
  type SubjectAltName,
  uniqueSubjectAltNames,
  validateHost,
  validateOrganizationalUnits,
  validateUserName,
} from "./names.ts";
import {
  checkOutputs,
  type OutputOptions,
  type OutputPaths,
  outputPaths,
  writeOutputs,
} from "./output-files.ts";
import { encodePem, PEM_CERTIFICATE } from "./pem.ts";
import { type CertificateKind, leafExtensions } from "./profiles.ts";
import { newSerialNumber } from "./serial.ts";
import { DEFAULT_LEAF_DAYS, validityFor } from "./validity.ts";

/** What every server certificate names unless told otherwise: clients on the host itself. */
export const LOCAL_SUBJECT_ALT_NAMES: readonly string[] = ["localhost", "127.0.0.1", "::1"];

export interface CertificateRequest {
  readonly kind: CertificateKind;
  /** api/node: the user or node name (the CN dockerd reports); server: the host name or address. */
  readonly name: string;
  /** Groups policy can match (api and node certificates). */
  readonly organizationalUnits?: readonly string[];
  /** Extra DNS names or IP addresses (server and node certificates). */
  readonly subjectAltNames?: readonly string[];
  /** server only: also name localhost, 127.0.0.1 and ::1 (default true). */
  readonly localSubjectAltNames?: boolean;
  readonly key?: KeySpec;
  readonly days?: number;
}

export interface IssueResult {
  readonly record: IssuedCertificate;
  readonly paths: OutputPaths;
  readonly certificatePem: string;
}

interface Subject {
  readonly name: string;
  readonly organizationalUnits: string[];
  readonly subjectAltNames: SubjectAltName[];
}

function subjectFor(request: CertificateRequest): Subject {
  const extra = (request.subjectAltNames ?? []).map(parseSubjectAltName);
  const organizationalUnits = validateOrganizationalUnits(request.organizationalUnits ?? []);
  switch (request.kind) {
    case "api": {
      if (extra.length > 0) {
        throw new AgentError(
          "ERR_USAGE",
          "subject alternative names apply to server and node certificates only",
        );
      }
      return { name: validateUserName(request.name), organizationalUnits, subjectAltNames: [] };
    }
    case "server": {
      const host = validateHost(request.name);
      const local = request.localSubjectAltNames === false
        ? []
        : LOCAL_SUBJECT_ALT_NAMES.map(parseSubjectAltName);
      return {
        name: host.value,
        organizationalUnits,
        subjectAltNames: uniqueSubjectAltNames([host, ...local, ...extra]),
      };
    }
    case "node": {
      const name = validateUserName(request.name);
      // A node name that is also a host name is what peers will dial: name it in the SAN too.
      let own: SubjectAltName[] = [];
      try {
        own = [parseSubjectAltName(name)];
      } catch {
        own = [];
      }
      return { name, organizationalUnits, subjectAltNames: uniqueSubjectAltNames([...own, ...extra]) };
    }
  }
}

/** Subjects are built from JSON parts, never from a string: "alice, OU=admins" must stay one CN. */
function subjectName(subject: Subject): JsonName {
  return [{ CN: [subject.name] }, ...subject.organizationalUnits.map((ou) => ({ OU: [ou] }))];
}

export async function issueCertificate(
  ctx: CaContext,
  request: CertificateRequest,
  output: OutputOptions,
): Promise<IssueResult> {
  const subject = subjectFor(request);
  const key = request.key ?? { type: DEFAULT_KEY_TYPE };
  const days = request.days ?? DEFAULT_LEAF_DAYS;
  const files = caFiles(ctx.caDir);
  const authority = await loadAuthority(ctx.fs, files);
  const paths = outputPaths(output, subject.name);
  const force = output.force === true;
  await checkOutputs(ctx.fs, paths, force);

  const now = ctx.clock();
  const { notBefore, notAfter } = validityFor(now, days);
  if (notAfter.getTime() > authority.certificate.notAfter.getTime()) {
    throw new AgentError(
      "ERR_CA_VALIDITY",
      `the certificate would outlive the CA, which expires ${authority.certificate.notAfter.toISOString()}: use fewer --days`,
    );
  }

  const index = await readIndex(ctx.fs, files.index);
  let serial = newSerialNumber(ctx.random);
  while (index.certificates.some((c) => c.serial === serial)) serial = newSerialNumber(ctx.random);

  const keys = await generateKeyPair(key);
  const certificate = await X509CertificateGenerator.create({
    serialNumber: serial,
    subject: subjectName(subject),
    issuer: authority.certificate.subjectName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: authority.privateKey,
    signingAlgorithm: signingAlgorithm(authority.keyType),
    extensions: await leafExtensions({
      kind: request.kind,
      keyType: key.type,
      publicKey: keys.publicKey,
      issuerKeyId: authority.keyId,
      subjectAltNames: subject.subjectAltNames,
    }),
  });
  const certificatePem = encodePem(certificate.rawData, PEM_CERTIFICATE);
  const record: IssuedCertificate = {
    serial,
    kind: request.kind,
    name: subject.name,
    subject: certificate.subject,
    organizationalUnits: subject.organizationalUnits,
    subjectAltNames: subject.subjectAltNames,
    keyType: key.type,
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    fingerprint: fingerprintOf(certificate.rawData),
  };
  await writeIndex(ctx.fs, files.index, { ...index, certificates: [...index.certificates, record] });
  await writeOutputs(ctx.fs, output.dir, paths, {
    certificatePem,
    privateKeyPem: await exportPrivateKeyPem(keys.privateKey),
    caCertificatePem: authority.pem,
  }, force);
  return { record, paths, certificatePem };
}
