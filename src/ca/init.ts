/**
 * `agent ca init`: the cluster CA. Its subject is the CA name plus a random cluster id (OU), so two
 * clusters' CAs never share a subject even when they share a name.
 */
import { X509CertificateGenerator } from "@peculiar/x509";
import { AgentError } from "../errors.ts";
import { PUBLIC_FILE_MODE, SECRET_DIR_MODE, SECRET_FILE_MODE } from "../store/layout.ts";
import { parseCaCertificate } from "./authority.ts";
import type { CaContext } from "./context.ts";
import { buildCrl } from "./crl.ts";
import { type CaFiles, caFiles } from "./files.ts";
import { fingerprintOf } from "./fingerprint.ts";
import { emptyIndex, writeIndex } from "./issued-index.ts";
import {
  DEFAULT_KEY_TYPE,
  exportPrivateKeyPem,
  generateKeyPair,
  type KeySpec,
  signingAlgorithm,
} from "./key-types.ts";
import { DEFAULT_CA_NAME, validateCaName } from "./names.ts";
import { caExtensions } from "./profiles.ts";
import { newSerialNumber } from "./serial.ts";
import { randomUuid } from "./uuid.ts";
import { DEFAULT_CA_DAYS, DEFAULT_CRL_DAYS, validityFor } from "./validity.ts";
import { encodePem, PEM_CERTIFICATE } from "./pem.ts";

export interface InitOptions {
  readonly name?: string;
  readonly key?: KeySpec;
  readonly days?: number;
  /** Replace an existing CA (every certificate it issued stops being trusted where the new one is). */
  readonly force?: boolean;
}

export interface InitResult {
  readonly files: CaFiles;
  readonly name: string;
  readonly clusterId: string;
  readonly serial: string;
  readonly fingerprint: string;
  readonly notAfter: Date;
  /** True when an existing CA was replaced (--force). */
  readonly replaced: boolean;
}

/** Creates the CA directory (0700) if needed and tightens its mode if it already existed. */
export async function ensureCaDir(ctx: CaContext): Promise<void> {
  await ctx.fs.mkdir(ctx.caDir, SECRET_DIR_MODE);
  await ctx.fs.chmod(ctx.caDir, SECRET_DIR_MODE);
}

export async function initAuthority(ctx: CaContext, options: InitOptions = {}): Promise<InitResult> {
  const name = validateCaName(options.name ?? DEFAULT_CA_NAME);
  const days = options.days ?? DEFAULT_CA_DAYS;
  const key = options.key ?? { type: DEFAULT_KEY_TYPE };
  const files = caFiles(ctx.caDir);
  const existing = (await ctx.fs.stat(files.certificate)) !== undefined ||
    (await ctx.fs.stat(files.privateKey)) !== undefined;
  if (existing && options.force !== true) {
    throw new AgentError(
      "ERR_CA_EXISTS",
      "a certificate authority already exists here; `--force` replaces it (certificates it issued stop working)",
      files.dir,
    );
  }
  await ensureCaDir(ctx);

  const keys = await generateKeyPair(key);
  const clusterId = randomUuid(ctx.random);
  const serial = newSerialNumber(ctx.random);
  const now = ctx.clock();
  const { notBefore, notAfter } = validityFor(now, days);
  const certificate = await X509CertificateGenerator.createSelfSigned({
    serialNumber: serial,
    name: [{ CN: [name] }, { OU: [clusterId] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: signingAlgorithm(key.type),
    extensions: await caExtensions(keys.publicKey),
  });
  const certificatePem = encodePem(certificate.rawData, PEM_CERTIFICATE);
  const keyPem = await exportPrivateKeyPem(keys.privateKey);

  if (existing) await ctx.fs.remove(files.privateKey);
  await ctx.fs.writeExclusive(files.privateKey, keyPem, SECRET_FILE_MODE);
  await ctx.fs.writeAtomic(files.certificate, certificatePem, PUBLIC_FILE_MODE);

  const index = { ...emptyIndex(), crlNumber: 1 };
  await writeIndex(ctx.fs, files.index, index);
  const authority = { ...parseCaCertificate(certificatePem), privateKey: keys.privateKey };
  const crl = await buildCrl({ authority, certificates: [], crlNumber: 1, now, days: DEFAULT_CRL_DAYS });
  await ctx.fs.writeAtomic(files.crl, crl.pem, PUBLIC_FILE_MODE);

  return {
    files,
    name,
    clusterId,
    serial,
    fingerprint: fingerprintOf(certificate.rawData),
    notAfter,
    replaced: existing,
  };
}
