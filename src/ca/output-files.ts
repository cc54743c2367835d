/**
 * Where an issued certificate and its key are written: `NAME.crt` + `NAME.key`, or with the Docker layout
 * `ca.pem`, `cert.pem`, `key.pem` (what the docker CLI reads from DOCKER_CERT_PATH). Keys are created with
 * O_EXCL and mode 0600, never encrypted (dockerd cannot read encrypted keys). Nothing is overwritten
 * without `force`.
 */
import { AgentError } from "../errors.ts";
import type { FileSystem } from "../ports.ts";
import { PUBLIC_FILE_MODE, SECRET_DIR_MODE, SECRET_FILE_MODE } from "../store/layout.ts";
import { joinPath } from "../store/path.ts";

export interface OutputOptions {
  /** Directory to write into (created 0700 when missing). */
  readonly dir: string;
  /** Write ca.pem, cert.pem, key.pem instead of NAME.crt and NAME.key. */
  readonly dockerLayout?: boolean;
  /** Replace files that already exist. */
  readonly force?: boolean;
}

export interface OutputPaths {
  readonly certificate: string;
  readonly privateKey: string;
  /** The CA certificate (Docker layout only). */
  readonly caCertificate: string | undefined;
}

/** File names for a certificate's name: IPv6 colons would confuse scp's host:path syntax. */
export function fileBaseName(name: string): string {
  return name.replaceAll(":", "_");
}

export function outputPaths(options: OutputOptions, name: string): OutputPaths {
  if (options.dockerLayout === true) {
    return {
      certificate: joinPath(options.dir, "cert.pem"),
      privateKey: joinPath(options.dir, "key.pem"),
      caCertificate: joinPath(options.dir, "ca.pem"),
    };
  }
  const base = fileBaseName(name);
  return {
    certificate: joinPath(options.dir, `${base}.crt`),
    privateKey: joinPath(options.dir, `${base}.key`),
    caCertificate: undefined,
  };
}

function all(paths: OutputPaths): string[] {
  return [
    paths.privateKey,
    paths.certificate,
    ...(paths.caCertificate === undefined ? [] : [paths.caCertificate]),
  ];
}

/** Fails before anything is issued when a target exists and `force` is not set. */
export async function checkOutputs(fs: FileSystem, paths: OutputPaths, force: boolean): Promise<void> {
  if (force) return;
  for (const path of all(paths)) {
    if (await fs.stat(path)) {
      throw new AgentError(
        "ERR_STATE_EXISTS",
        `${path} already exists: choose another --out directory or pass --force to replace it`,
      );
    }
  }
}

export interface OutputContents {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly caCertificatePem: string;
}

export async function writeOutputs(
  fs: FileSystem,
  dir: string,
  paths: OutputPaths,
  contents: OutputContents,
  force: boolean,
): Promise<void> {
  if (!(await fs.stat(dir))) await fs.mkdir(dir, SECRET_DIR_MODE);
  // O_EXCL for the key: never write a secret through a file (or symlink) someone else prepared.
  if (force) await fs.remove(paths.privateKey);
  await fs.writeExclusive(paths.privateKey, contents.privateKeyPem, SECRET_FILE_MODE);
  await fs.writeAtomic(paths.certificate, contents.certificatePem, PUBLIC_FILE_MODE);
  if (paths.caCertificate !== undefined) {
    await fs.writeAtomic(paths.caCertificate, contents.caCertificatePem, PUBLIC_FILE_MODE);
  }
}
