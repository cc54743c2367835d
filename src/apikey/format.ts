/**
 * What an API key looks like: `agt_` + 43 base62 characters holding 256 random bits + 6 base62 characters of
 * CRC-32 over those 43 characters (53 characters in all), after GitHub's token format. The prefix makes keys
 * recognisable to people and secret scanners; the checksum lets a typo or a foreign string be refused offline,
 * before any lookup. Checking never throws and never puts the text it checked in a message.
 *
 *   agt_2eUwG5VtttVn7JL0USGLl77WLbEz76RYn7kQpV8htm21Mrbqo
 *   = "agt_" + "2eUwG5VtttVn7JL0USGLl77WLbEz76RYn7kQpV8htm2" (random) + "1Mrbqo" (checksum)
 */
import { utf8ToBytes } from "@noble/hashes/utils.js";
import { AgentError } from "../errors.ts";
import type { RandomBytes } from "../ports.ts";
import { base62Decode, base62Encode, bytesToBigInt, isBase62 } from "./base62.ts";
import { crc32 } from "./crc32.ts";

export const API_KEY_PREFIX = "agt_";
/** Random bytes in a key: 256 bits. */
export const API_KEY_RANDOM_BYTES = 32;
/** base62 digits for 256 bits: 62^43 > 2^256 > 62^42. */
const RANDOM_CHARS = 43;
/** base62 digits for a CRC-32: 62^6 > 2^32. */
const CHECKSUM_CHARS = 6;
export const API_KEY_LENGTH = API_KEY_PREFIX.length + RANDOM_CHARS + CHECKSUM_CHARS;
/** Characters after `agt_` shown in lists: enough to recognise a key (about 48 bits), far too few to use it. */
export const DISPLAY_PREFIX_CHARS = 8;

/** Why a text is not an API key. The problem is safe to log; the text never is. */
export type ApiKeyFormatProblem = "prefix" | "length" | "characters" | "checksum";

function checksumOf(random: string): string {
  return base62Encode(BigInt(crc32(utf8ToBytes(random))), CHECKSUM_CHARS);
}

/** The key for 32 random bytes (the caller's RandomBytes port supplies them). */
export function formatApiKey(randomBytes: Uint8Array): string {
  if (randomBytes.length !== API_KEY_RANDOM_BYTES) {
    throw new AgentError("ERR_INTERNAL", "internal error", "random source returned the wrong length");
  }
  const random = base62Encode(bytesToBigInt(randomBytes), RANDOM_CHARS);
  return `${API_KEY_PREFIX}${random}${checksumOf(random)}`;
}

/** A fresh key from the random source. */
export function newApiKey(random: RandomBytes): string {
  return formatApiKey(random(API_KEY_RANDOM_BYTES));
}

/** What is wrong with `text` as an API key, or undefined when its prefix, length, characters and checksum hold. */
export function apiKeyFormatProblem(text: string): ApiKeyFormatProblem | undefined {
  if (typeof text !== "string" || !text.startsWith(API_KEY_PREFIX)) return "prefix";
  if (text.length !== API_KEY_LENGTH) return "length";
  const body = text.slice(API_KEY_PREFIX.length);
  if (!isBase62(body)) return "characters";
  const random = body.slice(0, RANDOM_CHARS);
  const checksum = base62Decode(body.slice(RANDOM_CHARS));
  if (checksum === undefined || checksum > 0xffffffffn) return "checksum";
  return checksum === BigInt(crc32(utf8ToBytes(random))) ? undefined : "checksum";
}

export function isWellFormedApiKey(text: string): boolean {
  return apiKeyFormatProblem(text) === undefined;
}

/** `agt_` and the first 8 characters: what lists show and what `agent apikey revoke` accepts. */
export function displayPrefix(key: string): string {
  return key.slice(0, API_KEY_PREFIX.length + DISPLAY_PREFIX_CHARS);
}

/** A safe sentence for a format problem (it names no character of the text). */
export function describeFormatProblem(problem: ApiKeyFormatProblem): string {
  switch (problem) {
    case "prefix":
      return "not an API key: it does not start with agt_";
    case "length":
      return `not an API key: an API key is ${API_KEY_LENGTH} characters long`;
    case "characters":
      return "not an API key: an API key holds only letters and digits after agt_";
    case "checksum":
      return "not an API key: its checksum does not match (a typo, or a truncated key)";
  }
}
