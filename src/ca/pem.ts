/** PEM armour with the labels OpenSSL, dockerd and the docker CLI expect. */
import { AgentError, type ErrorCode } from "../errors.ts";

export const PEM_CERTIFICATE = "CERTIFICATE";
export const PEM_PRIVATE_KEY = "PRIVATE KEY";
/** OpenSSL refuses the library's default label `CRL`. */
export const PEM_CRL = "X509 CRL";

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Strict standard base64 (no whitespace, correct padding) to bytes; undefined when malformed. */
export function decodeBase64Strict(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return undefined;
  }
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function encodePem(der: Uint8Array | ArrayBuffer, label: string): string {
  const body = toBase64(der instanceof Uint8Array ? der : new Uint8Array(der));
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * The DER inside exactly one PEM block with `label` (surrounding whitespace allowed, nothing else).
 * Anything else is `code` with the fixed `message`.
 */
export function decodePem(
  text: string,
  label: string,
  code: ErrorCode,
  message: string,
): Uint8Array<ArrayBuffer> {
  const begin = `-----BEGIN ${label}-----`;
  const end = `-----END ${label}-----`;
  const trimmed = text.trim();
  if (!trimmed.startsWith(begin) || !trimmed.endsWith(end)) {
    throw new AgentError(code, message, `not a single PEM ${label} block`);
  }
  const body = trimmed.slice(begin.length, trimmed.length - end.length).replace(/\r?\n/g, "");
  if (body.includes("-----")) throw new AgentError(code, message, "more than one PEM block");
  const der = decodeBase64Strict(body);
  if (der === undefined || der.length === 0) throw new AgentError(code, message, "PEM body is not base64");
  return der;
}
