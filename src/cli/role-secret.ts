/**
 * The secret API roles' credentials are derived from (api/role-credential.ts): 32 random bytes, base64url, in
 * `STATE_DIR/api-roles.key` (0600), created by the first `serve --listen` that needs it. A file that is not
 * one is never overwritten (the credentials already handed out depend on it): roles are then unavailable,
 * and the reason is logged.
 */
import { base64Decode, base64UrlEncode } from "../macaroon/index.ts";
import type { FileSystem, RandomBytes } from "../ports.ts";
import { SECRET_FILE_MODE } from "../store/layout.ts";

export type RoleSecret = { readonly ok: true; readonly secret: Uint8Array; readonly created: boolean } | {
  readonly ok: false;
  readonly problem: string;
};

export async function loadRoleSecret(fs: FileSystem, random: RandomBytes, path: string): Promise<RoleSecret> {
  if ((await fs.stat(path)) === undefined) {
    const secret = random(32);
    try {
      await fs.writeAtomic(path, `${base64UrlEncode(secret)}\n`, SECRET_FILE_MODE);
    } catch {
      return { ok: false, problem: `cannot write ${path}` };
    }
    return { ok: true, secret, created: true };
  }
  let text: string;
  try {
    text = (await fs.readText(path)).trim();
  } catch {
    return { ok: false, problem: `cannot read ${path}` };
  }
  const secret = /^[A-Za-z0-9_-]{43}$/.test(text)
    ? base64Decode(text.replaceAll("-", "+").replaceAll("_", "/") + "=")
    : undefined;
  if (secret === undefined || secret.length !== 32) {
    return {
      ok: false,
      problem: `${path} is not a role secret (32 bytes, base64url): fix it or move it away`,
    };
  }
  return { ok: true, secret, created: false };
}
