/**
 * The HTTPS listener's own server certificate (`agent serve --listen` without --tls-cert), issued by the
 * agent's CA and kept in the state directory (`listener/cert.pem`, `key.pem`, `ca.pem`, Docker's layout).
 * It is reused across restarts while it is good, and issued again when it is not:
 *
 * - there is none, or it cannot be read, or its key does not match it;
 * - the CA in the state directory did not issue it (a new `agent ca init`), or has no record of it;
 * - it expires within LISTENER_RENEW_DAYS, and the CA can issue one that expires at least a day later (a
 *   CA near its own end cannot: the one in place is kept rather than issued again on every check);
 * - it does not name every name the listener wants now (a new host name, listen address or interface).
 *
 * The caller logs why (the `why` of an issued result). The previous one is left to expire: its key file is
 * replaced, so nobody holds it any longer.
 */
import { AuthorityKeyIdentifierExtension, X509Certificate } from "@peculiar/x509";
import { AgentError, isAgentError } from "../errors.ts";
import { readCaCertificate } from "./authority.ts";
import type { CaContext } from "./context.ts";
import { caFiles } from "./files.ts";
import { issueCertificate, LOCAL_SUBJECT_ALT_NAMES } from "./issue.ts";
import { readIndex } from "./issued-index.ts";
import { importPrivateKeyPem, keyTypeOfAlgorithm, signingAlgorithm } from "./key-types.ts";
import { parseSubjectAltName, type SubjectAltName, validateHost } from "./names.ts";
import { type OutputOptions, outputPaths } from "./output-files.ts";
import { decodePem, PEM_CERTIFICATE } from "./pem.ts";
import { canonicalSerial } from "./serial.ts";
import { DAY_MS, DEFAULT_LEAF_DAYS } from "./validity.ts";

/** A listener certificate expiring within this many days is replaced at startup. */
export const LISTENER_RENEW_DAYS = 30;
/** Interface addresses named at most (a host with many docker networks has many). */
export const MAX_LISTENER_ADDRESSES = 32;

export interface ListenerNames {
  /** The CN: the host name, or "localhost" when the host name is not a valid DNS name. */
  readonly name: string;
  /** DNS names and addresses besides localhost, 127.0.0.1 and ::1 (always named). */
  readonly subjectAltNames: readonly string[];
}

export interface ListenerCertificate {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly notAfter: Date;
  /** "reused", or "issued" with the reason why the previous one was not reused. */
  readonly status: "reused" | "issued";
  readonly why?: string;
  readonly certificatePath: string;
}

function validName(value: string): SubjectAltName | undefined {
  try {
    return validateHost(value);
  } catch {
    return undefined;
  }
}

/**
 * What the listener's certificate should name: the host name, the listen address unless it is a wildcard,
 * the host's own addresses, plus (always) localhost, 127.0.0.1 and ::1. Invalid names are left out.
 */
export function listenerNames(
  hostname: string,
  listenHost: string | undefined,
  addresses: readonly string[],
): ListenerNames {
  const host = validName(hostname.toLowerCase());
  const extra: string[] = [];
  const add = (value: string | undefined) => {
    if (value === undefined) return;
    let san: SubjectAltName;
    try {
      san = parseSubjectAltName(value);
    } catch {
      return;
    }
    if (!extra.includes(san.value) && !LOCAL_SUBJECT_ALT_NAMES.includes(san.value)) extra.push(san.value);
  };
  add(host?.value);
  add(listenHost);
  for (const address of addresses.slice(0, MAX_LISTENER_ADDRESSES)) add(address);
  return { name: host?.value ?? "localhost", subjectAltNames: extra };
}

