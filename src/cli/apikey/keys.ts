/** `agent apikey create|list|revoke`: the API keys of one state directory (src/apikey/). */
import {
  API_KEY_PREFIX,
  type ApiKeyRecord,
  apiKeyStatus,
  createApiKey,
  findApiKey,
  isWellFormedApiKey,
  loadApiKeys,
  loadLastUsed,
  mergeLastUsed,
  revokeApiKey,
  saveApiKeys,
} from "../../apikey/index.ts";
import { validateUserName } from "../../ca/names.ts";
import { AgentError, isAgentError } from "../../errors.ts";
import type { CliContext, ExitCode } from "../context.ts";
import { type IdArgs, layoutOf, note, printJson, printToken } from "../id/common.ts";
import { ROLE_USER_PREFIX } from "../../api/role-credential.ts";
import { parseDuration } from "./duration.ts";

/** A name that starts with agt_ and is this long is an API key (perhaps mistyped or cut short). */
const KEY_LIKE_USER_LENGTH = 40;

/** Whether text given as a user name is an API key, or nearly one: it must not be printed back. */
export function looksLikeApiKey(value: unknown): boolean {
  const text = String(value);
  return isWellFormedApiKey(text) || (text.startsWith(API_KEY_PREFIX) && text.length >= KEY_LIKE_USER_LENGTH);
}

/** USER of `agent apikey create` and `set`: a certificate user name that is neither a key nor a role's. */
export function userOf(value: unknown): string {
  // A key pasted where the user goes would be printed back as a user name: refuse it unseen.
  if (looksLikeApiKey(value)) {
    throw new AgentError("ERR_USAGE", "give the user name first: this is an API key, not a user name");
  }
  if (String(value).startsWith(ROLE_USER_PREFIX)) {
    throw new AgentError(
      "ERR_USAGE",
      `user names starting with ${ROLE_USER_PREFIX} are API roles' service principals: choose another name`,
    );
  }
  try {
    return validateUserName(String(value ?? ""));
  } catch (err) {
    if (!isAgentError(err)) throw err;
    throw new AgentError("ERR_USAGE", err.message.replace(/^invalid name/, "invalid user name"));
  }
}

/** RFC 3339 to the second, for tables. */
function shortTime(iso: string | undefined): string | undefined {
  return iso?.replace(/\.\d+Z$/, "Z");
}

function describeKey(record: ApiKeyRecord): string {
  const name = record.name === "" ? "" : ` (name ${JSON.stringify(record.name)})`;
  return `API key ${record.id} (${record.prefix}) of ${record.user}${name}`;
}

export async function create(ctx: CliContext, args: IdArgs, userArg: unknown): Promise<ExitCode> {
  const user = userOf(userArg);
  const expires = args.value("expires");
  const seconds = expires === undefined ? undefined : parseDuration(expires);
  const layout = layoutOf(ctx, args);
  const name = args.value("name");
  const set = mergeLastUsed(await loadApiKeys(ctx.fs, layout), await loadLastUsed(ctx.fs, layout));
  const now = ctx.clock();
  const expiresAt = seconds === undefined ? undefined : new Date(now.getTime() + seconds * 1000);
  const created = createApiKey(
    set,
    { user, ...(name === undefined ? {} : { name }), ...(expiresAt === undefined ? {} : { expiresAt }) },
    ctx.random,
    () => now,
  );
  await saveApiKeys(ctx.fs, layout, created.set);
  const { record } = created;
  note(
    ctx,
    [
      `Created ${describeKey(record)}, ${
        record.expiresAt === undefined ? "never expiring" : `expiring ${record.expiresAt}`
      }.`,
      "The key is on stdout, shown this once: the agent keeps only its SHA-256 digest. A client sends it",
      `as Basic auth (${user}:KEY); with KEY=$(agent apikey create ${user} ...), give the client:`,
      `  export AGENT_USER=${user}`,
      `  export AGENT_APIKEY="$KEY"`,
      `Revoke it with \`agent apikey revoke ${record.id}\`.`,
    ].join("\n"),
  );
  printToken(ctx, created.key);
  return 0;
}

export async function list(ctx: CliContext, args: IdArgs): Promise<ExitCode> {
  const layout = layoutOf(ctx, args);
  const set = await loadApiKeys(ctx.fs, layout);
  const now = ctx.clock();
  // Never the digest: harmless, but nobody needs it, and it looks like a secret.
  const rows = set.keys.map((k) => ({
    id: k.id,
    prefix: k.prefix,
    user: k.user,
    name: k.name,
    status: apiKeyStatus(k, now),
    createdAt: k.createdAt,
    expiresAt: k.expiresAt ?? null,
    revokedAt: k.revokedAt ?? null,
    lastUsedAt: k.lastUsedAt ?? null,
  }));
  if (args.flag("json")) {
    printJson(ctx, rows);
    return 0;
  }
  if (rows.length === 0) {
    note(ctx, `No API keys in ${layout.root} (\`agent apikey create USER\` makes one).`);
    return 0;
  }
  const table = [
    ["ID", "PREFIX", "USER", "NAME", "CREATED", "EXPIRES", "STATUS"],
    ...rows.map((r) => [
      r.id,
      r.prefix,
      r.user,
      r.name === "" ? "-" : r.name,
      shortTime(r.createdAt)!,
      shortTime(r.expiresAt ?? undefined) ?? "never",
      r.status,
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) {
    ctx.output.out(
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ") + "\n",
    );
  }
  return 0;
}

export async function revoke(ctx: CliContext, args: IdArgs, target: unknown): Promise<ExitCode> {
  const layout = layoutOf(ctx, args);
  const set = await loadApiKeys(ctx.fs, layout);
  const found = findApiKey(set, String(target ?? ""));
  const revoked = revokeApiKey(set, found.id, ctx.clock);
  if (!revoked.already) await saveApiKeys(ctx.fs, layout, revoked.set);
  note(
    ctx,
    revoked.already
      ? `${describeKey(found)} was already revoked (${found.revokedAt}).`
      : `Revoked ${describeKey(found)}: it is refused from now on.`,
  );
  return 0;
}
