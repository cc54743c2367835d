/** What the id commands share: the parsed command line, the state directory, the keyring, secrets, output. */
import { AgentError } from "../../errors.ts";
import { type Keyring, loadKeyring, MIN_PASSPHRASE_LENGTH } from "../../macaroon/index.ts";
import { type StateLayout, stateLayout } from "../../store/layout.ts";
import { type CliContext, resolveStateDir } from "../context.ts";
import { rawValue, rawValues } from "./raw-options.ts";

/** One command's input: the raw argv (exact strings) and what cac parsed (flags, positional words). */
export class IdArgs {
  readonly #raw: readonly string[];
  readonly #parsed: Record<string, unknown>;

  constructor(raw: readonly string[], parsed: Record<string, unknown>) {
    this.#raw = raw;
    this.#parsed = parsed;
  }

  value(name: string): string | undefined {
    return rawValue(this.#raw, this.#parsed, name);
  }

  values(name: string): string[] {
    return rawValues(this.#raw, this.#parsed, name);
  }

  flag(name: string): boolean {
    return this.#parsed[name] === true;
  }

  /** The words after `--` (agent id exec TOKEN -- docker ps). */
  get rest(): readonly string[] {
    const rest = this.#parsed["--"];
    return Array.isArray(rest) ? rest.map(String) : [];
  }
}

export function layoutOf(ctx: CliContext, args: IdArgs): StateLayout {
  return stateLayout(resolveStateDir(args.value("state-dir"), ctx.env));
}

export async function requireKeyring(ctx: CliContext, layout: StateLayout): Promise<Keyring> {
  const keyring = await loadKeyring(ctx.fs, layout);
  if (keyring === undefined) {
    throw new AgentError(
      "ERR_MACAROON_NOT_INITIALISED",
      `macaroons are not initialised in ${layout.root}: run \`agent id init\` first`,
    );
  }
  return keyring;
}

/** --secret S or --secret-file FILE (one line; a trailing newline is dropped). */
export async function readSecret(ctx: CliContext, args: IdArgs): Promise<string | undefined> {
  const inline = args.value("secret");
  const file = args.value("secret-file");
  if (inline !== undefined && file !== undefined) {
    throw new AgentError("ERR_USAGE", "give --secret or --secret-file, not both");
  }
  const secret = file === undefined ? inline : (await ctx.fs.readText(file)).replace(/\r?\n$/, "");
  if (secret !== undefined && secret.length < MIN_PASSPHRASE_LENGTH) {
    throw new AgentError("ERR_USAGE", `the passphrase must be at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
  return secret;
}

/** Tokens go to stdout alone on the last line, so `T=$(agent id create ...)` captures exactly the token. */
export function printToken(ctx: CliContext, token: string): void {
  ctx.output.out(`${token}\n`);
}

export function printJson(ctx: CliContext, value: unknown): void {
  ctx.output.out(JSON.stringify(value, null, 2) + "\n");
}

export function note(ctx: CliContext, text: string): void {
  ctx.output.err(text.endsWith("\n") ? text : `${text}\n`);
}
