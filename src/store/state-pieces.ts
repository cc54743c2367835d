/**
 * The pieces of state a running agent decides with, each loaded, checked and swapped on its own: a broken
 * piece keeps its last good version and never holds back the others. Each piece is a few files; its digest
 * (SHA-256 over their names and contents) is what `GET /` on the plugin socket reports, so a command that
 * changed a piece can tell whether the running agent has applied exactly what it wrote.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import type { FileSystem } from "../ports.ts";
import type { StateLayout } from "./layout.ts";
import { baseName, joinPath } from "./path.ts";

export const STATE_PIECES = ["policy", "ca", "keyring", "revocations", "apikeys"] as const;
export type StatePiece = (typeof STATE_PIECES)[number];

/** What each piece is, in words, for messages. */
export const PIECE_TITLES: Readonly<Record<StatePiece, string>> = {
  policy: "the policy",
  ca: "the certificate authority's revocations (crl.pem, index.json)",
  keyring: "the macaroon keyring",
  revocations: "the macaroon revocations",
  apikeys: "the API keys",
};

/** The files of one piece. The policy is wherever --policy names (none for the embedded demo). */
export function pieceFiles(piece: StatePiece, layout: StateLayout, policyFile?: string): string[] {
  switch (piece) {
    case "policy":
      return policyFile === undefined ? [] : [policyFile];
    case "ca":
      return ["cluster.crt", "crl.pem", "index.json"].map((name) => joinPath(layout.caDir, name));
    case "keyring":
      return [layout.macaroonKeys];
    case "revocations":
      return [layout.macaroonRevocations];
    case "apikeys":
      return [layout.apiKeys];
  }
}

/**
 * SHA-256 over each file's name and content ("absent" for a missing one), lowercase hex. Names, not paths:
 * a command given a relative --state-dir and the agent given the absolute one agree.
 */
export async function digestFiles(fs: FileSystem, paths: readonly string[]): Promise<string> {
  const parts: Uint8Array[] = [];
  for (const path of paths) {
    const info = await fs.stat(path).catch(() => undefined);
    const content = info && !info.isDirectory ? await fs.readBytes(path).catch(() => undefined) : undefined;
    const kind = info?.isDirectory ? "directory" : content === undefined ? "absent" : String(content.length);
    parts.push(utf8ToBytes(`${baseName(path)}\0${kind}\0`));
    if (content !== undefined) parts.push(content);
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return bytesToHex(sha256(all));
}
