/**
 * `Authorization: Basic base64(user:apikey)` (RFC 7617), as Docker Cloud's clients send it, read strictly:
 * the scheme `Basic` (any case) and one space, then standard base64 with its padding and nothing else (no
 * whitespace, no URL alphabet, no stray bits), decoding to printable ASCII (no spaces) with exactly one colon. Anything
 * else is a typed failure (the caller answers 401). The key is not checked here: that is verifyApiKey's job.
 */
import { isValidUserName } from "../ca/names.ts";
import { base64Decode } from "../macaroon/index.ts";

/** Longest Authorization header read: a 64-character user and a 53-character key need 160. */
export const MAX_AUTHORIZATION_LENGTH = 1024;

/** What the header claims, not yet verified. */
export interface UnverifiedApiKeyCredentials {
  readonly user: string;
  readonly key: string;
}

export type BasicAuthFailure =
  | "missing"
  | "scheme"
  | "too-large"
  | "base64"
  | "characters"
  | "colon"
  | "empty-user"
  | "user"
  | "empty-key";

export type BasicAuthResult =
  | { readonly ok: true; readonly credentials: UnverifiedApiKeyCredentials }
  | { readonly ok: false; readonly failure: BasicAuthFailure; readonly reason: string };

const REASONS: Readonly<Record<BasicAuthFailure, string>> = {
  missing: "no Authorization header",
  scheme: "the Authorization header is not Basic",
  "too-large": `the Authorization header is longer than ${MAX_AUTHORIZATION_LENGTH} characters`,
  base64: "the Basic credentials are not valid base64",
  characters: "the Basic credentials hold a space, a control character or a non-ASCII byte",
  colon: "the Basic credentials are not user:apikey with exactly one colon",
  "empty-user": "the Basic credentials have an empty user",
  user: "the Basic credentials' user is not a valid user name",
  "empty-key": "the Basic credentials have an empty API key",
};

const SCHEME = /^basic /i;
const PADDED_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function fail(failure: BasicAuthFailure): BasicAuthResult {
  return { ok: false, failure, reason: REASONS[failure] };
}

/** The user and key of a Basic Authorization header (null or undefined: no header). */
export function parseBasicAuthorization(header: string | null | undefined): BasicAuthResult {
  if (header === null || header === undefined || header === "") return fail("missing");
  if (header.length > MAX_AUTHORIZATION_LENGTH) return fail("too-large");
  if (!SCHEME.test(header)) return fail("scheme");
  const encoded = header.slice("Basic ".length);
  if (encoded === "" || !PADDED_BASE64.test(encoded)) return fail("base64");
  const bytes = base64Decode(encoded);
  if (bytes === undefined) return fail("base64");
  let text = "";
  for (const b of bytes) {
    if (b < 0x21 || b > 0x7e) return fail("characters");
    text += String.fromCharCode(b);
  }
  const colon = text.indexOf(":");
  if (colon < 0 || text.indexOf(":", colon + 1) >= 0) return fail("colon");
  const user = text.slice(0, colon);
  const key = text.slice(colon + 1);
  if (user === "") return fail("empty-user");
  if (!isValidUserName(user)) return fail("user");
  if (key === "") return fail("empty-key");
  return { ok: true, credentials: { user, key } };
}
