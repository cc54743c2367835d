/**
 * `agent apikey set USER`: makes an API key the docker client's default (HttpHeaders.Authorization in
 * config.json, Basic USER:KEY), for the agent's gateway. The key never comes from the command line (ps and
 * shell history would show it): AGENT_APIKEY, else the last non-empty line of stdin, so
 * `agent apikey create alice | agent apikey set alice` works. It is checked offline (prefix, length,
 * checksum) before anything is written, and never printed, nor is the header.
 */
import { apiKeyFormatProblem, describeFormatProblem } from "../../apikey/index.ts";
import { AgentError } from "../../errors.ts";
import { joinPath } from "../../store/path.ts";
import type { CliContext, ExitCode } from "../context.ts";
import {
  CONFIG_FILE,
  dockerCertDir,
  dockerConfigDir,
  readClientConfig,
  writeClientConfig,
} from "../docker-config.ts";
import { type IdArgs, note } from "../id/common.ts";
import {
  basicAuthorization,
  CA_FILE,
  planCaFile,
  readCaFile,
  withAuthorizationHeader,
  writeCaFile,
} from "./docker-config.ts";
import { looksLikeApiKey, userOf } from "./keys.ts";

export const APIKEY_ENV = "AGENT_APIKEY";
/** A key is one short line; stdin beyond this is the wrong input (it is not read further). */
const MAX_STDIN_BYTES = 64 * 1024;

/** The last non-empty line of stdin, trimmed (`agent apikey create` prints the key as its last line). */
async function keyFromStdin(ctx: CliContext): Promise<string | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of ctx.platform.readStdin()) {
    size += chunk.length;
    if (size > MAX_STDIN_BYTES) {
      throw new AgentError(
        "ERR_USAGE",
        `stdin holds more than ${MAX_STDIN_BYTES / 1024} KiB: pipe in the API key alone`,
      );
    }
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  const lines = new TextDecoder().decode(bytes).split(/\r?\n/).map((line) => line.trim());
  return lines.filter((line) => line !== "").at(-1);
}

/** The key from AGENT_APIKEY or stdin, checked; a problem is named, the text never shown. */
async function checkedKey(ctx: CliContext, user: string): Promise<string> {
  const fromEnv = ctx.env[APIKEY_ENV]?.trim();
  const source = fromEnv !== undefined && fromEnv !== "" ? APIKEY_ENV : "stdin";
  const key = source === APIKEY_ENV ? fromEnv : await keyFromStdin(ctx);
  if (key === undefined) {
    throw new AgentError(
      "ERR_USAGE",
      `no API key on stdin: pipe it in (agent apikey create ${user} | agent apikey set ${user}) or set ${APIKEY_ENV}`,
    );
  }
  const problem = apiKeyFormatProblem(key);
  if (problem !== undefined) {
    throw new AgentError("ERR_USAGE", `the key from ${source} is ${describeFormatProblem(problem)}`);
  }
  return key;
}

async function clear(ctx: CliContext): Promise<ExitCode> {
  const dir = dockerConfigDir(ctx.env);
  const config = await readClientConfig(ctx.fs, dir);
  const cleared = withAuthorizationHeader(config, undefined);
  if (JSON.stringify(cleared) === JSON.stringify(config)) {
    note(ctx, `No Authorization header in ${joinPath(dir, CONFIG_FILE)}: nothing to remove.`);
    return 0;
  }
  note(ctx, `Removed the Authorization header from ${await writeClientConfig(ctx.fs, dir, cleared)}.`);
  return 0;
}

export async function set(ctx: CliContext, args: IdArgs, userArg: unknown): Promise<ExitCode> {
  const caFile = args.value("ca");
  if (args.flag("clear")) {
    if (userArg !== undefined || caFile !== undefined || args.flag("force")) {
      throw new AgentError(
        "ERR_USAGE",
        "--clear takes no USER, --ca or --force: write agent apikey set --clear",
      );
    }
    return clear(ctx);
  }
  if (userArg === undefined) throw new AgentError("ERR_USAGE", "give the USER the API key belongs to");
  if (args.flag("force") && caFile === undefined) {
    throw new AgentError("ERR_USAGE", "--force only replaces a ca.pem: give it with --ca FILE");
  }
  if (looksLikeApiKey(userArg)) {
    throw new AgentError(
      "ERR_USAGE",
      `this is an API key, not a user name: never put the key on the command line (ps and shell history show it); give the USER, and the key on stdin or in ${APIKEY_ENV}`,
    );
  }
  const user = userOf(userArg);
  const key = await checkedKey(ctx, user);

  // Everything is checked before anything is written.
  const dir = dockerConfigDir(ctx.env);
  const certDir = dockerCertDir(ctx.env);
  const config = withAuthorizationHeader(await readClientConfig(ctx.fs, dir), basicAuthorization(user, key));
  const ca = caFile === undefined ? undefined : await readCaFile(ctx.fs, caFile);
  const caPlan = ca === undefined ? undefined : await planCaFile(ctx.fs, certDir, ca, args.flag("force"));

  const lines: string[] = [];
  if (ca !== undefined && caPlan === "write") {
    lines.push(`Copied the CA certificate (${ca.subject}) to ${await writeCaFile(ctx.fs, certDir, ca)}.`);
  } else if (ca !== undefined) {
    lines.push(`${joinPath(certDir, CA_FILE)} already holds this CA certificate (${ca.subject}).`);
  }
  const path = await writeClientConfig(ctx.fs, dir, config);
  lines.push(
    `Wrote the Authorization header (Basic, user ${user}) into ${path}: every docker command now sends`,
    "this API key, to whichever daemon it talks to (`agent apikey set --clear` removes it).",
  );
  const caPath = joinPath(certDir, CA_FILE);
  if ((await ctx.fs.stat(caPath)) === undefined) {
    lines.push(
      `There is no ${caPath}, so docker cannot verify the agent: run this again with`,
      "--ca FILE, FILE being the agent's CA certificate (<state-dir>/ca/cluster.crt on its host).",
    );
  }
  lines.push(
    "Then point docker at the agent's gateway (`agent serve --listen ADDR:PORT --gateway`):",
    "  export DOCKER_HOST=tcp://HOST:PORT DOCKER_TLS_VERIFY=1",
    "  docker version",
    `docker verifies the agent with ${caPath} and sends the key.`,
  );
  note(ctx, lines.join("\n"));
  return 0;
}
