/** First-party caveat text: `name = value`, name in [a-z][a-z0-9_]*, spaces around "=" optional. */
import { AgentError } from "../../errors.ts";
import { quotePredicate } from "../failures.ts";

export interface CaveatText {
  readonly name: string;
  readonly value: string;
}

const MAX_TEXT = 1024;
const MAX_NAME = 32;
const SPACE = 0x20;
const EQUALS = 0x3d;

/**
 * Splits caveat text; throws ERR_MACAROON_CAVEAT when it is not `name = value` in printable ASCII. The grammar
 * is /^([a-z][a-z0-9_]{0,31}) *= *([\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)$/, read here in one pass.
 */
export function parseCaveat(text: string): CaveatText {
  const n = text.length;
  if (n > MAX_TEXT) throw notCaveat(text);
  let i = 0;
  let c = text.charCodeAt(0);
  if (!(c >= 0x61 && c <= 0x7a)) throw notCaveat(text); // also for the empty text (NaN)
  do {
    c = text.charCodeAt(++i);
  } while ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f);
  const nameEnd = i;
  if (nameEnd > MAX_NAME) throw notCaveat(text);
  while (c === SPACE) c = text.charCodeAt(++i);
  if (c !== EQUALS) throw notCaveat(text);
  do {
    c = text.charCodeAt(++i);
  } while (c === SPACE);
  const valueStart = i;
  // The value: printable ASCII, not starting or ending with a space (the spaces before it are the separator's).
  if (valueStart === n || text.charCodeAt(n - 1) === SPACE) throw notCaveat(text);
  for (; i < n; i++) {
    c = text.charCodeAt(i);
    if (c < SPACE || c > 0x7e) throw notCaveat(text);
  }
  return { name: text.slice(0, nameEnd), value: text.slice(valueStart) };
}

function notCaveat(text: string): AgentError {
  return new AgentError(
    "ERR_MACAROON_CAVEAT",
    `caveat ${quotePredicate(text)} is not of the form "name = value"`,
  );
}

export function formatCaveat(name: string, value: string): string {
  return `${name} = ${value}`;
}
