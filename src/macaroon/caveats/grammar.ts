/** First-party caveat text: `name = value`, name in [a-z][a-z0-9_]*, spaces around "=" optional. */
import { AgentError } from "../../errors.ts";
import { quotePredicate } from "../failures.ts";

export interface CaveatText {
  readonly name: string;
  readonly value: string;
}

const CAVEAT = /^([a-z][a-z0-9_]{0,31}) *= *([\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)$/;

/** Splits caveat text; throws ERR_MACAROON_CAVEAT when it is not `name = value` in printable ASCII. */
export function parseCaveat(text: string): CaveatText {
  const match = text.length <= 1024 ? CAVEAT.exec(text) : null;
  if (match === null) {
    throw new AgentError(
      "ERR_MACAROON_CAVEAT",
      `caveat ${quotePredicate(text)} is not of the form "name = value"`,
    );
  }
  return { name: match[1]!, value: match[2]! };
}

export function formatCaveat(name: string, value: string): string {
  return `${name} = ${value}`;
}
