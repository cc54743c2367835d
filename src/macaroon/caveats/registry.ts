/**
 * A registry of caveat kinds: each name maps to one parser that validates and normalises the value. The same
 * parser runs when a token is minted and when it is verified, and unknown names fail closed.
 */
import { AgentError } from "../../errors.ts";
import { quotePredicate } from "../failures.ts";
import { parseCaveat } from "./grammar.ts";

export interface CaveatKind<C> {
  readonly name: string;
  /** Parses the value text; throws AgentError ERR_MACAROON_CAVEAT when it is not valid. */
  parse(value: string): C;
}

export class CaveatRegistry<C> {
  readonly #kinds = new Map<string, CaveatKind<C>>();

  constructor(kinds: readonly CaveatKind<C>[] = []) {
    for (const kind of kinds) this.register(kind);
  }

  /** Registering a name twice is a programming error. */
  register(kind: CaveatKind<C>): this {
    if (this.#kinds.has(kind.name)) {
      throw new AgentError("ERR_INTERNAL", "internal error", `caveat kind registered twice: ${kind.name}`);
    }
    this.#kinds.set(kind.name, kind);
    return this;
  }

  has(name: string): boolean {
    return this.#kinds.has(name);
  }

  get names(): string[] {
    return [...this.#kinds.keys()];
  }

  /** Parses a value for a named kind (the CLI's `--op read` path). */
  parseValue(name: string, value: string): C {
    const kind = this.#kinds.get(name);
    if (kind === undefined) {
      throw new AgentError("ERR_MACAROON_CAVEAT", `unknown caveat ${quotePredicate(name)}`);
    }
    return kind.parse(value);
  }

  /** Parses full caveat text `name = value`. */
  parse(text: string): C {
    const { name, value } = parseCaveat(text);
    return this.parseValue(name, value);
  }
}
