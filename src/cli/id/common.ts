/** What the id commands share: the parsed command line, the state directory, the keyring, secrets, output. */
import { AgentError } from "../../errors.ts";
import { type Keyring, loadKeyring, MIN_PASSPHRASE_LENGTH } from "../../macaroon/index.ts";
import { type StateLayout, stateLayout } from "../../store/layout.ts";
import { thenConfirm } from "../confirm-applied.ts";
import { type CliContext, type ExitCode, resolveStateDir } from "../context.ts";
import type { StatePiece } from "../../store/state-pieces.ts";

/** One command's parsed options (exact strings: the command line reader converts nothing it was not told to). */
export class IdArgs {
  readonly #parsed: Record<string, unknown>;

  constructor(parsed: Record<string, unknown>) {
    this.#parsed = parsed;
  }

  value(name: string): string | undefined {
    const found = this.#parsed[camelCase(name)];
    return typeof found === "string" ? found : undefined;
  }

  /** Every value of a repeatable option, in command-line order. */
  values(name: string): string[] {
    const found = this.#parsed[camelCase(name)];
    return Array.isArray(found) ? found.map(String) : typeof found === "string" ? [found] : [];
  }

  flag(name: string): boolean {
    return this.#parsed[name] === true;
  }
}

function camelCase(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * The action of a command that changes `pieces` of its state directory (`agent id`, `agent apikey`): runs
 * it with the parsed options, then confirms that the running agent applied the change.
 */
export function changingAction(ctx: CliContext) {
  return (
    options: Record<string, unknown>,
    pieces: readonly StatePiece[],
    run: (ctx: CliContext, args: IdArgs) => Promise<ExitCode>,
  ): Promise<ExitCode> => {
    const args = new IdArgs(options);
    return thenConfirm(ctx, layoutOf(ctx, args).root, pieces, () => run(ctx, args));
  };
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
