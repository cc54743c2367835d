/** Writes a new CRL (next CRL number) from the index: after a revocation, or to refresh nextUpdate. */
import { PUBLIC_FILE_MODE } from "../store/layout.ts";
import { type Authority, loadAuthority } from "./authority.ts";
import type { CaContext } from "./context.ts";
import { buildCrl } from "./crl.ts";
import { caFiles } from "./files.ts";
import { type IssuedIndex, readIndex, writeIndex } from "./issued-index.ts";
import { DEFAULT_CRL_DAYS } from "./validity.ts";

export interface PublishedCrl {
  readonly path: string;
  readonly crlNumber: number;
  readonly revokedCount: number;
  readonly nextUpdate: Date;
}

/** Saves `index` with the next CRL number, then the CRL itself (index first: numbers never repeat). */
export async function publishCrl(
  ctx: CaContext,
  authority: Authority,
  index: IssuedIndex,
  days: number = DEFAULT_CRL_DAYS,
): Promise<PublishedCrl> {
  const files = caFiles(ctx.caDir);
  const crlNumber = index.crlNumber + 1;
  await writeIndex(ctx.fs, files.index, { ...index, crlNumber });
  const crl = await buildCrl({
    authority,
    certificates: index.certificates,
    crlNumber,
    now: ctx.clock(),
    days,
  });
  await ctx.fs.writeAtomic(files.crl, crl.pem, PUBLIC_FILE_MODE);
  const revokedCount = index.certificates.filter((c) => c.revokedAt !== undefined).length;
  return { path: files.crl, crlNumber, revokedCount, nextUpdate: crl.nextUpdate };
}

/** `agent ca update-crl`: re-sign the CRL with a fresh validity period. */
export async function updateCrl(ctx: CaContext, days: number = DEFAULT_CRL_DAYS): Promise<PublishedCrl> {
  const files = caFiles(ctx.caDir);
  const authority = await loadAuthority(ctx.fs, files);
  return await publishCrl(ctx, authority, await readIndex(ctx.fs, files.index), days);
}