/** The listener certificate in `dir`, reused or newly issued by the CA of `ctx` (see the module comment). */
export async function ensureListenerCertificate(
  ctx: CaContext,
  dir: string,
  names: ListenerNames,
): Promise<ListenerCertificate> {
  const output: OutputOptions = { dir, dockerLayout: true, force: true };
  const paths = outputPaths(output, names.name);
  const why = await reasonToReissue(ctx, paths.certificate, paths.privateKey, names);
  if (why === undefined) {
    const certificatePem = await ctx.fs.readText(paths.certificate);
    return {
      certificatePem,
      privateKeyPem: await ctx.fs.readText(paths.privateKey),
      notAfter: parseCertificate(certificatePem).notAfter,
      status: "reused",
      certificatePath: paths.certificate,
    };
  }
  const ca = await readCaCertificate(ctx.fs, caFiles(ctx.caDir));
  if (ca === undefined) {
    throw new AgentError(
      "ERR_CA_MISSING",
      `no certificate authority in ${ctx.caDir} to issue the listener's certificate`,
    );
  }
  const days = listenerDays(ca.certificate.notAfter, ctx.clock());
  if (days < 1) {
    throw new AgentError(
      "ERR_CA_VALIDITY",
      `the CA expires ${ca.certificate.notAfter.toISOString()}: it cannot issue the listener's certificate (pass --tls-cert and --tls-key)`,
    );
  }
  const issued = await issueCertificate(ctx, {
    kind: "server",
    name: names.name,
    subjectAltNames: [...names.subjectAltNames],
    days,
  }, output);
  return {
    certificatePem: issued.certificatePem,
    privateKeyPem: await ctx.fs.readText(paths.privateKey),
    notAfter: new Date(issued.record.notAfter),
    status: "issued",
    why,
    certificatePath: paths.certificate,
  };
}

/** How many days a listener certificate issued now lasts: never past the CA's own expiry (shorter rather than none). */
function listenerDays(caNotAfter: Date, now: Date): number {
  const caDaysLeft = Math.floor((caNotAfter.getTime() - now.getTime()) / DAY_MS) - 1;
  return Math.min(DEFAULT_LEAF_DAYS, caDaysLeft);
}

/** Why the certificate in place cannot be reused, or undefined when it can. */
async function reasonToReissue(
  ctx: CaContext,
  certificatePath: string,
  keyPath: string,
  names: ListenerNames,
): Promise<string | undefined> {
  if (!(await ctx.fs.stat(certificatePath)) || !(await ctx.fs.stat(keyPath))) return "there was none yet";
  let certificate: X509Certificate;
  let keyPem: string;
  try {
    certificate = parseCertificate(await ctx.fs.readText(certificatePath));
    keyPem = await ctx.fs.readText(keyPath);
  } catch {
    return "the one in place could not be read";
  }
  const ca = await readCaCertificate(ctx.fs, caFiles(ctx.caDir));
  const aki = certificate.getExtension(AuthorityKeyIdentifierExtension)?.keyId?.toLowerCase();
  if (ca === undefined || aki !== ca.keyId) {
    return "the CA in the state directory did not issue the one in place";
  }
  const serial = canonicalSerial(certificate.serialNumber) ?? certificate.serialNumber.toLowerCase();
  const record = (await readIndex(ctx.fs, caFiles(ctx.caDir).index)).certificates.find((c) =>
    c.serial === serial
  );
  if (record === undefined || record.revokedAt !== undefined) {
    return "the CA has no valid record of the one in place";
  }
  const now = ctx.clock();
  const renewAt = certificate.notAfter.getTime() - LISTENER_RENEW_DAYS * DAY_MS;
  // At least a day later: a CA near its own end would otherwise have it issued again on every check. An
  // expired one is never kept (the CA then says why it cannot issue).
  const best = now.getTime() + listenerDays(ca.certificate.notAfter, now) * DAY_MS;
  const later = best >= certificate.notAfter.getTime() + DAY_MS || now >= certificate.notAfter;
  if (now.getTime() >= renewAt && later) {
    return `the one in place expires ${certificate.notAfter.toISOString()}, within ${LISTENER_RENEW_DAYS} days`;
  }
  const named = new Set(record.subjectAltNames.map((s) => s.value));
  const missing = [names.name, ...names.subjectAltNames].find((n) => !named.has(n));
  if (missing !== undefined) return `the one in place does not name ${missing}`;
  if (!(await keyMatches(certificate, keyPem))) return "the key in place does not match the certificate";
  return undefined;
}

function parseCertificate(pem: string): X509Certificate {
  const message = "the listener certificate is not a PEM certificate";
  return new X509Certificate(decodePem(pem, PEM_CERTIFICATE, "ERR_STATE_CORRUPT", message));
}

async function keyMatches(certificate: X509Certificate, keyPem: string): Promise<boolean> {
  const keyType = keyTypeOfAlgorithm(certificate.publicKey.algorithm);
  if (keyType === undefined) return false;
  try {
    const privateKey = await importPrivateKeyPem(keyPem, keyType);
    const probe = new TextEncoder().encode("agent listener key check");
    const algorithm = signingAlgorithm(keyType);
    const signature = await crypto.subtle.sign(algorithm, privateKey, probe);
    return await crypto.subtle.verify(algorithm, await certificate.publicKey.export(), signature, probe);
  } catch (err) {
    if (isAgentError(err) || err instanceof Error) return false;
    throw err;
  }
}
