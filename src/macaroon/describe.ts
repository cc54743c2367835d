/** A printable view of a macaroon for `inspect`: everything except the signature. */
import { base64UrlEncode } from "./base64.ts";
import { utf8Text } from "./bytes.ts";
import { parseIdentifier } from "./identifier.ts";
import type { Macaroon } from "./types.ts";

export type CaveatSummary =
  | { readonly kind: "first-party"; readonly predicate: string }
  | { readonly kind: "first-party-binary"; readonly base64: string }
  | { readonly kind: "third-party"; readonly identifier: string; readonly location?: string };

export interface MacaroonSummary {
  readonly format?: string;
  readonly location?: string;
  /** The identifier as text, or "base64:<...>" when it is binary. */
  readonly identifier: string;
  readonly keyId?: string;
  readonly nonce?: string;
  readonly caveats: readonly CaveatSummary[];
}

function shown(bytes: Uint8Array): string {
  return utf8Text(bytes) ?? `base64:${base64UrlEncode(bytes)}`;
}

export function describeMacaroon(m: Macaroon & { readonly format?: string }): MacaroonSummary {
  const { keyId, nonce } = parseIdentifier(m.identifier);
  const caveats = m.caveats.map((c): CaveatSummary => {
    if (c.verificationId !== undefined) {
      return c.location === undefined
        ? { kind: "third-party", identifier: shown(c.identifier) }
        : { kind: "third-party", identifier: shown(c.identifier), location: c.location };
    }
    const text = utf8Text(c.identifier);
    return text === undefined
      ? { kind: "first-party-binary", base64: base64UrlEncode(c.identifier) }
      : { kind: "first-party", predicate: text };
  });
  return {
    ...(m.format === undefined ? {} : { format: m.format }),
    ...(m.location === undefined ? {} : { location: m.location }),
    identifier: shown(m.identifier),
    ...(keyId === undefined ? {} : { keyId, nonce }),
    caveats,
  };
}
