/**
 * IP addresses and CIDR ranges for the `ip` caveat. Everything is held as 16 bytes: an IPv4 address a.b.c.d is
 * stored as its v4-mapped IPv6 form ::ffff:a.b.c.d (prefix + 96), so "10.0.0.0/8" also matches a client seen as
 * "::ffff:10.1.2.3" and vice versa. Parsing is strict: no leading zeros in IPv4 parts (ambiguous octal), no zone
 * ids, no host bits set in a range.
 */
import { AgentError } from "../../errors.ts";
import { quotePredicate } from "../failures.ts";

export interface IpRange {
  /** How the range was written (formatting only; matching uses the 16 bytes). */
  readonly family: 4 | 6;
  /** Network address, 16 bytes (IPv4 as v4-mapped IPv6). */
  readonly address: Uint8Array;
  /** Prefix length over the 16 bytes: 96-128 for IPv4 ranges, 0-128 for IPv6. */
  readonly prefix: number;
}

interface ParsedAddress {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

const V4 = /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseV4(text: string, out: Uint8Array, offset: number): boolean {
  const m = V4.exec(text);
  if (m === null) return false;
  for (let i = 0; i < 4; i++) {
    const n = Number(m[i + 1]);
    if (n > 255) return false;
    out[offset + i] = n;
  }
  return true;
}

/** Parses the groups on one side of "::" into 16-bit words; undefined when malformed. */
function parseGroups(text: string, allowV4Tail: boolean): number[] | undefined {
  if (text === "") return [];
  const parts = text.split(":");
  const words: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i === parts.length - 1 && allowV4Tail && part.includes(".")) {
      const four = new Uint8Array(4);
      if (!parseV4(part, four, 0)) return undefined;
      words.push((four[0]! << 8) | four[1]!, (four[2]! << 8) | four[3]!);
    } else {
      if (!HEX_GROUP.test(part)) return undefined;
      words.push(parseInt(part, 16));
    }
  }
  return words;
}

function parseV6(text: string): Uint8Array | undefined {
  if (text.length > 45) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  let words: number[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0]!, false);
    const tail = parseGroups(halves[1]!, true);
    if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined;
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseGroups(text, true);
    if (all === undefined || all.length !== 8) return undefined;
    words = all;
  }
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** Parses an IPv4 or IPv6 address (no brackets, port or zone); undefined when it is not one. */
export function parseIpAddress(text: string): ParsedAddress | undefined {
  if (typeof text !== "string") return undefined;
  if (text.includes(":")) {
    const bytes = parseV6(text);
    return bytes === undefined ? undefined : { family: 6, bytes };
  }
  const bytes = new Uint8Array(16);
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  return parseV4(text, bytes, 12) ? { family: 4, bytes } : undefined;
}

function invalid(text: string, why: string): AgentError {
  return new AgentError("ERR_MACAROON_CAVEAT", `invalid ip ${quotePredicate(text)}: ${why}`);
}

/** Parses "address" or "address/prefix"; throws ERR_MACAROON_CAVEAT when invalid or when host bits are set. */
export function parseIpRange(text: string): IpRange {
  const slash = text.indexOf("/");
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const parsed = parseIpAddress(addressText);
  if (parsed === undefined) throw invalid(text, "not an IPv4 or IPv6 address");
  const width = parsed.family === 4 ? 32 : 128;
  let length = width;
  if (slash >= 0) {
    const prefixText = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > width) {
      throw invalid(text, "bad prefix length");
    }
    length = Number(prefixText);
  }
  const prefix = length + (128 - width);
  for (let bit = prefix; bit < 128; bit++) {
    if ((parsed.bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) throw invalid(text, "host bits set");
  }
  return { family: parsed.family, address: parsed.bytes, prefix };
}

/** True when `address` lies in `range`; false (never an exception) when `address` does not parse. */
export function ipMatches(range: IpRange | string, address: string): boolean {
  const r = typeof range === "string" ? parseIpRange(range) : range;
  const parsed = parseIpAddress(address);
  if (parsed === undefined) return false;
  const full = r.prefix >> 3;
  for (let i = 0; i < full; i++) if (parsed.bytes[i] !== r.address[i]) return false;
  const rest = r.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (parsed.bytes[full]! & mask) === (r.address[full]! & mask);
}

function formatV6(b: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  // RFC 5952: compress the longest run (first on ties) of two or more zero groups.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** Canonical text: dotted IPv4, RFC 5952 IPv6, "/prefix" only when not a single address. */
export function formatIpRange(range: IpRange): string {
  if (range.family === 4) {
    const a = range.address;
    const base = `${a[12]}.${a[13]}.${a[14]}.${a[15]}`;
    return range.prefix === 128 ? base : `${base}/${range.prefix - 96}`;
  }
  const base = formatV6(range.address);
  return range.prefix === 128 ? base : `${base}/${range.prefix}`;
}
