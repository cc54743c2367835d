/**
 * Where each piece of shared state lives in etcd, under one prefix per cluster (`/agent/prod/`):
 *   policy, ca, keyring, apikeys   one key each, the whole piece (written by an operator's credential)
 *   revoked/<nonce>                 one key per revoked macaroon (a host's credential may add these)
 *   nodes/<name>                    one key per agent, under its lease (the node registry)
 * A host's etcd role reads the prefix and writes only revoked/ and nodes/ (fleet/auth-setup.ts).
 */
import { AgentError } from "../errors.ts";

/** The pieces kept whole in one key each; revocations and nodes are one key per entry. */
export const WHOLE_PIECES = ["policy", "ca", "keyring", "apikeys"] as const;
export type WholePiece = (typeof WHOLE_PIECES)[number];

export interface FleetKeys {
  /** Ends with "/". */
  readonly prefix: string;
  readonly piece: Readonly<Record<WholePiece, string>>;
  /** Prefix of the revoked nonces (ends with "/"). */
  readonly revoked: string;
  /** Prefix of the node registry (ends with "/"). */
  readonly nodes: string;
}

export const DEFAULT_PREFIX = "/agent/";

/** "/agent/prod" or "/agent/prod/": slash-separated words of letters, digits, '.', '_' and '-'. */
export function checkPrefix(text: string): string {
  const trimmed = text.endsWith("/") ? text : `${text}/`;
  const ok = /^\/(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}\/){1,8}$/.test(trimmed) &&
    !trimmed.split("/").some((part) => part === "." || part === "..");
  if (!ok || trimmed.length > 200) {
    throw new AgentError(
      "ERR_USAGE",
      `the fleet prefix must look like /agent/prod: slash-separated words of letters, digits, '.', '_' or '-' (got ${
        JSON.stringify(text.slice(0, 60))
      })`,
    );
  }
  return trimmed;
}

export function fleetKeys(prefix: string): FleetKeys {
  const p = checkPrefix(prefix);
  return {
    prefix: p,
    piece: { policy: `${p}policy`, ca: `${p}ca`, keyring: `${p}keyring`, apikeys: `${p}apikeys` },
    revoked: `${p}revoked/`,
    nodes: `${p}nodes/`,
  };
}

export type FleetKeyKind =
  | { readonly kind: "piece"; readonly piece: WholePiece }
  | { readonly kind: "revoked"; readonly nonce: string }
  | { readonly kind: "node"; readonly name: string }
  | { readonly kind: "unknown" };

/** What a key under the prefix holds; anything else is ignored (and logged once by the follower). */
export function classifyKey(keys: FleetKeys, key: string): FleetKeyKind {
  for (const piece of WHOLE_PIECES) if (key === keys.piece[piece]) return { kind: "piece", piece };
  if (key.startsWith(keys.revoked)) return { kind: "revoked", nonce: key.slice(keys.revoked.length) };
  if (key.startsWith(keys.nodes)) return { kind: "node", name: key.slice(keys.nodes.length) };
  return { kind: "unknown" };
}
