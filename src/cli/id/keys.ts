/** The root key's life: init, show, rotate, retire, keys, revoke, destroy. */
import { AgentError } from "../../errors.ts";
import {
  base64UrlEncode,
  currentKey,
  decodeStack,
  encodeMacaroon,
  initKeyring,
  isValidNonce,
  type Keyring,
  loadKeyring,
  loadRevocations,
  type MacaroonFormat,
  parseIdentifier,
  retire,
  revoke,
  rotate,
  saveKeyring,
  saveRevocations,
} from "../../macaroon/index.ts";
import type { CliContext, ExitCode } from "../context.ts";
import { base64UrlDecode } from "./base64url.ts";
import { IdArgs, layoutOf, note, printJson, printToken, readSecret, requireKeyring } from "./common.ts";
import { dockerConfigDir, readClientConfig } from "../docker-config.ts";
import { macaroonHeaderOf } from "./docker-config.ts";
import { rootMacaroon, verifyRootMacaroon } from "./root-macaroon.ts";

const FORMATS: readonly MacaroonFormat[] = ["v2", "v2j", "v1", "v1j"];

export function parseFormat(value: string | undefined, fallback: MacaroonFormat = "v2"): MacaroonFormat {
  if (value === undefined) return fallback;
  if (!(FORMATS as readonly string[]).includes(value)) {
    throw new AgentError("ERR_USAGE", `--format must be one of ${FORMATS.join(", ")}`);
  }
  return value as MacaroonFormat;
}

function parseSalt(text: string | undefined): Uint8Array | undefined {
  if (text === undefined) return undefined;
  const salt = base64UrlDecode(text);
  if (salt === undefined || salt.length !== 16) {
    throw new AgentError("ERR_USAGE", "--salt must be the 16-byte base64url salt `agent id init` printed");
  }
  return salt;
}

function rootToken(keyring: Keyring, format: MacaroonFormat = "v2"): string {
  return encodeMacaroon(rootMacaroon(currentKey(keyring)), format);
}

export async function init(ctx: CliContext, args: IdArgs): Promise<ExitCode> {
  const layout = layoutOf(ctx, args);
  const secret = await readSecret(ctx, args);
  const salt = parseSalt(args.value("salt"));
  if (salt !== undefined && secret === undefined) throw new AgentError("ERR_USAGE", "--salt needs --secret");
  if ((await loadKeyring(ctx.fs, layout)) !== undefined) {
    throw new AgentError(
      "ERR_STATE_EXISTS",
      `macaroons are already initialised in ${layout.root}: \`agent id rotate\` adds a key, \`agent id destroy\` turns them off`,
    );
  }
  const keyring = await initKeyring(secret, ctx.random, ctx.clock, salt === undefined ? {} : { salt });
  await saveKeyring(ctx.fs, layout, keyring, "create");
  const key = currentKey(keyring);
  const token = rootToken(keyring);
  const saltText = key.kdf === undefined ? undefined : base64UrlEncode(key.kdf.salt);
  if (args.flag("json")) {
    printJson(ctx, { keyId: key.id, salt: saltText ?? null, keyFile: layout.macaroonKeys, token });
    return 0;
  }
  note(
    ctx,
    [
      `Macaroons are on: root key ${key.id} in ${layout.macaroonKeys} (mode 0600).`,
      key.kdf === undefined
        ? "The key is random; a fleet shares it (published below, sealed), else copy keys.json to other hosts."
        : `The key was derived from the passphrase (scrypt N=2^${key.kdf.logN}, r=${key.kdf.r}, p=${key.kdf.p}) with salt ${saltText};\n` +
          `another host gets the same key with \`agent id init --secret ... --salt=${saltText}\`.`,
      "A running `agent serve` now refuses every request without a valid macaroon (within a second).",
      "The root macaroon follows. It allows everything the policy allows: keep it secret, mint narrower",
      "tokens with `agent id create`, and make one the docker client default with `agent id set TOKEN`.",
    ].join("\n"),
  );
  printToken(ctx, token);
  return 0;
}

export async function show(ctx: CliContext, args: IdArgs): Promise<ExitCode> {
  const keyring = await requireKeyring(ctx, layoutOf(ctx, args));
  note(ctx, `Root macaroon of the current key ${keyring.current} (allows everything the policy allows):`);
  printToken(ctx, rootToken(keyring, parseFormat(args.value("format"))));
  return 0;
}

