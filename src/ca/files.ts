/** The files of the CA directory (`<state>/ca`, mode 0700). */
import { joinPath } from "../store/path.ts";

export interface CaFiles {
  readonly dir: string;
  /** The cluster CA certificate: give it to dockerd (--tlscacert) and to every client. */
  readonly certificate: string;
  /** The CA private key, 0600. */
  readonly privateKey: string;
  /** The certificate revocation list, PEM `X509 CRL`. */
  readonly crl: string;
  /** JSON record of every certificate issued, with revocations and the last CRL number. */
  readonly index: string;
}

export function caFiles(caDir: string): CaFiles {
  return {
    dir: caDir,
    certificate: joinPath(caDir, "cluster.crt"),
    privateKey: joinPath(caDir, "cluster.key"),
    crl: joinPath(caDir, "crl.pem"),
    index: joinPath(caDir, "index.json"),
  };
}
