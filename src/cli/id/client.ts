/**
 * Getting the token to the docker client: `set` makes it the default (HttpHeaders in config.json), `exec`
 * runs one command with it through a throw-away config directory, leaving the user's config untouched.
 */
import { AgentError } from "../../errors.ts";
import { decodeStack } from "../../macaroon/index.ts";
import { joinPath } from "../../store/path.ts";
import type { CliContext, ExitCode } from "../context.ts";
import { bytesToHex } from "@noble/hashes/utils.js";
import { type IdArgs, note } from "./common.ts";
import { dockerConfigDir, readClientConfig, writeClientConfig } from "../docker-config.ts";
import { withMacaroonHeader, writeTemporaryConfig } from "./docker-config.ts";

/** A token must at least decode before it is handed to the docker client. */
function checkedToken(token: unknown): string {
  if (typeof token !== "string" || token.trim() === "") {
    throw new AgentError("ERR_USAGE", "give the token (agent id create prints one)");
  }
  const text = token.trim();
  decodeStack(text);
  if (/[\r\n]/.test(text)) {
    throw new AgentError("ERR_MACAROON_FORMAT", "malformed macaroon", "line break in token");
  }
  return text;
}

export async function set(ctx: CliContext, args: IdArgs, token: unknown): Promise<ExitCode> {
  const clear = args.flag("clear");
  if (clear === (token !== undefined)) {
    throw new AgentError("ERR_USAGE", "give either a TOKEN or --clear");
  }
  const dir = dockerConfigDir(ctx.env);
  const config = await readClientConfig(ctx.fs, dir);
  const path = await writeClientConfig(
    ctx.fs,
    dir,
    withMacaroonHeader(config, clear ? undefined : checkedToken(token)),
  );
  note(
    ctx,
    clear
      ? `Removed the X-Macaroon header from ${path}.`
      : `Wrote the X-Macaroon header into ${path}: every docker command now sends this token.`,
  );
  return 0;
}

export async function exec(ctx: CliContext, token: unknown, words: unknown): Promise<ExitCode> {
  const text = checkedToken(token);
  const command = Array.isArray(words) ? words.map(String) : [];
  const [program, ...programArgs] = command;
  if (program === undefined) {
    throw new AgentError(
      "ERR_USAGE",
      "give the command to run after the token, e.g. agent id exec TOKEN docker ps",
    );
  }
  const source = dockerConfigDir(ctx.env);
  const temp = joinPath(ctx.env["TMPDIR"] || "/tmp", `agent-id-exec-${bytesToHex(ctx.random(8))}`);
  try {
    await writeTemporaryConfig(ctx.fs, source, temp, text);
    // TLS material is looked up in the config directory unless DOCKER_CERT_PATH says otherwise.
    const env: Record<string, string> = { DOCKER_CONFIG: temp };
    if (!ctx.env["DOCKER_CERT_PATH"]) env["DOCKER_CERT_PATH"] = source;
    try {
      return (await ctx.platform.spawn(program, programArgs, env)).exitCode;
    } catch {
      ctx.output.err(`agent: cannot run ${JSON.stringify(program)}\n`);
      return 127;
    }
  } finally {
    // In-process, not `rm -rf`: a second process would cost every `agent id exec` a few milliseconds.
    await ctx.fs.removeTree(temp).catch(() => undefined);
  }
}