export async function rotateKey(ctx: CliContext, args: IdArgs): Promise<ExitCode> {
  const layout = layoutOf(ctx, args);
  const keyring = await requireKeyring(ctx, layout);
  const next = rotate(keyring, ctx.random, ctx.clock);
  await saveKeyring(ctx.fs, layout, next);
  const token = rootToken(next);
  if (args.flag("json")) {
    printJson(ctx, { keyId: next.current, previous: keyring.current, token });
    return 0;
  }
  note(
    ctx,
    `New current key ${next.current}: new tokens are signed with it. Tokens of key ${keyring.current} keep working ` +
      `until \`agent id retire ${keyring.current}\`.\nThe new root macaroon follows.`,
  );
  printToken(ctx, token);
  return 0;
}

export async function retireKey(ctx: CliContext, args: IdArgs, keyId: unknown): Promise<ExitCode> {
  const layout = layoutOf(ctx, args);
  const keyring = await requireKeyring(ctx, layout);
  await saveKeyring(ctx.fs, layout, retire(keyring, String(keyId), ctx.clock));
  note(
    ctx,
    `Key ${String(keyId)} is retired: the plugin refuses every token signed with it (within a second).`,
  );
  return 0;
}

export async function listKeys(ctx: CliContext, args: IdArgs): Promise<ExitCode> {
  const keyring = await requireKeyring(ctx, layoutOf(ctx, args));
  const rows = keyring.keys.map((k) => ({
    id: k.id,
    status: k.retiredAt !== undefined ? "retired" : k.id === keyring.current ? "current" : "active",
    createdAt: k.createdAt,
    retiredAt: k.retiredAt ?? null,
    derived: k.kdf !== undefined,
  }));
  if (args.flag("json")) {
    printJson(ctx, rows);
    return 0;
  }
  ctx.output.out("KEY ID    STATUS   CREATED                   FROM\n");
  for (const r of rows) {
    ctx.output.out(
      `${r.id.padEnd(9)} ${r.status.padEnd(8)} ${r.createdAt.padEnd(25)} ${
        r.derived ? "passphrase" : "random"
      }\n`,
    );
  }
  return 0;
}

/** A nonce as given, or the nonce in a token's identifier. */
function nonceOf(target: string): string {
  if (isValidNonce(target)) return target;
  let root;
  try {
    [root] = decodeStack(target);
  } catch {
    throw new AgentError(
      "ERR_USAGE",
      "give a token or its nonce (22 base64url characters, see `agent id inspect`)",
    );
  }
  const { nonce } = parseIdentifier(root.identifier);
  if (nonce === undefined) {
    throw new AgentError(
      "ERR_MACAROON_KEY",
      "macaroon was not issued by this agent, so it has no nonce to revoke",
    );
  }
  return nonce;
}

export async function revokeToken(ctx: CliContext, args: IdArgs, target: unknown): Promise<ExitCode> {
  const layout = layoutOf(ctx, args);
  await requireKeyring(ctx, layout);
  const nonce = nonceOf(String(target));
  const before = await loadRevocations(ctx.fs, layout);
  const after = revoke(before, nonce, ctx.clock);
  if (after !== before) await saveRevocations(ctx.fs, layout, after);
  note(
    ctx,
    after === before
      ? `Nonce ${nonce} was already revoked.`
      : `Revoked nonce ${nonce}: the plugin refuses that token and every token attenuated from it (within a second).`,
  );
  return 0;
}

export async function destroy(ctx: CliContext, args: IdArgs): Promise<ExitCode> {
  const layout = layoutOf(ctx, args);
  const keyring = await requireKeyring(ctx, layout);
  let token = args.value("id");
  if (token === undefined) token = macaroonHeaderOf(await readClientConfig(ctx.fs, dockerConfigDir(ctx.env)));
  if (token === undefined) {
    throw new AgentError(
      "ERR_MACAROON_MISSING",
      "destroy needs the root macaroon: pass --id TOKEN, or make it the docker client default (agent id set)",
    );
  }
  verifyRootMacaroon(token, keyring, await loadRevocations(ctx.fs, layout));
  await ctx.fs.remove(layout.macaroonKeys);
  await ctx.fs.remove(layout.macaroonRevocations);
  note(
    ctx,
    "Macaroons are off: the keys are deleted and requests no longer need a macaroon (within a second).\n" +
      "Every token ever minted here is now worthless. `agent id set --clear` removes the header from the docker client.",
  );
  return 0;
}
