/**
 * The client certificates dockerd forwards in `RequestPeerCertificates` (base64 of a PEM block each, leaf
 * first), reduced to the fields the gates read. This runs on every TLS request and x509 parsing is slow
 * (about half a millisecond), so results are cached by the encoded string; a client sends the same
 * certificate on every call.
 */
import { AuthorityKeyIdentifierExtension, X509Certificate } from "@peculiar/x509";
import { AgentError } from "../errors.ts";
import { fingerprintOf } from "./fingerprint.ts";
import { LruCache } from "./lru.ts";
import { registerPeerParser } from "./peer-parser.ts";
import { decodeBase64Strict, decodePem, PEM_CERTIFICATE } from "./pem.ts";
import { canonicalSerial } from "./serial.ts";

export interface PeerCertificate {
  /** Lowercase hex, no leading zeros. */
  readonly serial: string;
  /** The subject's CN (the last one when there are several, as Go and so dockerd read it). */
  readonly commonName: string | undefined;
  readonly organizations: readonly string[];
  readonly organizationalUnits: readonly string[];
  /** The issuer DN as text. */
  readonly issuer: string;
  /** Authority key identifier, lowercase hex. */
  readonly authorityKeyId: string | undefined;
  readonly notAfter: Date;
  /** SHA-256 of the DER certificate, lowercase hex. */
  readonly fingerprint: string;
}

/** More than a real chain ever has; dockerd forwards what the client sent. */
export const MAX_PEER_CERTIFICATES = 16;
/** Base64 of a PEM certificate; real ones are a few kilobytes. */
export const MAX_PEER_CERTIFICATE_CHARS = 64 * 1024;
export const PEER_CACHE_ENTRIES = 1024;

const MALFORMED = "malformed client certificate in the plugin request";
const cache = new LruCache<string, PeerCertificate>(PEER_CACHE_ENTRIES);

function malformed(detail: string): AgentError {
  return new AgentError("ERR_CA_CERTIFICATE", MALFORMED, detail);
}

function parseOne(encoded: string, position: number): PeerCertificate {
  if (encoded.length === 0 || encoded.length > MAX_PEER_CERTIFICATE_CHARS) {
    throw malformed(`certificate ${position}: ${encoded.length} characters`);
  }
  const pemBytes = decodeBase64Strict(encoded);
  if (pemBytes === undefined) throw malformed(`certificate ${position}: not base64`);
  let pem: string;
  try {
    pem = new TextDecoder("utf-8", { fatal: true }).decode(pemBytes);
  } catch {
    throw malformed(`certificate ${position}: not text`);
  }
  return parsePem(pem, position);
}

function parsePem(pem: string, position: number): PeerCertificate {
  if (pem.length === 0 || pem.length > MAX_PEER_CERTIFICATE_CHARS) {
    throw malformed(`certificate ${position}: ${pem.length} characters`);
  }
  const der = decodePem(pem, PEM_CERTIFICATE, "ERR_CA_CERTIFICATE", MALFORMED);
  try {
    const cert = new X509Certificate(der);
    const subject = cert.subjectName;
    const commonNames = subject.getField("CN");
    const aki = cert.getExtension(AuthorityKeyIdentifierExtension);
    const parsed: PeerCertificate = {
      serial: canonicalSerial(cert.serialNumber) ?? cert.serialNumber.toLowerCase(),
      commonName: commonNames[commonNames.length - 1],
      organizations: Object.freeze(subject.getField("O")),
      organizationalUnits: Object.freeze(subject.getField("OU")),
      issuer: cert.issuer,
      authorityKeyId: aki?.keyId?.toLowerCase(),
      notAfter: cert.notAfter,
      fingerprint: fingerprintOf(der),
    };
    return Object.freeze(parsed);
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw malformed(
      `certificate ${position}: ${err instanceof Error ? err.message.slice(0, 200) : "unparseable"}`,
    );
  }
}

const pemCache = new LruCache<string, PeerCertificate>(PEER_CACHE_ENTRIES);

/**
 * The same for PEM text as a TLS handshake gives it (the HTTPS listener): leaf first, cached by the text.
 * Reads fields only; whether the chain is trusted is the TLS layer's verdict.
 */
export function parsePeerCertificatePems(pems: readonly string[]): PeerCertificate[] {
  if (pems.length > MAX_PEER_CERTIFICATES) throw malformed(`${pems.length} certificates`);
  return pems.map((pem, i) => {
    let parsed = pemCache.get(pem);
    if (parsed === undefined) {
      parsed = parsePem(pem, i);
      pemCache.set(pem, parsed);
    }
    return parsed;
  });
}

/** Parses every certificate (leaf first); any malformed one is ERR_CA_CERTIFICATE. */
export function parsePeerCertificates(encoded: readonly string[]): PeerCertificate[] {
  if (encoded.length > MAX_PEER_CERTIFICATES) throw malformed(`${encoded.length} certificates`);
  const out: PeerCertificate[] = [];
  for (let i = 0; i < encoded.length; i++) {
    const text = encoded[i];
    if (typeof text !== "string") throw malformed(`certificate ${i}: not a string`);
    let parsed = cache.get(text);
    if (parsed === undefined) {
      parsed = parseOne(text, i);
      cache.set(text, parsed);
    }
    out.push(parsed);
  }
  return out;
}

registerPeerParser(parsePeerCertificates);
