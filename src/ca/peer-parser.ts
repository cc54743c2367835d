/**
 * The client-certificate parser, loaded only when a certificate first arrives: it needs the X.509 library,
 * which a plugin-only host on the unix socket never uses, and which costs start-up time and memory. Loading
 * peer-certificate.ts registers it here (so anything that imported the CA already has it).
 */
import type { PeerCertificate } from "./peer-certificate.ts";

export type PeerParser = (encoded: readonly string[]) => PeerCertificate[];

let registered: PeerParser | undefined;

/** Called by peer-certificate.ts as it loads. */
export function registerPeerParser(parse: PeerParser): void {
  registered = parse;
}

/** The parser, or undefined until something loaded it (loadPeerParser, or an import of the CA). */
export function peerParser(): PeerParser | undefined {
  return registered;
}

export async function loadPeerParser(): Promise<PeerParser> {
  if (registered === undefined) await import("./peer-certificate.ts");
  return registered!;
}
