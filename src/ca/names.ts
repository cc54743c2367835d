/**
 * What may go into a certificate's names. dockerd hands the leaf's CN to the plugin verbatim as the user,
 * so user names are a strict identifier set; hosts are DNS names or IP literals in one canonical form.
 * Messages name the rejected value quoted, with anything outside printable ASCII escaped (it may hold
 * control characters or bidirectional overrides), so `--san` mistakes are easy to find.
 */
import { AgentError } from "../errors.ts";

/** X.520 upper bound for a common name; also our limit for users, groups and the CA name. */
export const MAX_NAME_LENGTH = 64;
export const MAX_ORGANIZATIONAL_UNITS = 16;
export const MAX_SUBJECT_ALT_NAMES = 64;

const USER_NAME = /^[A-Za-z0-9_@][A-Za-z0-9._@-]{0,63}$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The value in quotes, printable ASCII only (everything else as \\uXXXX), cut at 80 characters. */
function quoted(value: unknown): string {
  const text = String(value);
  const shown = text.length > 80 ? `${text.slice(0, 80)}...` : text;
  const escaped = shown.replace(/["\\]/g, (c) => `\\${c}`).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return `"${escaped}"`;
}

function nameError(message: string, value: unknown): AgentError {
  return new AgentError("ERR_CA_NAME", `${message} (got ${quoted(value)})`);
}

/** Whether `value` is a valid user name (validateUserName without the error). */
export function isValidUserName(value: unknown): boolean {
  return typeof value === "string" && USER_NAME.test(value);
}

/** A user (or node) name: the CN dockerd will report as the AuthZ user. */
export function validateUserName(value: unknown): string {
  if (typeof value !== "string" || !USER_NAME.test(value)) {
    throw nameError(
      "invalid name: use 1 to 64 letters, digits, '.', '_', '@' or '-', not starting with '-' or '.'",
      value,
    );
  }
  return value;
}

/** An organizational unit: policy matches these as groups, so they follow the user-name rules. */
export function validateOrganizationalUnit(value: unknown): string {
  if (typeof value !== "string" || !USER_NAME.test(value)) {
    throw nameError(
      "invalid organizational unit: use 1 to 64 letters, digits, '.', '_', '@' or '-', not starting with '-' or '.'",
      value,
    );
  }
  return value;
}

export function validateOrganizationalUnits(values: readonly unknown[]): string[] {
  if (values.length > MAX_ORGANIZATIONAL_UNITS) {
    throw nameError(`too many organizational units (at most ${MAX_ORGANIZATIONAL_UNITS})`, values.length);
  }
  const out: string[] = [];
  for (const value of values) {
    const ou = validateOrganizationalUnit(value);
    if (!out.includes(ou)) out.push(ou);
  }
  return out;
}

/** The CA's name (its CN) when `agent ca init` is not given one. */
export const DEFAULT_CA_NAME = "agent-ca";

/** The CA's display name (its CN): printable ASCII, no surrounding spaces. */
export function validateCaName(value: unknown): string {
  if (
    typeof value !== "string" || value.length === 0 || value.length > MAX_NAME_LENGTH ||
    !PRINTABLE_ASCII.test(value) || value.trim() !== value
  ) {
    throw nameError(
      "invalid CA name: use 1 to 64 printable ASCII characters without surrounding spaces",
      value,
    );
  }
  return value;
}

export interface SubjectAltName {
  readonly type: "dns" | "ip";
  /** Canonical text: lowercase DNS name, dotted IPv4, or compressed lowercase IPv6 (RFC 5952). */
  readonly value: string;
}

function parseIpv4(text: string): string | undefined {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map((p) => (p.length > 1 && p.startsWith("0") ? NaN : Number(p)));
  if (parts.some((p) => !Number.isInteger(p) || p > 255)) return undefined;
  return parts.join(".");
}

function parseIpv6Groups(text: string): number[] | undefined {
  let head = text;
  const tail: number[] = [];
  // A trailing dotted quad (::ffff:10.0.0.1) stands for the last two groups.
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    const o = v4.split(".").map(Number);
    tail.push(((o[0] ?? 0) << 8) | (o[1] ?? 0), ((o[2] ?? 0) << 8) | (o[3] ?? 0));
    head = text.slice(0, lastColon + 1);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === "") return [];
    const groups = part.split(":");
    if (groups.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return undefined;
    return groups.map((g) => parseInt(g, 16));
  };
  const left = parse(halves[0] ?? "");
  const right = halves.length === 2 ? parse(halves[1] ?? "") : [];
  if (!left || !right) return undefined;
  const explicit = left.length + right.length + tail.length;
  if (halves.length === 2) {
    if (explicit > 7) return undefined;
    return [...left, ...new Array<number>(8 - explicit).fill(0), ...right, ...tail];
  }
  return explicit === 8 ? [...left, ...tail] : undefined;
}

function formatIpv6(groups: readonly number[]): string {
  // RFC 5952: compress the longest run (of two or more) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

function parseDnsName(text: string): string | undefined {
  if (text.length === 0 || text.length > 253) return undefined;
  const labels = text.split(".");
  if (!labels.every((l) => DNS_LABEL.test(l))) return undefined;
  // All-numeric names are mistyped IPv4 addresses, not host names.
  if (labels.every((l) => /^[0-9]+$/.test(l))) return undefined;
  return text;
}

/** A DNS name or an IP literal for a subjectAltName. */
export function parseSubjectAltName(value: unknown): SubjectAltName {
  if (typeof value === "string") {
    const text = value.toLowerCase();
    const v4 = parseIpv4(text);
    if (v4 !== undefined) return { type: "ip", value: v4 };
    if (text.includes(":")) {
      const groups = parseIpv6Groups(text);
      if (groups) return { type: "ip", value: formatIpv6(groups) };
    } else {
      const dns = parseDnsName(text);
      if (dns !== undefined) return { type: "dns", value: dns };
    }
  }
  throw nameError("invalid host: use a DNS name (letters, digits, '-', '.') or an IPv4/IPv6 address", value);
}

/** A server's host name or address: a subjectAltName that also fits in the CN. */
export function validateHost(value: unknown): SubjectAltName {
  const san = parseSubjectAltName(value);
  if (san.value.length > MAX_NAME_LENGTH) {
    throw nameError(
      "host name too long for a certificate name (at most 64 characters; add longer names with --san)",
      value,
    );
  }
  return san;
}

/** Deduplicates (first occurrence wins) and bounds a list of subjectAltNames. */
export function uniqueSubjectAltNames(sans: readonly SubjectAltName[]): SubjectAltName[] {
  const out: SubjectAltName[] = [];
  for (const san of sans) {
    if (!out.some((s) => s.type === san.type && s.value === san.value)) out.push(san);
  }
  if (out.length > MAX_SUBJECT_ALT_NAMES) {
    throw nameError(`too many subject alternative names (at most ${MAX_SUBJECT_ALT_NAMES})`, out.length);
  }
  return out;
}
