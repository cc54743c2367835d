/**
 * The agent's own reading of a command line against a cac command group. cac (through mri) turns values that
 * look like numbers into numbers ("0042" becomes 42, "007" becomes 7), reads `--expires -5` as two options, merges
 * repeats into arrays and camelCases unknown names in its errors. Here every value is the exact string typed,
 * unless its option is declared numeric (option-kinds.ts); an empty value, a repeated single option, a
 * value for a flag and an unknown option are usage errors that name the option as the user wrote it.
 */
import type { CAC, Command } from "cac";
import { AgentError } from "../errors.ts";
import { isPassthrough, optionConfig } from "./option-kinds.ts";

type Option = Command["options"][number];

export interface ParsedCommandLine {
  /** The command named by the first positional word; undefined when none was named. */
  readonly command: Command | undefined;
  readonly args: string[];
  /** camelCased option names (and their aliases), as cac hands them to actions. */
  readonly options: Record<string, unknown>;
  readonly help: boolean;
}

const HELP_SPELLINGS = new Set(["-h", "--help"]);

/** `--no-local-sans`, `-f`, `--follow`: how an option may be written, from its declaration. */
function spellings(option: Option): string[] {
  return option.rawName.split(",").map((part) => part.trim().replace(/\s*[<[].*$/, ""));
}

function usage(message: string): AgentError {
  return new AgentError("ERR_USAGE", message);
}

export function parseCommandLine(cli: CAC, argv: readonly string[], program: string): ParsedCommandLine {
  let command: Command | undefined;
  const args: string[] = [];
  const options: Record<string, unknown> = {};
  let help = false;

  const known = () => [...(command?.options ?? []), ...cli.globalCommand.options];
  const find = (spelled: string) => known().find((o) => spellings(o).includes(spelled));
  const isOptionWord = (word: string) => HELP_SPELLINGS.has(word) || find(word.split("=")[0]!) !== undefined;
  const fixedPositionals = () => command?.args.filter((a) => !a.variadic).length ?? 0;

  const positional = (word: string) => {
    if (command !== undefined) return void args.push(word);
    command = cli.commands.find((c) => c.isMatched(word));
    if (command === undefined) throw usage(`unknown command: ${program} ${word} (see ${program} --help)`);
  };

  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (command !== undefined && isPassthrough(command) && args.length >= fixedPositionals()) {
      const rest = argv.slice(i);
      args.push(...(rest[0] === "--" ? rest.slice(1) : rest));
      break;
    }
    if (word === "--") {
      for (const after of argv.slice(i + 1)) positional(after);
      break;
    }
    if (!word.startsWith("-") || word === "-") {
      positional(word);
      continue;
    }
    const equals = word.indexOf("=");
    const spelled = equals < 0 ? word : word.slice(0, equals);
    const inline = equals < 0 ? undefined : word.slice(equals + 1);
    if (HELP_SPELLINGS.has(spelled)) {
      help = true;
      continue;
    }
    const option = find(spelled);
    if (option === undefined) throw unknownOption(spelled, known(), program, command);
    if (option.isBoolean) {
      if (inline !== undefined) throw usage(`${spelled} takes no value`);
      for (const name of option.names) options[name] = !option.negated;
      continue;
    }
    let value = inline;
    if (value === undefined && i + 1 < argv.length && !isOptionWord(argv[i + 1]!)) value = argv[++i];
    if (value === undefined) {
      if (option.required) {
        throw usage(`${spelled} needs a value (write ${spelled}=VALUE for one starting with -)`);
      }
      for (const name of option.names) options[name] = true; // `[value]` options may stand alone
      continue;
    }
    if (value === "") throw usage(`${spelled} needs a value; it was given an empty one`);
    store(options, option, spelled, convert(option, spelled, value));
  }
  command ??= cli.commands.find((c) => c.isDefaultCommand);
  for (const option of known()) {
    const fallback = option.config.default as unknown;
    if (fallback === undefined) continue;
    for (const name of option.names) if (!(name in options)) options[name] = fallback;
  }
  return { command, args, options, help };
}

function convert(option: Option, spelled: string, value: string): string | number {
  const range = optionConfig(option).integer;
  if (range === undefined) return value;
  const number = /^-?[0-9]+$/.test(value) ? Number(value) : NaN;
  const bounds = range.max === undefined ? `of at least ${range.min}` : `from ${range.min} to ${range.max}`;
  if (
    !Number.isSafeInteger(number) || number < range.min || (range.max !== undefined && number > range.max)
  ) {
    throw usage(`${spelled} must be a whole number ${bounds} (got ${JSON.stringify(value)})`);
  }
  return number;
}

function store(
  options: Record<string, unknown>,
  option: Option,
  spelled: string,
  value: string | number,
): void {
  const repeatable = optionConfig(option).repeatable === true;
  const previous = options[option.name];
  if (previous !== undefined && !repeatable) throw usage(`${spelled} may be given only once`);
  const next = repeatable ? [...(Array.isArray(previous) ? previous : []), value] : value;
  for (const name of option.names) options[name] = next;
}

function unknownOption(spelled: string, known: Option[], program: string, command: Command | undefined) {
  const where = command === undefined ? program : `${program} ${command.name}`.trim();
  // A long word that starts with "-" is more likely a nonce or a token (base64url may start with "-") than an
  // option: it is not echoed (a token is a secret), and the way to pass it is said.
  if (spelled.length >= 20 && !spelled.startsWith("--")) {
    return usage(
      `an argument starts with "-" (${spelled.length} characters, not shown): a nonce or token that starts with "-" goes after --, as in \`${where} -- -AbC...\``,
    );
  }
  const candidates = known.flatMap(spellings).filter((s) => s.startsWith("--"));
  const near = candidates.find((c) => editDistance(c, spelled) <= 2);
  const hint = near === undefined ? "" : ` (did you mean ${near}?)`;
  return usage(`unknown option ${spelled}${hint}; \`${where} --help\` lists the options`);
}

/** Levenshtein distance, for "did you mean"; option names are short. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}
