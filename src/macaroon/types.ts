/**
 * The macaroon data model. A `Macaroon` is plain data; where it came from decides how far it is trusted:
 * - `UnverifiedMacaroon`: decoded from text a client sent. Only `verify` turns it into trusted data.
 * - `VerifiedMacaroon`: produced only by `verify`; decision code accepts nothing else.
 */

/** A caveat: first-party when `verificationId` is absent, third-party when present. */
export interface Caveat {
  readonly identifier: Uint8Array;
  /** Location hint of a third-party caveat (not covered by the signature). */
  readonly location?: string;
  readonly verificationId?: Uint8Array;
}

export interface Macaroon {
  /** Location hint (not covered by the signature). */
  readonly location?: string;
  readonly identifier: Uint8Array;
  readonly caveats: readonly Caveat[];
  /** 32-byte HMAC-SHA256 chain signature. */
  readonly signature: Uint8Array;
}

/** Serialization formats: V2 binary, V2 JSON, V1 binary, V1 JSON. */
export type MacaroonFormat = "v2" | "v2j" | "v1" | "v1j";

declare const unverifiedBrand: unique symbol;
declare const verifiedBrand: unique symbol;

/** A macaroon decoded from untrusted text. */
export type UnverifiedMacaroon = Macaroon & {
  readonly [unverifiedBrand]: true;
  /** The encoding it was read from. */
  readonly format: MacaroonFormat;
};

/** The result of a successful `verify`: every signature matched and every first-party caveat held. */
export interface VerifiedMacaroon {
  readonly [verifiedBrand]: true;
  readonly root: Macaroon;
  /** The discharges in the order they were used (each exactly once). */
  readonly discharges: readonly Macaroon[];
  /** Every first-party caveat predicate that was checked and held, root macaroon first. */
  readonly predicates: readonly string[];
}

/** A first-party caveat check: `true` when the predicate holds, otherwise the reason it does not. */
export type FirstPartyCheck = (predicate: string) => true | string;
