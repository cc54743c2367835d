/**
 * An API key in the docker client's config (src/cli/docker-config.ts has the file itself): the docker CLI
 * sends HttpHeaders.Authorization = `Basic base64(user:apikey)` on every call to the agent's gateway, and
 * verifies the agent with ca.pem from its certificate directory ($DOCKER_CERT_PATH, else the config
 * directory). Nothing here puts the key, or the header that carries it, into a message.
 */
import { X509Certificate } from "@peculiar/x509";
import { AgentError } from "../../errors.ts";
import type { FileSystem } from "../../ports.ts";
import { decodePem, encodePem, PEM_CERTIFICATE } from "../../ca/pem.ts";
import { joinPath } from "../../store/path.ts";
import { type ClientConfig, withHeader } from "../docker-config.ts";

export const AUTHORIZATION_HEADER = "Authorization";
/** What the docker CLI reads from its certificate directory to verify the daemon (here: the agent). */
export const CA_FILE = "ca.pem";
/** A CA certificate file is a few KiB; anything much larger is the wrong file. */
const MAX_CA_FILE_BYTES = 256 * 1024;

/** The header value for a user and key already checked (user names and keys are printable ASCII). */
export function basicAuthorization(user: string, key: string): string {
  return `Basic ${btoa(`${user}:${key}`)}`;
}

/** A copy with Authorization set to `value` (any other spelling replaced), or removed when undefined. */
export function withAuthorizationHeader(config: ClientConfig, value: string | undefined): ClientConfig {
  return withHeader(config, AUTHORIZATION_HEADER, value);
}

/** One or more PEM certificates, checked: the DER of each, and a normalised PEM text to write. */
export interface CaBundle {
  readonly ders: readonly Uint8Array[];
  readonly pem: string;
  /** The first certificate's subject, for messages. */
  readonly subject: string;
}

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM text, or undefined when it is anything else: no certificate, another kind of
 * block (a private key must never land in ca.pem), text between blocks, or a block that is not X.509.
 */
export function parseCaBundle(text: string): CaBundle | undefined {
  const blocks = text.match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0 || text.replace(CERTIFICATE_BLOCK, "").trim() !== "") return undefined;
  const ders: Uint8Array[] = [];
  let subject = "";
  for (const block of blocks) {
    try {
      const der = decodePem(block, PEM_CERTIFICATE, "ERR_USAGE", "not a PEM certificate");
      const certificate = new X509Certificate(der);
      if (ders.length === 0) subject = certificate.subject;
      ders.push(der);
    } catch {
      return undefined;
    }
  }
  return { ders, pem: ders.map((der) => encodePem(der, PEM_CERTIFICATE)).join(""), subject };
}

function sameCertificates(a: CaBundle, b: CaBundle): boolean {
  return a.ders.length === b.ders.length &&
    a.ders.every((der, i) => {
      const other = b.ders[i]!;
      return der.length === other.length && der.every((byte, j) => byte === other[j]);
    });
}

/** The --ca file, checked (a usage error when it is not PEM certificates). */
export async function readCaFile(fs: FileSystem, file: string): Promise<CaBundle> {
  const info = await fs.stat(file);
  const refused = new AgentError(
    "ERR_USAGE",
    `${file} is not a PEM certificate: give the agent's CA certificate (<state-dir>/ca/cluster.crt on its host)`,
  );
  if (info !== undefined && !info.isDirectory && info.size > MAX_CA_FILE_BYTES) throw refused;
  const bundle = parseCaBundle(await fs.readText(file));
  if (bundle === undefined) throw refused;
  return bundle;
}

/**
 * What writing `bundle` to `dir`/ca.pem would do: "unchanged" when the same certificates are there,
 * "write" when there is none (or `force`); an existing different ca.pem is refused without `force`.
 */
export async function planCaFile(
  fs: FileSystem,
  dir: string,
  bundle: CaBundle,
  force: boolean,
): Promise<"write" | "unchanged"> {
  const path = joinPath(dir, CA_FILE);
  if ((await fs.stat(path)) === undefined) return "write";
  const existing = parseCaBundle(await fs.readText(path));
  if (existing !== undefined && sameCertificates(existing, bundle)) return "unchanged";
  if (force) return "write";
  throw new AgentError(
    "ERR_STATE_EXISTS",
    `${path} already exists and holds a different certificate: pass --force to replace it`,
  );
}

/** Writes ca.pem (a certificate is public: mode 0644) atomically; returns its path. */
export async function writeCaFile(fs: FileSystem, dir: string, bundle: CaBundle): Promise<string> {
  await fs.mkdir(dir, 0o700);
  const path = joinPath(dir, CA_FILE);
  await fs.writeAtomic(path, bundle.pem, 0o644);
  return path;
}
